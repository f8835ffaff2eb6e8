"""``GET /approvals``: pending sovereign approvals (with the exact arguments) and the upgrade queue; the owner's
forms ``POST /approvals/{id}`` and ``POST /upgrades/{number}`` decide.

A decision is the owner's: a viewer gets 403, a form without its CSRF token 403 (``auth.py``). An approval is
approved or rejected with ``ApprovalQueue.approve|reject(actor=<settings owner>)``, exactly as
``uni-wizard approvals approve ID --by <owner>`` records it; an upgrade through ``Dashboard.decide_upgrade``,
the code path of ``uni-wizard upgrades approve|reject`` (the sovereign's approval on the forge, at the recorded
head). A refused decision (not pending, head moved, proof not green...) is shown on the page, nothing changed.
Form fields: ``csrf``, ``decision`` (``approve`` or ``reject``), ``note`` (an approval's) or ``reason`` (an
upgrade's; a rejection needs one).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import ApprovalError, RecordNotFound, UniWizardError, UpgradeError
from ...harness.approvals import ApprovalState
from ...observe.events import EventLog
from ..auth import Identity, check_csrf
from .common import dashboard_of, page_identity, read_form, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
DEPLOY_EVENTS = 500  # the latest deploy.* events read for the per-host deploy status


def _deploys(log: EventLog) -> dict[int, dict[str, Any]]:
    """Per upgrade number, per host: the latest deploy event (``deploy.started|applied|failed``)."""
    latest: dict[int, dict[str, Any]] = {}
    kinds = ["deploy.started", "deploy.applied", "deploy.failed"]
    for event in log.recent(DEPLOY_EVENTS, kinds):
        if event.number is not None:
            latest.setdefault(event.number, {})[event.host] = event
    return latest


@router.get("/approvals")
def approvals_page(request: Request, who: Identity = Depends(page_identity)) -> Response:
    """Pending approvals and the upgrade queue (newest first), with the forms to decide."""
    dashboard = dashboard_of(request)
    runtime = dashboard.runtime
    upgrades = dashboard.upgrades.list(with_history=True) if dashboard.upgrades is not None else None
    context = {
        "approvals": runtime.approvals.find(ApprovalState.PENDING),
        "upgrades": upgrades,
        "deploys": _deploys(EventLog(runtime.store, runtime.host)),
        "can_decide_upgrades": dashboard.decide_upgrade is not None,
        "escalations": None if dashboard.escalations is None else list(dashboard.escalations()),
        "message": request.query_params.get("message", "")[:500],
        "error": request.query_params.get("error", "")[:500],
    }
    return render(request, "approvals.html", who, "approvals", **context)


async def _owner_form(request: Request, who: Identity) -> dict[str, str]:
    form = await read_form(request)
    check_csrf(request, who, form.get("csrf"))
    if not who.is_owner:
        raise HTTPException(403, "viewers may look, not decide: log in with the API token")
    decision = form.get("decision", "")
    if decision not in ("approve", "reject"):
        raise HTTPException(422, "decision must be approve or reject")
    return form


def _back(*, message: str = "", error: str = "") -> Response:
    query = f"message={quote(message)}" if message else f"error={quote(error)}"
    return RedirectResponse(f"/approvals?{query}", status_code=303)


@router.post("/approvals/{approval_id}")
async def decide_approval(
    request: Request, approval_id: int = Path(ge=1), who: Identity = Depends(page_identity)
) -> Response:
    """Approve or reject a pending approval as the owner."""
    form = await _owner_form(request, who)
    queue = dashboard_of(request).runtime.approvals
    decide = queue.approve if form["decision"] == "approve" else queue.reject
    try:
        decided = decide(approval_id, actor=who.name, note=form.get("note", "").strip()[:500])
    except (ApprovalError, RecordNotFound) as exc:
        return _back(error=str(exc))
    return _back(
        message=f"approval {decided.id} {decided.state} by {decided.decided_by}: {decided.house} {decided.tool}"
    )


@router.post("/upgrades/{number}")
async def decide_upgrade(
    request: Request, number: int = Path(ge=1), who: Identity = Depends(page_identity)
) -> Response:
    """Approve or reject an upgrade as the sovereign does, on the owner's word."""
    form = await _owner_form(request, who)
    decide = dashboard_of(request).decide_upgrade
    if decide is None:
        raise HTTPException(503, "this daemon does not hold the upgrade queue (the reviewer's host does)")
    approve = form["decision"] == "approve"
    try:
        upgrade = await decide(number, approve, form.get("reason", "").strip()[:500])
    except (UpgradeError, RecordNotFound) as exc:
        return _back(error=str(exc))
    except UniWizardError as exc:  # the forge away, a configuration mistake: said, nothing decided here
        return _back(error=f"upgrade #{number} not decided: {exc}")
    return _back(message=f"upgrade #{upgrade.number} {upgrade.state.value} (head {upgrade.head_sha[:10]})")
