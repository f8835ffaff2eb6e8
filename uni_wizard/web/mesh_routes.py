"""``GET /api/v1/mesh``: the mesh as this host sees it (``uni_wizard/mesh/status.py``).

    app = create_app(runtime, routers=[mesh_router(node.view)], readiness={"mesh": node.readiness})

The answer is the same JSON as ``uni-wizard mesh status --json``: ``host``, ``lease``, ``syncthing``,
``spool``, ``conflicts`` and ``hosts`` (per host: houses, roles, lease holder and epoch, health, heartbeat
age, Syncthing state, telemetry counts). It is read from what the background loops last saw, so it
answers at once; it holds no secret and, like ``/ready``, needs no token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..mesh.status import MeshView

__all__ = ["mesh_router"]


def mesh_router(view: MeshView) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/mesh")
    def mesh() -> dict[str, Any]:
        """Per host: houses, roles, lease holder and epoch, heartbeat age, health, Syncthing state."""
        return view.snapshot()

    return router
