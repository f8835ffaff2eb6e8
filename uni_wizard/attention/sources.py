"""What escalates by itself: events of the host's log that need the owner become escalations.

- ``deploy.failed`` (the reconciler rolled an upgrade back): category ``upgrade``, kind ``upgrade.rolled_back``;
- ``peer.left`` (a peer stopped answering): ``peer``, ``peer.down``;
- ``issue.routed`` with priority ``P0``: ``issue``, ``issue.p0``.

These three kinds are urgent by default (``escalation_urgent``): the owner is mentioned at once. Each event is
escalated once (its key names the event's ``seq``); a restart follows on from the last event escalated (a first
start from the log's end: the past is the briefing's, not a flood of mentions).

    await follow_events(escalations, stop)
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import UniWizardError
from ..observe.events import Event, EventLog
from .escalations import Escalations

__all__ = ["KINDS", "escalation_of", "follow_events"]

KINDS = ("deploy.failed", "peer.left", "issue.routed")
_PREFIX = "event:"

log = logging.getLogger(__name__)


def escalation_of(event: Event) -> tuple[str, str, str] | None:
    """The (category, kind, title) ``event`` escalates as, None when it does not need the owner."""
    data = event.data
    where = f"{event.repository}#{event.number}" if event.repository and event.number is not None else ""
    if event.kind == "deploy.failed":
        reason = str(data.get("reason") or "failed")[:200]
        return "upgrade", "upgrade.rolled_back", f"upgrade {where} failed on {event.host}: {reason}"
    if event.kind == "peer.left":
        return "peer", "peer.down", f"peer {data.get('peer', '?')} stopped answering (seen from {event.host})"
    if event.kind == "issue.routed" and data.get("priority") == "P0":
        return "issue", "issue.p0", f"P0 issue {where} routed to {data.get('house') or 'nobody'}"
    return None


def _cursor(desk: Escalations, events: EventLog) -> int:
    rows = desk.store.query(
        "SELECT max(CAST(substr(key, ?) AS INTEGER)) FROM attention_escalations WHERE key LIKE ?",
        (len(_PREFIX) + 1, _PREFIX + "%"),
    )
    last = rows[0][0] if rows else None
    return int(last) if last is not None else events.last_seq()


async def follow_events(desk: Escalations, stop: asyncio.Event, *, poll: float = 1.0) -> None:
    """Escalate each event of ``KINDS`` that needs the owner, as it is logged, until ``stop``."""
    events = EventLog(desk.store, desk.host)
    async for event in events.follow(_cursor(desk, events), poll, stop, kinds=KINDS):
        found = escalation_of(event)
        if found is None:
            continue
        category, kind, title = found
        try:
            await desk.escalate(
                category, kind, title, key=f"{_PREFIX}{event.seq}", repository=event.repository, number=event.number
            )
        except UniWizardError as exc:  # recorded; the mention is retried by the desk's next tick
            log.warning("escalation of event %d: %s: %s", event.seq, type(exc).__name__, exc)
