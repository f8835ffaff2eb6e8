"""The real daemon as a subprocess: /health, the execute API over loopback, sd_notify, SIGTERM.

Timing bounds are generous (the machines are noisy): the tests wait *up to*
a bound, they never assert how fast something happened.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.daemon import notify

TOKEN = "daemon-test-token"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    port: int
    workspace: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self) -> httpx.Response:
        deadline = time.monotonic() + START_TIMEOUT
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the daemon exited with {self.proc.returncode} before it was healthy:\n{self.output()}")
            try:
                response = httpx.get(f"{self.url}/health", timeout=2.0)
            except httpx.TransportError as exc:
                last = exc
            else:
                if response.status_code == 200:
                    return response
                last = response
            time.sleep(0.1)
        pytest.fail(f"the daemon was not healthy within {START_TIMEOUT} s (last: {last!r}):\n{self.output()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=STOP_TIMEOUT)


def short_socket_path(tmp_path: Path) -> Path:
    """A path in tmp_path for a unix socket (kept short: sun_path holds about 107 bytes)."""
    path = tmp_path / "notify.sock"
    if len(os.fsencode(path)) > 100:  # pragma: no cover - very deep temp dirs
        pytest.skip(f"temporary path too long for a unix socket: {path}")
    return path


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator:
    started: list[Daemon] = []

    def start(**extra_env: str) -> Daemon:
        workspace = tmp_path / "ws"
        workspace.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_") and k != "NOTIFY_SOCKET"}
        env.pop("WATCHDOG_USEC", None)
        env.update(
            UNIWIZARD_DATA_DIR=str(tmp_path / "data"),
            UNIWIZARD_WORKSPACE=str(workspace),
            UNIWIZARD_API_TOKEN=TOKEN,
            UNIWIZARD_HOST="test-host",
            **extra_env,
        )
        port = free_port()
        log = tmp_path / f"daemon-{len(started)}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from uni_wizard.cli import run; run()", "serve", "--port", str(port)],
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        daemon = Daemon(proc, port, workspace, log)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(timeout=STOP_TIMEOUT)


def test_daemon_serves_health_and_execute_then_stops_on_sigterm(start_daemon) -> None:
    daemon = start_daemon()
    (daemon.workspace / "notes.txt").write_text("served over loopback\n")

    health = daemon.wait_healthy().json()
    assert health["status"] == "ok"
    assert health["store_writable"] is True
    assert health["host"] == "test-host"

    ready = httpx.get(f"{daemon.url}/ready", timeout=5.0)
    assert ready.status_code == 200
    assert set(ready.json()["components"]) == {"store", "houses", "tools", "breakers", "cascade", "memory"}
    assert ready.json()["components"]["memory"]["vectors"] is False  # the memory serves FTS5 search and says so
    assert ready.json()["components"]["cascade"]["required"] is False  # no model server here: still ready

    call = {"house": "timmy", "tool": "file_read", "args": {"path": str(daemon.workspace / "notes.txt")}}
    unauthorised = httpx.post(f"{daemon.url}/api/v1/execute", json=call, timeout=10.0)
    assert unauthorised.status_code == 401
    response = httpx.post(
        f"{daemon.url}/api/v1/execute", json=call, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0
    )
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "ok"
    assert result["output"]["content"] == "served over loopback\n"
    assert result["provenance_id"] == 1

    metrics = httpx.get(f"{daemon.url}/metrics", timeout=5.0, follow_redirects=True)
    assert metrics.status_code == 200
    calls = [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
        if sample.name == "uniwizard_tool_calls_total"
    ]
    assert calls == [({"house": "timmy", "tool": "file_read", "mode": "intelligent", "outcome": "ok"}, 1.0)]

    daemon.proc.send_signal(signal.SIGTERM)
    daemon.proc.wait(timeout=STOP_TIMEOUT)  # it stops (how: see the next test)
    assert "Traceback" not in daemon.output()
    # the provenance record outlived the process
    assert (daemon.workspace.parent / "data" / "uni-wizard.db").is_file()


def test_sigterm_exits_with_code_0_after_cleanup(start_daemon) -> None:
    daemon = start_daemon()
    daemon.wait_healthy()
    assert daemon.stop() == 0, daemon.output()
    assert "stopped" in daemon.output()


def test_an_unusable_config_exits_2_with_one_message(start_daemon, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("bogus_key: 1\n")
    daemon = start_daemon(UNIWIZARD_CONFIG=str(config))
    assert daemon.proc.wait(timeout=START_TIMEOUT) == 2
    output = daemon.output().replace("\n", "")
    assert f"{config}:bogus_key: unknown key" in output
    assert "Traceback" not in output


# -- sd_notify ------------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    path = short_socket_path(tmp_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(START_TIMEOUT)
    yield sock, path
    sock.close()


def receive_until(sock: socket.socket, wanted: str, deadline: float) -> list[str]:
    """Datagrams received until one contains ``wanted`` (all of them, in order)."""
    seen: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"no {wanted!r} datagram; received {seen!r}")
        sock.settimeout(remaining)
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            pytest.fail(f"no {wanted!r} datagram; received {seen!r}")
        seen.append(message)
        if wanted in message.splitlines():
            return seen


def test_notify_without_systemd_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_notify_sends_a_datagram(notify_socket: tuple[socket.socket, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    sock, path = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    assert notify("READY=1\nSTATUS=testing") is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=testing"
    assert notify("STOPPING=1") is True
    assert sock.recv(4096) == b"STOPPING=1"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract unix sockets are Linux-only")
def test_notify_to_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"uniwizard-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(START_TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("WATCHDOG=1") is True
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_daemon_notifies_ready_watchdog_and_stopping(start_daemon, notify_socket: tuple[socket.socket, Path]) -> None:
    sock, path = notify_socket
    daemon = start_daemon(NOTIFY_SOCKET=str(path), WATCHDOG_USEC="200000")

    seen = receive_until(sock, "READY=1", time.monotonic() + START_TIMEOUT)
    ready = seen[-1].splitlines()
    assert f"MAINPID={daemon.proc.pid}" in ready
    assert any(line.startswith("STATUS=serving on 127.0.0.1:") for line in ready)
    # READY is sent once the socket listens: /health answers at once
    assert httpx.get(f"{daemon.url}/health", timeout=5.0).status_code == 200

    receive_until(sock, "WATCHDOG=1", time.monotonic() + START_TIMEOUT)

    daemon.proc.send_signal(signal.SIGTERM)
    receive_until(sock, "STOPPING=1", time.monotonic() + STOP_TIMEOUT)
    daemon.proc.wait(timeout=STOP_TIMEOUT)
