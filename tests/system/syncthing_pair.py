"""Two real Syncthing (Debian 1.19) instances on loopback sharing one folder: for system tests and benchmarks.

    with SyncthingPair(tmp_path, folder_id="uni-wizard") as pair:
        alpha, beta = pair.alpha, pair.beta        # .url, .api_key, .data (the shared folder), .device_id
        (alpha.data / "x").write_text("hi")
        pair.stop(alpha); pair.start(alpha)         # a stopped instance keeps its home and ports

Based on ``reference/ops/syncthing_pair.py`` and its gotchas:
* every instance has a private home, GUI and BEP on 127.0.0.1 ports from the kernel, and announce,
  relays, NAT, usage and crash reporting off, set in ``config.xml`` before the first start;
* ``STMONITORED=1`` runs one process (no monitor parent), so the PID started is the PID stopped;
* only alpha ever dials (beta knows alpha as ``dynamic``): simultaneous dials stall 20 s;
* the folder has the file-system watcher on, with the given delay (default 1 s) and rescan interval.
Every process is started here and stopped here, by PID (REST shutdown, then terminate, then kill).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = ["SyncthingNode", "SyncthingPair", "syncthing_binary"]

START_TIMEOUT = 60.0


def syncthing_binary() -> str | None:
    return shutil.which("syncthing")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SyncthingNode:
    name: str
    home: Path
    data: Path
    gui: int
    bep: int
    api_key: str
    device_id: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gui}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        response = httpx.request(
            method, self.url + path, json=body, headers={"X-API-Key": self.api_key}, timeout=timeout
        )
        response.raise_for_status()
        return response.json() if response.content.strip() else None


def wait_until(check: Callable[[], Any], what: str, timeout: float = START_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if value:
                return value
        time.sleep(0.1)
    raise TimeoutError(f"{what} not within {timeout:g} s (last error: {last!r})")


class SyncthingPair:
    """``alpha`` and ``beta``, paired, sharing ``folder_id`` (``<root>/<name>/data``)."""

    def __init__(
        self, root: Path, *, folder_id: str = "uni-wizard", rescan_seconds: int = 3600, watcher_delay_seconds: int = 1
    ) -> None:
        self.root = root
        self.folder_id = folder_id
        self.rescan_seconds = rescan_seconds
        self.watcher_delay_seconds = watcher_delay_seconds
        self.env = dict(os.environ, STNODEFAULTFOLDER="1", STNOUPGRADE="1", STNORESTART="1", STMONITORED="1")
        self.alpha = self._node("alpha")
        self.beta = self._node("beta")

    def _node(self, name: str) -> SyncthingNode:
        home, data = self.root / name / "home", self.root / name / "data"
        data.mkdir(parents=True)
        key = f"key-{name}-{os.urandom(8).hex()}"
        node = SyncthingNode(name, home, data, free_port(), free_port(), key, log=self.root / f"{name}.log")
        return node

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self) -> SyncthingPair:
        try:
            for node in (self.alpha, self.beta):
                self._generate(node)
            for node in (self.alpha, self.beta):
                self.start(node, wait=False)
            for node in (self.alpha, self.beta):
                self._wait_ready(node)
            self._pair()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for node in (self.alpha, self.beta):
            self.stop(node)

    def start(self, node: SyncthingNode, *, wait: bool = True) -> None:
        argv = [
            "syncthing",
            "serve",
            f"--home={node.home}",
            "--no-browser",
            "--no-restart",
            "--no-upgrade",
            "--logflags=3",
            f"--gui-address=http://127.0.0.1:{node.gui}",
            f"--gui-apikey={node.api_key}",
        ]
        with node.log.open("ab") as sink:
            node.proc = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
            )
        if wait:
            self._wait_ready(node)

    def stop(self, node: SyncthingNode) -> None:
        proc = node.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            node.api("POST", "/rest/system/shutdown", timeout=5)
            proc.wait(timeout=15)
        except (httpx.HTTPError, subprocess.TimeoutExpired):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def connected(self) -> bool:
        a = self.alpha.api("GET", "/rest/system/connections")["connections"]
        b = self.beta.api("GET", "/rest/system/connections")["connections"]
        return bool(
            a.get(self.beta.device_id, {}).get("connected") and b.get(self.alpha.device_id, {}).get("connected")
        )

    # -- setup -------------------------------------------------------------------
    def _generate(self, node: SyncthingNode) -> None:
        subprocess.run(
            ["syncthing", "generate", f"--home={node.home}", "--no-default-folder", "--skip-port-probing"],
            check=True,
            capture_output=True,
            env=self.env,
            timeout=60,
        )
        config = node.home / "config.xml"
        tree = ET.parse(config)
        root = tree.getroot()
        gui = root.find("gui")
        assert gui is not None
        _text(gui, "address", f"127.0.0.1:{node.gui}")
        _text(gui, "apikey", node.api_key)
        options = root.find("options")
        assert options is not None
        for old in options.findall("listenAddress"):
            options.remove(old)
        ET.SubElement(options, "listenAddress").text = f"tcp://127.0.0.1:{node.bep}"
        for tag, value in {
            "globalAnnounceEnabled": "false",
            "localAnnounceEnabled": "false",
            "relaysEnabled": "false",
            "natEnabled": "false",
            "startBrowser": "false",
            "urAccepted": "-1",
            "crashReportingEnabled": "false",
            "autoUpgradeIntervalH": "0",
            "reconnectionIntervalS": "1",
            "setLowPriority": "false",
        }.items():
            _text(options, tag, value)
        device = root.find("device")
        assert device is not None
        device.set("name", node.name)
        tree.write(config)
        node.device_id = subprocess.run(
            ["syncthing", "serve", f"--home={node.home}", "--device-id"],
            check=True,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        ).stdout.strip()

    def _wait_ready(self, node: SyncthingNode) -> None:
        def ping() -> bool:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(f"syncthing {node.name} exited:\n{node.log.read_text(errors='replace')[-2000:]}")
            return bool(node.api("GET", "/rest/system/ping", timeout=2) == {"ping": "pong"})

        wait_until(ping, f"syncthing {node.name} answering")

    def folder(self, node: SyncthingNode) -> dict[str, Any]:
        return {
            "id": self.folder_id,
            "label": self.folder_id,
            "path": str(node.data),
            "type": "sendreceive",
            "devices": [{"deviceID": self.alpha.device_id}, {"deviceID": self.beta.device_id}],
            "rescanIntervalS": self.rescan_seconds,
            "fsWatcherEnabled": True,
            "fsWatcherDelayS": self.watcher_delay_seconds,
        }

    def _pair(self) -> None:
        a, b = self.alpha, self.beta
        b.api("POST", "/rest/config/devices", {"deviceID": a.device_id, "name": a.name, "addresses": ["dynamic"]})
        b.api("POST", "/rest/config/folders", self.folder(b))
        a.api(
            "POST",
            "/rest/config/devices",
            {"deviceID": b.device_id, "name": b.name, "addresses": [f"tcp://127.0.0.1:{b.bep}"]},
        )
        wait_until(self.connected, "alpha and beta connected")
        a.api("POST", "/rest/config/folders", self.folder(a))
        # beta keeps knowing alpha as "dynamic" (never dials it): after either is restarted, alpha dials
        # again within reconnectionIntervalS and no two dials can cross (the 20 s stall).

        def idle() -> bool:
            return all(n.api("GET", f"/rest/db/status?folder={self.folder_id}")["state"] == "idle" for n in (a, b))

        wait_until(idle, "the shared folder idle on both")


def _text(parent: ET.Element, tag: str, value: str) -> None:
    element = parent.find(tag)
    if element is None:
        element = ET.SubElement(parent, tag)
    element.text = value
