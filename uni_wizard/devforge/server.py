"""Run the devforge with uvicorn: ``run`` (blocking), ``serve`` (async) and ``start_in_thread`` (tests).

url, stop = start_in_thread(Path("/tmp/forge"), admin=("root", "pw"))
...  # talk to url + "api/v1/..." exactly as to Gitea
stop()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from ..threaded_server import ThreadedServer
from .app import create_app
from .core import Faults, Forge
from .db import Clock

__all__ = ["DevforgeServer", "run", "serve", "start_in_thread"]


def _default_root(host: str, port: int) -> str:
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    return f"http://{shown}:{port}/"


def run(data_dir: Path, host: str, port: int, admin: tuple[str, str], root_url: str | None = None) -> None:
    """Serve until interrupted (what ``uni-wizard forge serve`` calls)."""
    app = create_app(Path(data_dir), admin, root_url or _default_root(host, port))
    uvicorn.run(app, host=host, port=port, log_level="info")


async def serve(data_dir: Path, host: str, port: int, admin: tuple[str, str], root_url: str | None = None) -> None:
    """The async variant of ``run``: serve inside the caller's event loop until cancelled."""
    app = create_app(Path(data_dir), admin, root_url or _default_root(host, port))
    await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info")).serve()


class DevforgeServer:
    """A devforge serving from a background thread on a real socket (``port=0``: an ephemeral port)."""

    def __init__(
        self,
        data_dir: Path,
        admin: tuple[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        root_url: str | None = None,
        clock: Clock = time.time,
        faults: Faults | None = None,
    ) -> None:
        # the ROOT_URL names the port, which is known only once the socket is bound: build the app lazily
        self._server = ThreadedServer(self._lazy_app, host=host, port=port, name="devforge")
        self.port = self._server.port
        self.url = root_url or _default_root(host, self.port)
        self.app: FastAPI = create_app(Path(data_dir), admin, self.url, clock, faults=faults)

    async def _lazy_app(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @property
    def forge(self) -> Forge:
        forge: Forge = self.app.state.forge
        return forge

    @property
    def api(self) -> str:
        return self.url + "api/v1"

    def start(self, timeout: float = 10.0) -> DevforgeServer:
        self._server.start(timeout)
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> DevforgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    data_dir: Path,
    admin: tuple[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    root_url: str | None = None,
    clock: Clock = time.time,
    faults: Faults | None = None,
) -> tuple[str, Callable[[], None]]:
    """Start a devforge in a thread; returns its ROOT_URL (API at ``url + "api/v1"``) and a stop function."""
    server = DevforgeServer(data_dir, admin, host=host, port=port, root_url=root_url, clock=clock, faults=faults)
    server.start()
    return server.url, server.stop
