"""``GET /cascade`` (providers, models, breakers), ``GET /provenance`` (browse the chain, ``/provenance/verify``
recomputes it) and ``GET /mesh`` (hosts, lease, heartbeats, Syncthing): what ``uni-wizard cascade status``,
``uni-wizard provenance`` and ``uni-wizard mesh status`` show, as pages; the cascade and mesh parts refresh
every 2 s through their ``/fragment``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ...errors import ProvenanceBroken, RecordNotFound
from ...harness.provenance import ProvenanceLog, ProvenanceRecord
from ..auth import Identity
from .common import dashboard_of, page_identity, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PER_PAGE = 50


def _cascade(request: Request) -> dict[str, Any]:
    status = dashboard_of(request).cascade
    return {"cascade": None if status is None else status()}


@router.get("/cascade")
def cascade_page(request: Request, who: Identity = Depends(page_identity)) -> Response:
    """Every provider: kind, locality, models, breaker state, failures, last error, latency, last probe."""
    return render(request, "cascade.html", who, "cascade", **_cascade(request))


@router.get("/cascade/fragment")
def cascade_fragment(request: Request, who: Identity = Depends(page_identity)) -> Response:
    return render(request, "cascade_fragment.html", who, "cascade", **_cascade(request))


async def _mesh(request: Request) -> dict[str, Any]:
    view = dashboard_of(request).mesh
    return {"mesh": None if view is None else await view()}


@router.get("/mesh")
async def mesh_page(request: Request, who: Identity = Depends(page_identity)) -> Response:
    """The hosts of the mesh: houses, roles, health, heartbeat age, lease holder and epoch, Syncthing."""
    return render(request, "mesh.html", who, "mesh", **(await _mesh(request)))


@router.get("/mesh/fragment")
async def mesh_fragment(request: Request, who: Identity = Depends(page_identity)) -> Response:
    return render(request, "mesh_fragment.html", who, "mesh", **(await _mesh(request)))


def _pretty(text: str | None) -> str:
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _page(log: ProvenanceLog, before: int | None) -> list[ProvenanceRecord]:
    if before is None:
        return list(reversed(log.tail(PER_PAGE)))
    rows = log.store.query("SELECT id FROM provenance WHERE id < ? ORDER BY id DESC LIMIT ?", (before, PER_PAGE))
    return [log.get(int(row[0])) for row in rows]


@router.get("/provenance")
def provenance_page(
    request: Request,
    before: int | None = Query(None, ge=1, description="Records with a smaller id (the next page)."),
    record: int | None = Query(None, ge=1, description="One record in full."),
    who: Identity = Depends(page_identity),
) -> Response:
    """The provenance records, newest first, ``PER_PAGE`` a page; ``?record=ID`` shows one in full."""
    log = ProvenanceLog(dashboard_of(request).runtime.store)
    shown: dict[str, Any] | None = None
    problem = ""
    if record is not None:
        try:
            full = asdict(log.get(record))
        except RecordNotFound as exc:
            problem = str(exc)
        else:
            shown = {k: _pretty(v) if k.endswith("_json") else v for k, v in full.items()}
    records = _page(log, before)
    context = {"records": records, "shown": shown, "problem": problem, "count": log.count(), "per_page": PER_PAGE}
    return render(request, "provenance.html", who, "provenance", **context)


@router.get("/provenance/verify")
async def provenance_verify(request: Request, who: Identity = Depends(page_identity)) -> Response:
    """Recompute the whole hash chain (``uni-wizard provenance verify``): how many verified, or the first broken."""
    log = ProvenanceLog(dashboard_of(request).runtime.store)
    try:
        verdict = {"ok": True, "count": await asyncio.to_thread(log.verify), "broken": ""}
    except ProvenanceBroken as exc:
        verdict = {"ok": False, "count": 0, "broken": str(exc)}
    context = {"records": _page(log, None), "shown": None, "problem": "", "count": log.count(), "per_page": PER_PAGE}
    return render(request, "provenance.html", who, "provenance", verdict=verdict, **context)
