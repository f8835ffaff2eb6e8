"""Two real Syncthing 1.19 instances on loopback and two real ``uni-wizard serve`` processes (hosts alpha
and beta), each with its own mesh config pointing at its own Syncthing and its copy of the shared folder.

Each sees the other's heartbeat and telemetry; a planted conflict file is reported; with alpha's
Syncthing stopped alpha's telemetry is buffered, and once it is back every event arrives at beta
exactly once (the seqs on both sides compared). Waits are bounded, never timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from syncthing_pair import SyncthingNode, SyncthingPair, free_port, syncthing_binary

from uni_wizard.observe.events import EventLog
from uni_wizard.store import Store

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(syncthing_binary() is None, reason="needs the syncthing binary (Debian package syncthing)"),
]

FOLDER_ID = "uni-wizard"
WAIT = 60.0


@dataclass
class MeshDaemon:
    host: str
    port: int
    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def mesh(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/v1/mesh", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def row(self, host: str) -> dict[str, Any]:
        return next(r for r in self.mesh()["hosts"] if r["host"] == host)

    def emit(self, *keys: str) -> None:
        store = Store(self.data_dir / "uni-wizard.db")
        try:
            log = EventLog(store, self.host)
            for key in keys:
                log.emit_sync("issue.triaged", key, data={"from": self.host})
        finally:
            store.close()

    def seqs(self) -> list[int]:
        store = Store(self.data_dir / "uni-wizard.db")
        try:
            return [e.seq for e in EventLog(store, self.host).tail(0, 10_000)]
        finally:
            store.close()


def until(check: Callable[[], Any], what: str, daemons: list[MeshDaemon], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        for d in daemons:
            if d.proc.poll() is not None:
                pytest.fail(f"daemon {d.host} exited {d.proc.returncode}:\n{d.log.read_text(errors='replace')}")
        try:
            value = check()
        except (httpx.HTTPError, KeyError, StopIteration) as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(0.1)
    logs = "\n".join(f"--- {d.host}\n{d.log.read_text(errors='replace')[-3000:]}" for d in daemons)
    pytest.fail(f"{what}: not within {timeout:g} s (last: {last!r})\n{logs}")


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[tuple[SyncthingPair, MeshDaemon, MeshDaemon]]:
    with SyncthingPair(tmp_path / "st", folder_id=FOLDER_ID) as pair:
        ports = {"alpha": free_port(), "beta": free_port()}
        daemons: list[MeshDaemon] = []
        try:
            for node in (pair.alpha, pair.beta):
                daemons.append(start_daemon(tmp_path, node, ports))
            yield pair, daemons[0], daemons[1]
        finally:
            for daemon in daemons:
                if daemon.proc.poll() is None:
                    daemon.proc.terminate()
                    try:
                        daemon.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        daemon.proc.kill()
                        daemon.proc.wait(timeout=10)


def start_daemon(tmp_path: Path, node: SyncthingNode, ports: dict[str, int]) -> MeshDaemon:
    host = node.name
    config = {
        "hosts": [
            {"name": "alpha", "url": f"http://127.0.0.1:{ports['alpha']}", "houses": ["timmy"], "roles": ["reviewer"]},
            {"name": "beta", "url": f"http://127.0.0.1:{ports['beta']}", "houses": ["ezra"], "roles": ["worker"]},
        ],
        "peers": {"probe_seconds": 0.5, "timeout_seconds": 2, "heartbeat_stale_seconds": 30},
        "syncthing": {
            "url": node.url,
            "folder_id": FOLDER_ID,
            "folder_path": str(node.data),
            "heartbeat_seconds": 0.5,
            "read_seconds": 0.5,
        },
    }
    mesh_file = tmp_path / f"mesh-{host}.yaml"
    mesh_file.write_text(yaml.safe_dump(config))
    key_file = tmp_path / f"syncthing-{host}.key"
    key_file.write_text(node.api_key + "\n")
    data_dir = tmp_path / f"data-{host}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_") and k != "NOTIFY_SOCKET"}
    env.pop("WATCHDOG_USEC", None)
    env.update(
        UNIWIZARD_HOST=host,
        UNIWIZARD_DATA_DIR=str(data_dir),
        UNIWIZARD_WORKSPACE=str(tmp_path),
        UNIWIZARD_MESH_CONFIG=str(mesh_file),
        UNIWIZARD_SYNCTHING_API_KEY_FILE=str(key_file),
    )
    log = tmp_path / f"daemon-{host}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from uni_wizard.cli import run; run()", "serve", "--port", str(ports[host])],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return MeshDaemon(host, ports[host], data_dir, env, proc, log)


def telemetry_seqs(folder: Path, host: str) -> list[int]:
    seqs: list[int] = []
    for path in sorted((folder / host / "telemetry").glob("*.jsonl")):
        seqs += [json.loads(line)["seq"] for line in path.read_text().splitlines()]
    return seqs


def test_two_daemons_share_heartbeats_telemetry_conflicts_and_survive_a_syncthing_stop(mesh) -> None:
    pair, alpha, beta = mesh
    both = [alpha, beta]
    until(lambda: alpha.mesh() and beta.mesh(), "both daemons answering", both)
    alpha.emit("a-1", "a-2", "a-3")
    beta.emit("b-1", "b-2")

    # each sees the other's heartbeat (through Syncthing) and telemetry
    def sees(me: MeshDaemon, other: MeshDaemon, last: int) -> bool:
        row = me.row(other.host)
        return bool(
            row["heartbeat_source"] == "syncthing" and row["telemetry"] and row["telemetry"]["last_seq"] == last
        )

    # every event of the other's log: the 3 and 2 emitted here, and what the daemons log themselves (peer.joined)
    until(lambda: sees(beta, alpha, alpha.seqs()[-1]), "beta sees alpha's heartbeat and every event of alpha", both)
    until(lambda: sees(alpha, beta, beta.seqs()[-1]), "alpha sees beta's heartbeat and every event of beta", both)
    row = beta.row("alpha")
    assert row["health"] == "up" and row["houses"] == ["timmy"] and row["roles"] == ["reviewer"]
    assert row["syncthing"]["device"] == pair.alpha.device_id and row["syncthing"]["connected"] is True
    assert beta.mesh()["syncthing"]["state"] in {"idle", "scanning", "syncing", "sync-preparing", "scan-waiting"}
    metrics = httpx.get(f"{beta.url}/metrics", timeout=5).text
    assert "uniwizard_syncthing_up 1.0" in metrics and 'uniwizard_peer_up{peer="alpha"} 1.0' in metrics

    # a conflict file planted in alpha's copy is reported by alpha, and by beta once Syncthing brought it
    conflict = "alpha/artifacts/report.sync-conflict-20260101-120000-ABCDEFG.md"
    (pair.alpha.data / conflict).write_text("two writers\n")
    until(lambda: conflict in alpha.mesh()["conflicts"], "alpha reports the conflict file", both)
    until(lambda: conflict in beta.mesh()["conflicts"], "beta reports the conflict file", both)
    assert "uniwizard_syncthing_conflict_files 1.0" in httpx.get(f"{alpha.url}/metrics", timeout=5).text

    # alpha's Syncthing stops: alpha buffers its telemetry, nothing is written to the folder
    until(lambda: alpha.mesh()["spool"]["buffered"] == 0, "alpha has exported everything", both)
    exported = alpha.mesh()["spool"]["exported_seq"]
    pair.stop(pair.alpha)
    until(lambda: alpha.mesh()["spool"]["available"] is False, "alpha notices its Syncthing is gone", both)
    alpha.emit(*(f"a-offline-{n}" for n in range(5)))
    until(lambda: alpha.mesh()["spool"]["buffered"] >= 5, "alpha buffers", both)
    assert alpha.mesh()["spool"]["exported_seq"] == exported
    assert telemetry_seqs(pair.alpha.data, "alpha") == list(range(1, exported + 1))
    ready = httpx.get(f"{alpha.url}/ready", timeout=5)
    assert ready.status_code == 503 and ready.json()["components"]["mesh"]["ready"] is False

    # back: the buffer is flushed and beta receives every event once
    pair.start(pair.alpha)
    last = alpha.seqs()[-1]
    until(lambda: alpha.mesh()["spool"]["buffered"] == 0, "alpha flushes its buffer", both)
    until(lambda: sees(beta, alpha, last), f"beta sees alpha's events up to seq {last}", both)
    stats = beta.row("alpha")["telemetry"]
    assert (stats["duplicates"], stats["gaps"], stats["bad_lines"]) == (0, 0, 0)
    assert telemetry_seqs(pair.beta.data, "alpha") == alpha.seqs() == list(range(1, last + 1))
    assert httpx.get(f"{alpha.url}/ready", timeout=5).status_code == 200

    # the CLI's own look from beta's settings agrees
    out = subprocess.run(
        [sys.executable, "-c", "from uni_wizard.cli import run; run()", "mesh", "status", "--json"],
        env=beta.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    view = json.loads(out)
    rows = {r["host"]: r for r in view["hosts"]}
    assert rows["alpha"]["heartbeat_source"] == "syncthing" and rows["alpha"]["health"] == "up"
    assert rows["beta"]["self"] and rows["beta"]["health"] == "up"
    assert rows["alpha"]["telemetry"]["last_seq"] == last
    assert conflict in view["conflicts"]
