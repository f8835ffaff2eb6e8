"""Serve an ASGI app with uvicorn from a background thread, on a real loopback socket.

Used by the devforge's test server, the demo and the tests that need a daemon over real HTTP:

    with ThreadedServer(app, name="daemon") as server:
        httpx.get(server.url + "/health")

The socket is created with ``IPPROTO_TCP``, not 0: asyncio turns ``TCP_NODELAY`` on only for
connections accepted from such a socket, and without it every answer (headers and body written
separately by uvicorn) waits about 40 ms for the client's delayed ACK.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """``app`` on ``host:port`` (``port=0``: an ephemeral port), served from a daemon thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "server") -> None:
        self.name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", interface="asgi3"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=name, daemon=True
        )

    def start(self, timeout: float = 20.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start within {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
