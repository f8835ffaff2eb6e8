"""``GET /api/v1/cascade``: the model cascade's providers, as ``uni-wizard cascade status --json`` shows them.

No bearer token: it carries no secret (API keys are never shown, only where they are read from) and the
daemon listens on loopback by default, like ``/ready``, which shows the same breaker states.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..cascade.cascade import Cascade

__all__ = ["cascade_router"]


def cascade_router(cascade: Cascade) -> APIRouter:
    """The router to pass to ``create_app(routers=[...])``."""
    router = APIRouter()

    @router.get("/api/v1/cascade")
    def cascade_status() -> dict[str, Any]:
        """Every configured provider: kind, URL, locality, policy verdict, models, breaker state, recent
        failures, last error, p50 latency of recent successes, last health probe."""
        return cascade.status()

    return router
