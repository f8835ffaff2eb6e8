"""``GET /issues/{owner}/{repo}/{number}``: one issue's path through the mesh, on one page.

The story the forge thread tells, from this host's records: every event of the issue (triage and routing with
every score the dispatcher logged, claims, requeues, the worker's ``work.finished`` with its PR and proof),
then every event of the pull requests it opened (review verdicts, merge queue, merge, upgrade states, each
host's deploy), oldest first; and the Harness's provenance records of the task ``owner/repo#N`` (each step:
its id, house, tool, status, duration, attempts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from ...harness.provenance import ProvenanceLog
from ...observe.events import Event
from ...store import Store
from ..auth import Identity
from .common import dashboard_of, page_identity, render

__all__ = ["pull_numbers", "router"]

router = APIRouter(include_in_schema=False)
MAX_EVENTS = 2000  # of one issue or pull request
MAX_STEPS = 2000
NAME = r"^[A-Za-z0-9_.-]{1,100}$"
PULL_URL = re.compile(r"/pulls/(\d+)/?$")
STAGES = {
    "issue": "triage and routing",
    "command": "commands",
    "work": "work",
    "house": "work",
    "pull": "review and merge",
    "queue": "review and merge",
    "upgrade": "upgrade",
    "deploy": "deploy",
}


@dataclass(frozen=True)
class PathLine:
    """One event of the issue's path, with the stage it belongs to and the PR it is about (None: the issue)."""

    event: Event
    stage: str
    pull: int | None


def _events(store: Store, repository: str, number: int) -> list[Event]:
    rows = store.query(
        "SELECT * FROM events WHERE repository = ? AND number = ? ORDER BY seq LIMIT ?",
        (repository, number, MAX_EVENTS),
    )
    return [Event.from_row(row) for row in rows]


def pull_numbers(events: Iterable[Event]) -> list[int]:
    """The pull requests the issue's ``work.finished`` events name (``data.pr``, a forge URL), in order."""
    found: list[int] = []
    for event in events:
        url = event.data.get("pr")
        match = PULL_URL.search(url) if isinstance(url, str) else None
        if match and int(match.group(1)) not in found:
            found.append(int(match.group(1)))
    return found


def _path(store: Store, repository: str, number: int) -> tuple[list[PathLine], list[int]]:
    mine = _events(store, repository, number)
    pulls = pull_numbers(mine)
    lines = [PathLine(e, STAGES.get(e.kind.split(".")[0], "other"), None) for e in mine]
    for pull in pulls:
        lines += [
            PathLine(e, STAGES.get(e.kind.split(".")[0], "other"), pull) for e in _events(store, repository, pull)
        ]
    return sorted(lines, key=lambda line: line.event.seq), pulls


@router.get("/issues/{owner}/{repo}/{number}")
def issue_page(
    request: Request,
    owner: str = Path(pattern=NAME),
    repo: str = Path(pattern=NAME),
    number: int = Path(ge=1),
    who: Identity = Depends(page_identity),
) -> Response:
    """The issue's events, its pull requests' events, and its task's provenance records."""
    runtime = dashboard_of(request).runtime
    repository = f"{owner}/{repo}"
    lines, pulls = _path(runtime.store, repository, number)
    steps = ProvenanceLog(runtime.store).tail(MAX_STEPS, task=f"{repository}#{number}")
    context = {"repository": repository, "number": number, "lines": lines, "pulls": pulls, "steps": steps}
    return render(request, "issue.html", who, "issue", **context)
