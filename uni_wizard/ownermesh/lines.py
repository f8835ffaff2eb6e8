"""The line ``up`` prints for an event of a daemon's log: who did what to which issue or pull request.

    12:03:04  allegro  routed owner/work#1 to bezalel (bug, P2)
    12:03:06  bezalel  claimed owner/work#1
    12:03:15  bezalel  opened PR owner/work#2 for #1, with proof (success)
    12:03:18  timmy    pre-reviewed PR owner/work#2: ready for the owner's approval
    12:03:18  timmy    blocked the merge of PR owner/work#2: no approval yet: owner or timmy must approve head ...
    12:03:29  timmy    tested owner/work#2, #3 together on main: passed (1.2 s)
    12:03:30  timmy    merged PR owner/work#2 (approved by owner)

Only what a person follows has a line (``KINDS``); sweeps, leases and webhooks do not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["KINDS", "event_line", "stamp"]

_VERDICTS = {
    "approved": "approved PR {where}",
    "changes_requested": "asked for changes on PR {where}",
    "escalated": "escalated PR {where} to the owner",
    "pre_reviewed": "pre-reviewed PR {where}: ready for the owner's approval",
    "held": "held PR {where}: its tests wait for the owner's approval of the head",
}


def stamp(at: str | None) -> str:
    """The event's time (UTC, as the store writes it) as local ``HH:MM:SS``; now when it cannot be read."""
    try:
        when = dt.datetime.fromisoformat((at or "").replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone().strftime("%H:%M:%S")
    except ValueError:
        return dt.datetime.now().strftime("%H:%M:%S")


def _routed(where: str, data: Mapping[str, Any]) -> str:
    house = data.get("house")
    if not house:
        return f"held {where} in triage: no house may take it now"
    if data.get("override"):
        return f"routed {where} to {house} (/route by {data.get('by') or 'the owner'})"
    details = ", ".join(str(data[k]) for k in ("kind", "priority") if data.get(k))
    return f"routed {where} to {house}" + (f" ({details})" if details else "")


def _pr_number(url: Any) -> str | None:
    tail = str(url or "").rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None


def _finished(where: str, data: Mapping[str, Any]) -> str | None:
    status = data.get("status")
    if status == "review":
        number = _pr_number(data.get("pr"))
        repository, _, issue = where.partition("#")
        pr = f"PR {repository}#{number}" if number else "a PR"
        proof = data.get("proof")
        if proof is None:
            return f"opened {pr} for #{issue}, without proof (its house's policy does not ask for it)"
        return f"opened {pr} for #{issue}, with proof ({proof})"
    if status == "done":
        return f"done with {where}: report posted"
    why = str(data.get("reason") or "")
    if status == "blocked":
        return f"blocked on {where}: {why or 'it needs a person'} (see its last comment)"
    if status in ("failed", "error"):
        return f"failed on {where}" + (f": {why}" if why else "") + " (see its last comment)"
    return None


def _command(where: str, data: Mapping[str, Any], refused: bool) -> str:
    commands = ", ".join(str(c) for c in data.get("commands") or ()) or "a command"
    who = data.get("author") or "someone"
    return f"refused {commands} by {who} on {where}" if refused else f"{commands} by {who} on {where}: done"


def _reviewed(where: str, data: Mapping[str, Any]) -> str:
    verdict = str(data.get("verdict") or "")
    return _VERDICTS.get(verdict, f"reviewed PR {where}: {verdict}").format(where=where)


def _blocked(where: str, data: Mapping[str, Any]) -> str:
    reasons = [str(r) for r in data.get("reasons") or ()] or ["no reason given"]
    return f"blocked the merge of PR {where}: " + "; ".join(reasons)


def _merged(where: str, data: Mapping[str, Any]) -> str:
    approver = data.get("approved_by")
    return f"merged PR {where}" + (f" (approved by {approver})" if approver else "")


def _tested(where: str, data: Mapping[str, Any]) -> str:
    repository = where.partition("#")[0]
    pulls = ", ".join(f"#{n}" for n in data.get("pulls") or ()) or "a batch"
    took = f" ({data['took']})" if data.get("took") else ""
    return f"tested {repository}{pulls} together on {data.get('base_ref') or 'its branch'}: {data.get('verdict')}{took}"


def _rejected(where: str, data: Mapping[str, Any]) -> str:
    return f"asked for changes on PR {where}: merged with the others it breaks its branch (the merge queue's test)"


_LINES: dict[str, Callable[[str, Mapping[str, Any]], str | None]] = {
    "issue.routed": _routed,
    "issue.claimed": lambda where, data: f"claimed {where}",
    "issue.requeued": lambda where, data: f"requeued {where}: its claim lapsed",
    "work.finished": _finished,
    "pull.reviewed": _reviewed,
    "pull.blocked": _blocked,
    "pull.merged": _merged,
    "pull.rejected": _rejected,
    "queue.tested": _tested,
    "command.handled": lambda where, data: _command(where, data, refused=False),
    "command.refused": lambda where, data: _command(where, data, refused=True),
}
KINDS = tuple(_LINES)
"""The event kinds that make a line."""


def event_line(daemon: str, event: Mapping[str, Any]) -> str | None:
    """The line for ``event`` (as the events API answers it) of ``daemon``; None for a kind without one."""
    render = _LINES.get(str(event.get("kind")))
    if render is None:
        return None
    where = f"{event.get('repository') or '?'}#{event.get('number') or '?'}"
    what = render(where, event.get("data") or {})
    return f"{stamp(event.get('at'))}  {daemon:<8} {what}" if what else None
