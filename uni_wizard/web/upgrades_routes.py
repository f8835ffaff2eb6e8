"""``GET /api/v1/upgrades``: the self-upgrade queue of this host's store, newest first.

    app = create_app(runtime, routers=[upgrades_router(upgrade_records(runtime), api_token="...")])

``?state=proposed`` (repeatable) keeps only those states. Each upgrade carries its state, recorded head
sha, diff sha256, files, risk, merge sha, what it waits for (``note``) and its whole history (from, to,
head, actor, reason, at). Titles, authors, paths and reasons are not for everyone: the same bearer token
as ``/api/v1/events`` is required (503 when no token is configured, 401 without it); 422 for an unknown
state.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query

from ..upgrade.records import UpgradeStore
from ..upgrade.states import State

__all__ = ["upgrades_router"]


def upgrades_router(records: UpgradeStore, *, api_token: str | None) -> APIRouter:
    router = APIRouter()

    def authorize(authorization: str | None) -> None:
        if not api_token:
            raise HTTPException(503, "the upgrades API is off: set api_token (or api_token_file) in the settings")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), api_token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @router.get("/api/v1/upgrades")
    def list_upgrades(
        state: list[State] | None = Query(None, description="Only upgrades in these states (repeatable)."),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        """Every upgrade with its state, head sha, diff hash and history."""
        authorize(authorization)
        upgrades = records.list(state or (), with_history=True)
        return {"upgrades": [upgrade.as_dict() for upgrade in upgrades]}

    return router
