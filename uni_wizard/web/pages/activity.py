"""``GET /activity``: the event log, newest first, filtered by house, kind and issue; live through the feed.

The first page is read here, filtered server-side (``?house=&kind=&issue=``: ``kind`` repeatable, ``issue`` as
``owner/repo#12`` or ``12``); ``static/activity.js`` then follows ``GET /ws/events?since=<last seq>`` (the
WebSocket feed, ``web/feed.py``) with the session cookie and adds each new line that passes the same
filters at the top. Each line links to the issue or pull request on the forge and to its Issue page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ...errors import EventRejected
from ...observe.events import Event, EventLog
from ..auth import Identity
from .common import dashboard_of, page_identity, render

__all__ = ["EventFilter", "router", "summary"]

router = APIRouter(include_in_schema=False)
SHOWN = 200  # lines on the first page
SCANNED = 5000  # newest events looked at for a filtered first page
ISSUE = re.compile(r"^(?:(?P<repo>[\w.-]+/[\w.-]+))?#?(?P<number>\d+)$")


@dataclass(frozen=True)
class EventFilter:
    """The Activity page's filters; empty fields match everything."""

    house: str = ""
    kinds: tuple[str, ...] = ()
    repository: str = ""
    number: int | None = None

    @classmethod
    def parse(cls, house: str, kinds: Sequence[str], issue: str) -> EventFilter:
        match = ISSUE.match(issue.strip())
        return cls(
            house=house.strip(),
            kinds=tuple(k.strip() for given in kinds for k in given.split(",") if k.strip()),
            repository=(match.group("repo") or "") if match else "",
            number=int(match.group("number")) if match else None,
        )

    def matches(self, event: Event) -> bool:
        if self.kinds and event.kind not in self.kinds:
            return False
        if self.house and self.house not in (event.data.get("house"), event.host):
            return False
        if self.number is not None and event.number != self.number:
            return False
        return not self.repository or event.repository == self.repository


def summary(event: Event, limit: int = 240) -> str:
    """The event's data on one line, cut at ``limit`` characters."""
    text = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))  # as activity.js shows a live line
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_page(log: EventLog, wanted: EventFilter) -> tuple[list[Event], int]:
    head = log.last_seq()
    scanned: Iterable[Event] = log.recent(SCANNED, wanted.kinds or None, until=head)
    shown = [e for e in scanned if wanted.matches(e)][-SHOWN:]
    return list(reversed(shown)), head


@router.get("/activity")
def activity(
    request: Request,
    house: str = Query("", max_length=64),
    kind: list[str] = Query([], max_length=20),
    issue: str = Query("", max_length=200),
    who: Identity = Depends(page_identity),
) -> Response:
    """The latest events that pass the filters, and the live feed after them."""
    runtime = dashboard_of(request).runtime
    wanted = EventFilter.parse(house, kind, issue)
    problem = ""
    try:
        events, head = _first_page(EventLog(runtime.store, runtime.host), wanted)
    except EventRejected as exc:  # a malformed kind
        events, head, problem = [], 0, str(exc)
    context: dict[str, Any] = {
        "events": events,
        "head": head,
        "wanted": wanted,
        "filters": {"house": house, "kind": ",".join(wanted.kinds), "issue": issue},
        "summary": summary,
        "problem": problem,
    }
    return render(request, "activity.html", who, "activity", **context)
