"""A real HTTP server on 127.0.0.1 for integration tests: routes in a dict, requests recorded.

    with LoopbackServer() as server:
        server.route("GET", "/hello", json_reply({"hi": 1}))
        ...  # point a client at server.url + "/hello"
        assert server.requests[0].method == "GET"

A route maps ``(METHOD, path-without-query)`` to a handler ``Recorded -> Reply``.
An unknown route answers 404 with a Gitea-style ``{"message": "not found"}``.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "LoopbackServer",
    "Recorded",
    "Reply",
    "json_reply",
    "slow_reply",
    "text_reply",
    "unused_port",
]


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[Recorded], Reply]


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    payload = json.dumps(data).encode()
    hdrs = {"Content-Type": "application/json;charset=utf-8", **(headers or {})}
    return lambda _req: Reply(status, payload, hdrs)


def text_reply(text: str | bytes, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Handler:
    payload = text.encode() if isinstance(text, str) else text
    return lambda _req: Reply(status, payload, {"Content-Type": content_type})


def slow_reply(delay: float, text: str = "late") -> Handler:
    return lambda _req: Reply(200, text.encode(), {"Content-Type": "text/plain"}, delay=delay)


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """``ThreadingHTTPServer`` on 127.0.0.1, an ephemeral port, serving in a daemon thread."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []  # a client hanging up mid-answer lands here
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="loopback-http",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method.upper(), path)] = handler

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, req: Recorded) -> None:
        with self._lock:
            self.requests.append(req)

    def _dispatch(self, req: Recorded) -> Reply:
        handler = self.routes.get((req.method, req.route))
        if handler is None:
            return json_reply({"message": "not found", "url": f"{self.url}/api/swagger"}, 404)(req)
        return handler(req)

    def requests_to(self, method: str, route: str) -> Iterator[Recorded]:
        return (r for r in list(self.requests) if r.method == method and r.route == route)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Instead of printing a traceback to stderr: keep it for the test to look at.
        exc = sys.exc_info()[1]
        if exc is not None:
            self.owner.errors.append(exc)


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            server._record(req)
            reply = server._dispatch(req)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError) as exc:
                server.errors.append(exc)  # the client stopped reading: expected when it caps a body
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep pytest output quiet; requests are in server.requests

    return _Handler
