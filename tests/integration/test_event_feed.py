"""The live activity feed over real loopback servers: ``GET /ws/events`` (WebSocket) and
``GET /api/v1/events/stream`` (Server-Sent Events), served by ``create_app`` on uvicorn, read by real clients
(``websockets``, ``httpx``); the daemon itself as a subprocess for the last test.

Timing bounds are generous: the tests wait *up to* a bound, they never assert how fast something happened.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from uni_wizard.harness.runtime import Runtime
from uni_wizard.observe.events import EventLog
from uni_wizard.store import Store
from uni_wizard.testing import make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app
from uni_wizard.web.auth import Identity
from uni_wizard.web.feed import TOO_SLOW, feed_router

TOKEN = "feed-test-token"
VIEWER = "feed-viewer-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
WAIT = 10.0


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path)
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    built = create_app(runtime, api_token=TOKEN, viewer_token=VIEWER)
    built.include_router(feed_router(built.state.feed, heartbeat=0.2), prefix="/quick")  # SSE keepalives at 0.2 s
    return built


@pytest.fixture
def server(app: FastAPI) -> Iterator[ThreadedServer]:
    with ThreadedServer(app, name="feed-daemon") as srv:
        yield srv


def ws_url(srv: ThreadedServer, query: str = "", prefix: str = "") -> str:
    return f"ws://127.0.0.1:{srv.port}{prefix}/ws/events{'?' + query if query else ''}"


def emit(log: EventLog, n: int, start: int = 0, **data: object) -> list[int]:
    seqs = []
    for i in range(start, start + n):
        seq = log.emit_sync("issue.routed", f"feed-test:{i}", repository="org/repo", number=i, data=dict(data))
        assert seq is not None
        seqs.append(seq)
    return seqs


def read(ws: ClientConnection, n: int) -> list[dict[str, object]]:
    return [json.loads(ws.recv(timeout=WAIT)) for _ in range(n)]


class RawClient:
    """A WebSocket client on a bare socket with a small receive buffer, which reads nothing until
    ``read_to_close``: the slowest client there is."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
        )
        self.sock.settimeout(WAIT)
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_to_close(self) -> tuple[list[int], int, str]:
        """The seqs of the text frames, then the close frame's code and reason."""
        seqs: list[int] = []
        try:
            while True:
                first, second = self._take(2)
                length = second & 0x7F
                if length == 126:
                    length = struct.unpack("!H", self._take(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", self._take(8))[0]
                payload = self._take(length)
                if first & 0x0F == 0x8:
                    return seqs, struct.unpack("!H", payload[:2])[0], payload[2:].decode()
                if first & 0x0F == 0x1:
                    seqs.append(int(json.loads(payload)["seq"]))
        finally:
            self.sock.close()


def test_replay_then_live_in_the_shape_of_the_events_api(runtime: Runtime, server: ThreadedServer) -> None:
    log = EventLog(runtime.store, runtime.host)
    emit(log, 5, house="ezra")
    with connect(ws_url(server, "since=2"), additional_headers=BEARER) as ws:
        replayed = read(ws, 3)
        assert [e["seq"] for e in replayed] == [3, 4, 5]
        page = httpx.get(f"{server.url}/api/v1/events?since=2", headers=BEARER).json()
        assert replayed == page["events"]  # one shape for the page and the feed
        live = emit(log, 2, start=5, house="ezra")
        assert [e["seq"] for e in read(ws, 2)] == live
        other = EventLog(runtime.store, runtime.host)  # any EventLog of the store wakes the feed
        seq = other.emit_sync("pull.merged", "feed-test:merged", data={"house": "bezalel"})
        assert read(ws, 1)[0]["seq"] == seq


def test_filters_by_kind_house_and_issue(runtime: Runtime, server: ThreadedServer) -> None:
    log = EventLog(runtime.store, runtime.host)
    log.emit_sync("issue.routed", "a", repository="org/repo", number=7, data={"house": "ezra"})
    log.emit_sync("issue.claimed", "b", repository="org/repo", number=7, data={"house": "ezra"})
    log.emit_sync("issue.routed", "c", repository="org/other", number=7, data={"house": "bezalel"})
    query = "since=0&kind=issue.routed&kind=issue.claimed&house=ezra&issue=org/repo%237"
    with connect(ws_url(server, query), additional_headers=BEARER) as ws:
        assert [e["key"] for e in read(ws, 2)] == ["a", "b"]
        log.emit_sync("issue.routed", "d", repository="org/repo", number=8, data={"house": "ezra"})  # other issue
        log.emit_sync("pull.merged", "e", repository="org/repo", number=7, data={"house": "ezra"})  # other kind
        log.emit_sync("issue.claimed", "f", repository="org/repo", number=7, data={"house": "ezra"})
        assert read(ws, 1)[0]["key"] == "f"
    with connect(ws_url(server, "issue=7"), additional_headers=BEARER) as ws:
        assert [e["key"] for e in read(ws, 4)] == ["a", "b", "c", "e"]
    with pytest.raises(InvalidStatus):  # a malformed filter is refused at the handshake
        connect(ws_url(server, "kind=NOT A KIND"), additional_headers=BEARER)


def test_reconnect_with_since_loses_nothing_and_duplicates_nothing(runtime: Runtime, server: ThreadedServer) -> None:
    log = EventLog(runtime.store, runtime.host)
    total = 400
    written: list[int] = []

    def writer() -> None:  # writes all along: while connected, while away, while reconnecting
        for i in range(total):
            written.extend(emit(log, 1, start=i))
            if i % 10 == 0:
                time.sleep(0.005)

    thread = threading.Thread(target=writer, name="feed-writer")
    thread.start()
    received: list[int] = []
    reconnects = 0
    try:
        while len(received) < total:
            since = received[-1] if received else 0
            with connect(ws_url(server, f"since={since}"), additional_headers=BEARER) as ws:
                reconnects += 1
                for _ in range(37):  # then hang up mid-stream
                    if len(received) == total:
                        break
                    received.append(int(json.loads(ws.recv(timeout=WAIT))["seq"]))
            time.sleep(0.01)  # away: events are written meanwhile
    finally:
        thread.join(timeout=30)
    assert reconnects > 5
    assert received == written  # every event, once, in order


def test_a_slow_client_is_dropped_with_the_close_code_and_others_keep_receiving(
    app: FastAPI, runtime: Runtime, server: ThreadedServer
) -> None:
    broadcaster = app.state.feed
    log = EventLog(runtime.store, runtime.host)
    bulk = "x" * 60_000  # big events fill the socket buffers fast
    broadcaster.queue_size = 8  # the queue of the subscribers made from now on: the slow client's
    slow = RawClient(server.port, "/ws/events")  # reads nothing until told to
    broadcaster.queue_size = 1024  # the reader's
    got: list[int] = []
    seqs: list[int] = []
    with connect(ws_url(server), additional_headers=BEARER, max_size=None) as reader:

        def keep_reading() -> None:  # until the last event
            while not got or got[-1] != -1:
                event = json.loads(reader.recv(timeout=WAIT))
                got.append(-1 if event["kind"] == "feed.end" else int(event["seq"]))

        reading = threading.Thread(target=keep_reading, name="feed-reader")
        reading.start()
        deadline = time.monotonic() + 60
        while len(broadcaster.subscribers) == 2:  # the slow one does not read: its queue fills, it is dropped
            seqs.extend(emit(log, 5, start=len(seqs), blob=bulk))
            time.sleep(0.01)
            assert time.monotonic() < deadline, "the slow client was never dropped"
        seqs.extend(emit(log, 5, start=len(seqs), blob=bulk))  # after the drop: the reader still gets these
        log.emit_sync("feed.end", "feed-test:end")
        reading.join(timeout=WAIT)
        assert got == [*seqs, -1]
        received, code, reason = slow.read_to_close()  # what it was sent before the drop, then the close frame
        assert code == TOO_SLOW
        assert "too slow" in reason and f"since={received[-1]}" in reason  # where to resume
        assert received == seqs[: len(received)]
    dropped = runtime.metrics.registry.get_sample_value("uniwizard_feed_dropped_total", {"transport": "websocket"})
    assert dropped == 1


def test_server_sent_events_replay_live_and_resume_from_last_event_id(runtime: Runtime, server: ThreadedServer) -> None:
    log = EventLog(runtime.store, runtime.host)
    emit(log, 3)
    seen: list[tuple[str, str, dict[str, object]]] = []
    comments: list[str] = []
    url = f"{server.url}/quick/api/v1/events/stream?since=1"
    with httpx.stream("GET", url, headers=BEARER, timeout=WAIT) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "id" in fields:
                seen.append((fields["id"], fields["event"], json.loads(fields["data"])))
                if len(seen) == 2:
                    emit(log, 1, start=3)  # live, after the replay
            if not line:
                fields = {}
            if len(seen) == 3 and any("keepalive" in c for c in comments):
                break
    assert [s[0] for s in seen] == ["2", "3", "4"]
    assert all(kind == "issue.routed" and data["seq"] == int(seq) for seq, kind, data in seen)
    assert any("keepalive" in c for c in comments)  # the idle stream sent its heartbeat
    emit(log, 2, start=4)
    resumed = httpx.stream(
        "GET", f"{server.url}/api/v1/events/stream?since=0", headers={**BEARER, "Last-Event-ID": "4"}, timeout=WAIT
    )
    ids: list[str] = []
    with resumed as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                ids.append(line[4:])
            if len(ids) == 2:
                break
    assert ids == ["5", "6"]  # Last-Event-ID wins over since


def test_the_feed_needs_a_login(app: FastAPI, server: ThreadedServer) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        with connect(ws_url(server), additional_headers=headers) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert httpx.get(f"{server.url}/api/v1/events/stream", headers=headers).status_code == 401
    with connect(ws_url(server), additional_headers={"Authorization": f"Bearer {VIEWER}"}) as ws:
        ws.ping().wait(WAIT)  # a viewer may watch
    cookie = app.state.auth.issue(Identity("viewer", "viewer", "session"))
    with connect(ws_url(server), additional_headers={"Cookie": f"uw_session={cookie}"}) as ws:
        ws.ping().wait(WAIT)  # and so may a browser with the dashboard's session cookie
    forged = cookie[:-4] + ("0000" if not cookie.endswith("0000") else "1111")
    with connect(ws_url(server), additional_headers={"Cookie": f"uw_session={forged}"}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# -- the daemon as a subprocess: a tool call through the API and a write by another process, both streamed --


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_daemon_streams_its_tool_calls_and_other_processes_writes(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("streamed\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_") and k != "NOTIFY_SOCKET"}
    env.pop("WATCHDOG_USEC", None)
    env.update(
        UNIWIZARD_DATA_DIR=str(tmp_path / "data"),
        UNIWIZARD_WORKSPACE=str(workspace),
        UNIWIZARD_API_TOKEN=TOKEN,
        UNIWIZARD_HOST="test-host",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "daemon.log").open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from uni_wizard.cli import run; run()", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
            time.sleep(0.1)
        with connect(f"ws://127.0.0.1:{port}/ws/events?since=0", additional_headers=BEARER) as ws:
            call = {
                "house": "timmy",
                "tool": "file_read",
                "args": {"path": str(workspace / "notes.txt")},
                "task": "o/r#3",
            }
            result = httpx.post(f"{url}/api/v1/execute", json=call, headers=BEARER, timeout=WAIT).json()
            event = json.loads(ws.recv(timeout=WAIT))
            assert event["kind"] == "tool.called"
            assert (event["repository"], event["number"]) == ("o/r", 3)
            assert event["data"]["provenance_id"] == result["provenance_id"]
            assert event["data"]["tool"] == "file_read" and event["data"]["status"] == "ok"
            assert "streamed" not in json.dumps(event)  # no output, no arguments
            store = Store(tmp_path / "data" / "uni-wizard.db")  # another process writes: the feed's poll finds it
            try:
                seq = EventLog(store, "cli-host").emit_sync("command.handled", "from-another-process")
            finally:
                store.close()
            assert json.loads(ws.recv(timeout=WAIT))["seq"] == seq
    finally:
        proc.terminate()
        proc.wait(timeout=15)
