"""``GET /now`` (and ``/``): the Now snapshot of this host; ``GET /now/fragment`` is what HTMX re-fetches every 2 s.

The snapshot is the one ``uni-wizard houses --now`` prints (``assembly/now.py`` ``take_now``, given by the
composition as ``Dashboard.now``): nothing is recomputed here. ``GET /api/v1/now`` answers its JSON
(``NowSnapshot.as_dict``) for the owner or a viewer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from ...dispatch.line_view import format_age
from ...observe.now import NowSnapshot
from ..auth import Identity, viewer
from .common import dashboard_of, page_identity, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


async def _snapshot(request: Request) -> NowSnapshot | None:
    take = dashboard_of(request).now
    return None if take is None else await take()


def _utc(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%H:%M:%S UTC")


def _context(request: Request, snapshot: NowSnapshot | None) -> dict[str, Any]:
    dashboard = dashboard_of(request)
    queue = None if dashboard.merge_queue is None else list(dashboard.merge_queue())
    return {"snapshot": snapshot, "age": format_age, "utc": _utc, "queue": queue}


@router.get("/")
def home(_who: Identity = Depends(page_identity)) -> Response:
    return RedirectResponse("/now", status_code=303)


@router.get("/now")
async def now_page(request: Request, who: Identity = Depends(page_identity)) -> Response:
    """Each house: its work this minute, queue and room; the lease; the peers; the open breakers."""
    return render(request, "now.html", who, "now", **_context(request, await _snapshot(request)))


@router.get("/now/fragment")
async def now_fragment(request: Request, who: Identity = Depends(page_identity)) -> Response:
    return render(request, "now_fragment.html", who, "now", **_context(request, await _snapshot(request)))


@router.get("/api/v1/now", include_in_schema=True)
async def now_json(request: Request, _who: Identity = Depends(viewer)) -> dict[str, Any]:
    """The Now snapshot as JSON (``uni-wizard houses --now --json``); 404 when this daemon has none."""
    snapshot = await _snapshot(request)
    if snapshot is None:
        raise HTTPException(404, "this daemon serves no Now view")
    return snapshot.as_dict()
