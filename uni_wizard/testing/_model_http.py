"""The machinery of the fake model servers (``model_servers``): a threaded HTTP/1.1 server on loopback,
scripted faults and replies, chunked streaming. The protocols live in ``model_servers``."""

from __future__ import annotations

import enum
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any

from ..cascade.types import ToolCall

__all__ = ["FakeModelServer", "Fault", "Reply", "closed_port"]


class Fault(enum.Enum):
    NONE = "none"
    SLOW_FIRST_BYTE = "slow"  # holds the answer ``delay`` seconds before its first byte
    BUSY = "busy"  # 503 with Retry-After (Ollama's queue full)
    RATE_LIMITED = "rate-limited"  # 429 with Retry-After
    SERVER_ERROR = "server-error"  # 500
    ERROR_BEFORE_FIRST_TOKEN = "error-before"  # noqa: S105 -- 200, then an error line as the first line
    ERROR_AFTER_FIRST_TOKEN = "error-after"  # noqa: S105 -- 200, one token, then an error line
    CUT_AFTER_FIRST_TOKEN = "cut-after"  # noqa: S105 -- 200, one token, then the connection closes
    MALFORMED_JSON = "malformed"  # 200 with a body (or first line) that is not JSON
    MODEL_NOT_FOUND = "not-found"  # 404 in the protocol's shape
    CONTEXT_LENGTH = "context-length"  # 400 in the protocol's context-length shape
    UNAUTHORIZED = "unauthorized"  # 401 echoing the key it was given (as some clouds do)


