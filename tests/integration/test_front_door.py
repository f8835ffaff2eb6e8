"""Nothing unauthenticated or hostile stalls or floods the daemon: the real daemon (``uni-wizard serve``) on loopback.

Bodies are streamed from one reused buffer over raw sockets (a 200 MB body is never held by the test);
what the server read is measured as the bytes the client could push before the server closed the
connection, and as the growth of the daemon's peak resident memory (``VmHWM``). No wall time is asserted:
the waits are generous bounds for the daemon to do something, never a measure of how fast it did it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.config import Settings
from uni_wizard.harness.runtime import Runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import MAX_API_BODY, create_app

TOKEN = "front-door-token"
SECRET = "front-door-secret"
START_TIMEOUT = 30.0
MB = 1024 * 1024
CHUNK = b"0" * (64 * 1024)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def peak_rss(self) -> int:
        """The daemon's peak resident memory so far, in bytes (``VmHWM``)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match[1]) * 1024

    def refused(self, route: str, reason: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10.0).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "uniwizard_http_refused_total" and sample.labels == {
                    "route": route,
                    "reason": reason,
                }:
                    return sample.value
        return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("front-door")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_")}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        env.pop(name, None)
    env.update(
        UNIWIZARD_DATA_DIR=str(home / "data"),
        UNIWIZARD_WORKSPACE=str(home),
        UNIWIZARD_API_TOKEN=TOKEN,
        UNIWIZARD_WEBHOOK_SECRET=SECRET,
        UNIWIZARD_HOST="front-door",
    )
    port = free_port()
    log = home / "daemon.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from uni_wizard.cli import run; run()", "serve", "--port", str(port)],
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Daemon(proc, port, log)
    try:
        wait_healthy(running)
        yield running
    finally:
        proc.kill()
        proc.wait(timeout=10)


def wait_healthy(daemon: Daemon) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert daemon.proc.poll() is None, daemon.output()
        try:
            if httpx.get(f"{daemon.url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the daemon did not become healthy:\n{daemon.output()}")


