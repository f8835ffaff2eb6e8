"""``GET /api/v1/memory/search``: what ``uni-wizard memory search`` shows, over HTTP, behind the API token.

    app = create_app(runtime, api_token="...")   # mounts memory_router(runtime, api_token=...)

``?q=TEXT`` (with ``&repo=owner/name`` and ``&limit=N``, 1..100) answers the documents of the forge's memory
that match TEXT best (FTS5 BM25), each with its forge link. 503 when no token is configured, 401 without it,
422 for an empty or over-long query. ``memory_probe`` is the memory's line of ``/ready``: the search it serves
and whether vector search is available.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query

from ..harness.runtime import Runtime
from ..memory import MemoryIndex, vectors_status

__all__ = ["memory_probe", "memory_router"]


def memory_probe(runtime: Runtime) -> Callable[[], Mapping[str, Any]]:
    """``/ready``'s ``memory`` component: FTS5 always, vectors when available, and how many documents."""

    def probe() -> Mapping[str, Any]:
        return {**vectors_status(), "documents": MemoryIndex(runtime.store).count()}

    return probe


def memory_router(runtime: Runtime, *, api_token: str | None) -> APIRouter:
    router = APIRouter()

    def authorize(authorization: str | None) -> None:
        if not api_token:
            raise HTTPException(503, "the memory API is off: set api_token (or api_token_file) in the settings")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), api_token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @router.get("/api/v1/memory/search")
    def memory_search(
        q: str = Query(..., min_length=1, max_length=4_000, description="What to look for."),
        repo: str | None = Query(None, max_length=200, description="Only this repository (owner/name)."),
        limit: int = Query(10, ge=1, le=100, description="How many results at most."),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        """The memory's documents best matching ``q``, best first, with their forge links."""
        authorize(authorization)
        hits = MemoryIndex(runtime.store).search(q, repo=repo, limit=limit)
        status = vectors_status()
        return {"search": status["search"], "vectors": status["vectors"], "results": [h.as_dict() for h in hits]}

    return router
