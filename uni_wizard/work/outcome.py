"""A finished attempt, recorded for routing: in this host's ``house_outcomes`` and as a ``house.outcome``
event, which the spool exports to this host's telemetry so that every other host imports it too
(``mesh/outcomes.py``).

The two writes are separate transactions, the row first: a crash between them leaves the outcome in
this host's history only. The event's key names the attempt (issue, house, start), so a retried emit
logs nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable

from ..dispatch.history import RoutingLedger, outcome_data
from ..observe.events import EventKind, EventLog

__all__ = ["outcome_key", "record_outcome"]


def outcome_key(repository: str, number: int, house: str, started: float) -> str:
    """The idempotency key of one attempt's ``house.outcome`` event."""
    return f"outcome:{repository}#{number}:{house}:{started:.3f}"


async def record_outcome(
    ledger: RoutingLedger,
    events: EventLog,
    *,
    house: str,
    kind: str,
    repository: str,
    number: int,
    success: bool,
    started: float,
    clock: Callable[[], float],
) -> None:
    """Record the attempt of ``house`` on ``repository#number`` (of ``kind``) that began at ``started`` (on
    ``clock``) in ``ledger`` and as an event of ``events``."""
    duration = max(0.0, clock() - started)
    ledger.record_outcome(house, kind, repository, number, success=success, duration=duration)
    await events.emit(
        EventKind.HOUSE_OUTCOME,
        outcome_key(repository, number, house, started),
        repository=repository,
        number=number,
        data=outcome_data(house, kind, repository, number, success=success, duration=duration),
    )