def eventually(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


@dataclass
class Exchange:
    status: int
    head: bytes
    sent: int  # body bytes the client managed to hand to the kernel before the server closed


def stream_post(port: int, path: str, headers: dict[str, str], total: int, *, chunked: bool = False) -> Exchange:
    """POST ``total`` body bytes (one reused 64 KiB buffer) while reading the answer; stop when the server closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = [0]

    def pump() -> None:
        frame = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n" if chunked else CHUNK
        try:
            while sent[0] < total:
                sock.sendall(frame)
                sent[0] += len(CHUNK)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection: what it refused, it does not read

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sender.join(timeout=120)
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return Exchange(status, answer.partition(b"\r\n\r\n")[0], sent[0])


EXECUTE = "/api/v1/execute"
JSON = {"Content-Type": "application/json"}
AUTH = {"Authorization": f"Bearer {TOKEN}", **JSON}


# -- bodies: authenticated before they are read, bounded while they are read ---------------------------------------


def test_an_unauthenticated_200_mb_post_gets_401_without_being_read(daemon: Daemon) -> None:
    before = daemon.peak_rss()
    exchange = stream_post(daemon.port, EXECUTE, JSON, 200 * MB)
    assert exchange.status == 401, exchange.head
    assert b"www-authenticate: Bearer" in exchange.head.lower().replace(b"bearer", b"Bearer")
    assert b"connection: close" in exchange.head.lower()
    # the server answered from the headers and hung up: the client could not push the body into it
    assert exchange.sent < 32 * MB, exchange.sent
    assert daemon.peak_rss() - before < 64 * MB
    assert daemon.refused("api", "unauthorized") >= 1


@pytest.mark.parametrize("authorization", ["Bearer wrong", "Basic " + TOKEN, TOKEN, ""])
def test_a_wrong_token_is_refused_before_the_body(daemon: Daemon, authorization: str) -> None:
    headers = {**JSON, "Authorization": authorization} if authorization else JSON
    exchange = stream_post(daemon.port, EXECUTE, headers, 50 * MB)
    assert exchange.status == 401
    assert exchange.sent < 32 * MB


def test_a_body_over_the_limit_with_the_token_gets_413_unread(daemon: Daemon) -> None:
    before = daemon.peak_rss()
    exchange = stream_post(daemon.port, EXECUTE, AUTH, 200 * MB)
    assert exchange.status == 413, exchange.head
    assert exchange.sent < 32 * MB
    assert daemon.peak_rss() - before < 64 * MB
    # one byte over the limit is enough, and the limit itself still passes
    over = httpx.post(f"{daemon.url}{EXECUTE}", content=b" " * (MAX_API_BODY + 1), headers=AUTH, timeout=30)
    assert over.status_code == 413
    at = httpx.post(f"{daemon.url}{EXECUTE}", content=b" " * MAX_API_BODY, headers=AUTH, timeout=30)
    assert at.status_code == 422  # read and parsed: all blanks is not JSON


@pytest.mark.parametrize(
    ("path", "headers", "limit"),
    [
        (EXECUTE, AUTH, MAX_API_BODY),
        ("/hooks/gitea", {**JSON, "X-Gitea-Event-Type": "issues"}, 5 * MB),
        ("/health", {}, 64 * 1024),
    ],
)
def test_a_chunked_body_that_grows_past_the_limit_gets_413(
    daemon: Daemon, path: str, headers: dict[str, str], limit: int
) -> None:
    exchange = stream_post(daemon.port, path, headers, 100 * MB, chunked=True)
    assert exchange.status == 413, exchange.head
    assert exchange.sent < limit + 32 * MB


def test_the_token_routes_still_work_with_the_token(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("hello\n")
    call = {"house": "timmy", "tool": "file_read", "args": {"path": str(tmp_path / "note.txt")}}
    assert httpx.post(f"{daemon.url}{EXECUTE}", json=call, timeout=10).status_code == 401
    response = httpx.post(f"{daemon.url}{EXECUTE}", json=call, headers=AUTH, timeout=10)
    assert response.status_code == 200 and response.json()["status"] in ("ok", "denied")
    assert httpx.get(f"{daemon.url}/api/v1/events", timeout=10).status_code == 401
    assert httpx.get(f"{daemon.url}/api/v1/events", headers=AUTH, timeout=10).status_code == 200
    assert httpx.get(f"{daemon.url}/api/v1/upgrades", headers=AUTH, timeout=10).status_code == 200
    assert httpx.get(f"{daemon.url}/api/v1/cascade", timeout=10).status_code == 200  # public, no body


def signed(body: bytes, event_type: str = "issues") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event-Type": event_type,
        "X-Gitea-Delivery": str(uuid.uuid4()),
        "X-Gitea-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }


def test_webhooks_are_still_verified(daemon: Daemon) -> None:
    body = json.dumps({"zen": "hi", "hook_id": 1}).encode()
    forged = {**signed(body), "X-Gitea-Signature": "0" * 64}
    assert httpx.post(f"{daemon.url}/hooks/gitea", content=body, headers=forged, timeout=10).status_code == 401
    answer = httpx.post(f"{daemon.url}/hooks/gitea", content=body, headers=signed(body, "ping"), timeout=10)
    assert answer.status_code == 200 and answer.json() == {"status": "ignored"}


# -- clients that hang up, stall or send garbage: counted, never a traceback -----------------------------------------


def hang_up_mid_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = "POST /hooks/gitea HTTP/1.1\r\nHost: x\r\nX-Gitea-Event-Type: issues\r\nContent-Length: 100000\r\n\r\n"
        sock.sendall(head.encode() + b'{"action": "opened", "pad": "' + b"x" * 1000)


def test_200_clients_that_hang_up_mid_body_leave_no_traceback(daemon: Daemon) -> None:
    already = daemon.refused("hooks", "disconnected")
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda _: hang_up_mid_body(daemon.port), range(200)))
    eventually(lambda: daemon.refused("hooks", "disconnected") >= already + 200, "200 disconnects counted")
    assert httpx.get(f"{daemon.url}/health", timeout=10).status_code == 200
    log = daemon.output()
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    assert "ClientDisconnect" not in log


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",  # headers over h11's 16 KiB
    b"POST /hooks/gitea HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /hooks/gitea HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"POST /api/v1/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x00\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /\xc3\xa9t\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /hooks/gitea HTTP/1.1\r\nHost: x\r\nX-Gitea-Event-Type: \xff\xfe\r\nX-Gitea-Signature: \xe9\r\n"
    b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc",
]


def send_raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_malformed_requests_are_answered_and_their_warnings_rate_limited(daemon: Daemon) -> None:
    for _ in range(10):
        for request in MALFORMED:
            answer = send_raw(daemon.port, request)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), (request[:60], answer[:200])
    assert httpx.get(f"{daemon.url}/health", timeout=10).status_code == 200
    log = daemon.output()
    assert "Traceback" not in log
    assert log.count("Invalid HTTP request received.") <= 5  # a burst per minute, then counted and dropped


def test_forged_deliveries_are_refused_and_their_log_lines_rate_limited(daemon: Daemon) -> None:
    body = json.dumps({"action": "opened"}).encode()
    for _ in range(30):
        forged = {**signed(body), "X-Gitea-Signature": "f" * 64}
        assert httpx.post(f"{daemon.url}/hooks/gitea", content=body, headers=forged, timeout=10).status_code == 401
    assert daemon.output().count("rejected with 401") <= 5  # a burst per minute; the metric counts them all


def test_a_body_that_stalls_is_cut_off_with_408(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", workspace=tmp_path, host="stall")
    runtime = Runtime(settings, metrics_registry=CollectorRegistry())
    try:
        app = create_app(runtime, api_token=TOKEN, webhook_secret=SECRET, body_timeout=0.5)
        with ThreadedServer(app, name="daemon") as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
            head = "POST /hooks/gitea HTTP/1.1\r\nHost: x\r\nX-Gitea-Event-Type: issues\r\nContent-Length: 1000\r\n\r\n"
            sock.sendall(head.encode() + b"{")  # ... and nothing more
            sock.settimeout(30)
            answer = b""
            while data := sock.recv(65536):  # the server answers, then closes
                answer += data
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            samples = {
                (s.labels["route"], s.labels["reason"]): s.value
                for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text)
                for s in family.samples
                if s.name == "uniwizard_http_refused_total"
            }
            assert samples == {("hooks", "timeout"): 1.0}
    finally:
        runtime.close()