@dataclass(frozen=True)
class Reply:
    """What the fake model answers: text (streamed word by word) and tool calls."""

    content: str = "Hello from the fake model."
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int = 12
    output_tokens: int = 7

    def pieces(self) -> list[str]:
        words = self.content.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] if self.content else []


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every small answer waits ~40 ms for a delayed ACK
    server: _Http

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
        return

    def do_GET(self) -> None:
        self.server.fake.handle_get(self)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.fake.handle_post(self, raw)

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(data).encode(), "application/json", headers)

    def send_bytes(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def start_chunks(self, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops bursts of connects, which then retry only after 1 s

    def __init__(self, port: int, fake: FakeModelServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _Handler)


class FakeModelServer:
    """The shared machinery; use ``FakeOllama`` or ``FakeOpenAI``."""

    kind = ""

    def __init__(
        self,
        models: tuple[str, ...] = ("fake-model",),
        *,
        reply: Reply | None = None,
        fault: Fault = Fault.NONE,
        delay: float = 2.0,
        retry_after: float = 1.0,
        context_tokens: int | None = None,
        chunk_delay: float = 0.0,
        port: int = 0,
    ) -> None:
        self.models = models
        self.reply = reply or Reply()
        self.fault = fault
        self.delay = delay  # seconds of SLOW_FIRST_BYTE
        self.retry_after = retry_after  # the Retry-After of BUSY and RATE_LIMITED
        self.context_tokens = context_tokens
        self.chunk_delay = chunk_delay  # seconds between streamed pieces
        self.health_status = 200  # the status of the model-list endpoint
        self.port = port
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, JSON body)
        self.headers: list[dict[str, str]] = []
        self._script: deque[Fault | Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: _Http | None = None
        self._thread: threading.Thread | None = None

    # --- control -------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL a cascade provider is configured with."""
        return self.root

    def script(self, *items: Fault | Reply) -> None:
        """The next chat requests take these, in order, before falling back to ``fault``/``reply``."""
        with self._lock:
            self._script.extend(items)

    @property
    def chat_count(self) -> int:
        with self._lock:
            return sum(1 for method, _, _ in self.requests if method == "POST")

    def start(self) -> FakeModelServer:
        """Listen (again, on the same port once it had one)."""
        self._stopping.clear()
        self._http = _Http(self.port, self)
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name=f"fake-{self.kind}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: the port refuses connections; slow answers in flight are abandoned."""
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving -------------------------------------------------------------------------------

    def _next(self) -> Fault | Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.fault

    def handle_get(self, handler: _Handler) -> None:
        with self._lock:
            self.requests.append(("GET", handler.path, {}))
        body = self.model_list()
        handler.send_json(self.health_status, body if self.health_status == 200 else {"error": "unavailable"})

    def handle_post(self, handler: _Handler, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            handler.send_json(400, {"error": "invalid JSON body"})
            return
        with self._lock:
            self.requests.append(("POST", handler.path, body))
            self.headers.append({k.lower(): v for k, v in handler.headers.items()})
        if handler.path != self.chat_path:
            handler.send_json(404, {"error": f"no route {handler.path}"})
            return
        item = self._next()
        model = str(body.get("model", ""))
        if item is Fault.NONE or isinstance(item, Reply):
            if model not in self.models:
                item = Fault.MODEL_NOT_FOUND
            elif self.context_tokens is not None and _prompt_tokens(body) > self.context_tokens:
                item = Fault.CONTEXT_LENGTH
        if item is Fault.SLOW_FIRST_BYTE:
            if self._stopping.wait(self.delay):
                return
            item = self.reply
        reply = item if isinstance(item, Reply) else self.reply
        fault = item if isinstance(item, Fault) else Fault.NONE
        if fault in (Fault.BUSY, Fault.RATE_LIMITED):
            status = 503 if fault is Fault.BUSY else 429
            handler.send_json(status, self.error_body(fault, model), {"Retry-After": f"{self.retry_after:g}"})
        elif fault in _STATUS:
            handler.send_json(_STATUS[fault], self.error_body(fault, model, handler.headers.get("Authorization")))
        elif body.get("stream", self.kind == "ollama"):
            self.stream(handler, reply, fault, model, body)
        elif fault is Fault.MALFORMED_JSON:
            handler.send_bytes(200, b'{"model": "' + model.encode() + b'", "message": {', "application/json")
        else:
            handler.send_json(200, self.whole(reply, model))

    def stream(self, handler: _Handler, reply: Reply, fault: Fault, model: str, body: dict[str, Any]) -> None:
        handler.start_chunks(self.stream_type)
        try:
            if fault is Fault.MALFORMED_JSON:
                handler.chunk(b"{this is not json\n")
            elif fault is Fault.ERROR_BEFORE_FIRST_TOKEN:
                handler.chunk(self.encode(self.error_event(model)))
            else:
                for index, data in enumerate(self.events(reply, model, body)):
                    if index and self.chunk_delay and self._stopping.wait(self.chunk_delay):
                        return
                    handler.chunk(self.encode(data))
                    if index == self.first_token_event and fault is Fault.ERROR_AFTER_FIRST_TOKEN:
                        handler.chunk(self.encode(self.error_event(model)))
                        break
                    if index == self.first_token_event and fault is Fault.CUT_AFTER_FIRST_TOKEN:
                        handler.close_connection = True
                        return  # no terminating chunk: the client sees the stream break
                else:
                    handler.chunk(self.end_marker)
            handler.end_chunks()
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    # --- per protocol --------------------------------------------------------------------------

    chat_path = ""
    stream_type = ""
    end_marker = b""
    first_token_event = 0  # the index of the first streamed event that carries a token

    def model_list(self) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, fault: Fault, model: str, authorization: str | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def error_event(self, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, reply: Reply, model: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def whole(self, reply: Reply, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def encode(self, data: dict[str, Any]) -> bytes:
        raise NotImplementedError


_STATUS = {
    Fault.SERVER_ERROR: 500,
    Fault.MODEL_NOT_FOUND: 404,
    Fault.CONTEXT_LENGTH: 400,
    Fault.UNAUTHORIZED: 401,
}


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages") or []
    return sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict)) // 4 + 1
