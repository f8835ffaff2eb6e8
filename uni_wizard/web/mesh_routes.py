"""``GET /api/v1/mesh``: the mesh as this host sees it (``uni_wizard/mesh/status.py``).

    app = create_app(runtime, routers=[mesh_router(node.view)], readiness={"mesh": node.readiness})
    mesh_router(node.view, refresh=node.lease.refresh)   # a mesh of one: the lease read from the store per request

The answer is the same JSON as ``uni-wizard mesh status --json``: ``host``, ``lease``, ``syncthing``,
``spool``, ``conflicts`` and ``hosts`` (per host: houses, roles, lease holder and epoch, health, heartbeat
age, Syncthing state, telemetry counts). With a mesh file it is read from what the background loops last saw,
so it answers at once; a daemon without one (a mesh of one) answers with its own row and its store's lease,
read when asked (``refresh``). It holds no secret and, like ``/ready``, needs no token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter

from ..mesh.status import MeshView

__all__ = ["mesh_router"]


def mesh_router(view: MeshView, *, refresh: Callable[[], Awaitable[None]] | None = None) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/mesh")
    async def mesh() -> dict[str, Any]:
        """Per host: houses, roles, lease holder and epoch, heartbeat age, health, Syncthing state."""
        if refresh is not None:
            await refresh()
        return view.snapshot()

    return router
