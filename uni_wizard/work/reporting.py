"""What a worker says on an issue once it is done with it: the report comment and the status label.

``WorkReport`` is what the worker did with one issue; ``Reporter`` writes it (the report comment found
again by its marker and edited, then the ``status/*`` label), or the comment of an issue the house cannot
work on as written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from .claims import set_status
from .forge_api import WorkForge
from .publish import CommentBook, Proof, upsert_comment
from .report import ArtifactStore, render_report, report_marker
from .types import StepOutcome

__all__ = ["Reporter", "WorkReport"]

log = logging.getLogger(__name__)


@dataclass
class WorkReport:
    """What a worker did with one issue: ``status`` is the issue's new state (review, done, blocked), or
    ``skipped`` when the issue was no longer routed to this house when its turn came."""

    repo: str
    number: int
    status: str
    reason: str = ""
    outcomes: list[StepOutcome] = field(default_factory=list)
    pr_url: str | None = None
    head_sha: str | None = None
    proof: Proof | None = None
    notes: str = ""  # shown under the reason in the report (the model planner's summary and answer)


class Reporter:
    """Writes the reports of ``house`` (acting as its forge user ``login``) on ``host``; outputs too long for a
    comment go to ``artifacts``."""

    def __init__(self, forge: WorkForge, *, house: str, login: str, host: str, artifacts: ArtifactStore) -> None:
        self.forge, self.house, self.login, self.host, self.artifacts = forge, house, login, host, artifacts
        self._books: dict[tuple[str, int], CommentBook] = {}

    @contextlib.contextmanager
    def booked(self, repo: str, number: int) -> Iterator[CommentBook]:
        """The comments of ``repo#number`` for the run that works it now (what ``book`` gives meanwhile)."""
        book = self._books[(repo, number)] = CommentBook(self.forge, repo, number)
        try:
            yield book
        finally:
            self._books.pop((repo, number), None)

    def book(self, repo: str, number: int) -> CommentBook | None:
        return self._books.get((repo, number))

    async def _upsert(self, repo: str, number: int, body: str) -> None:
        marker = report_marker(self.house, number)
        await upsert_comment(self.forge, repo, number, marker, body, login=self.login, book=self.book(repo, number))

    async def blocked(self, repo: str, number: int, body: str, reason: str) -> WorkReport:
        """``body`` as the report comment, the issue ``status/blocked``."""
        await self._upsert(repo, number, body)
        await self.set_status(repo, number, "blocked")
        log.info("%s blocked %s#%d: %s", self.house, repo, number, reason)
        return WorkReport(repo, number, "blocked", reason)

    async def finish(self, report: WorkReport) -> WorkReport:
        """The report comment (found by its marker and edited), then the issue's status label."""
        body = render_report(
            self.house,
            report.number,
            report.outcomes,
            artifacts=self.artifacts,
            repo=report.repo,
            pr_url=report.pr_url,
            status=report.status,
            reason=f"{report.reason}\n\n{report.notes}" if report.notes else report.reason,
            host=self.host,
        )
        await self._upsert(report.repo, report.number, body)
        await self.set_status(report.repo, report.number, report.status)
        if report.status == "blocked":
            log.info("%s blocked %s#%d: %s", self.house, report.repo, report.number, report.reason)
        else:
            log.info("%s: %s#%d is %s: %s", self.house, report.repo, report.number, report.status, report.reason)
        return report

    async def set_status(self, repo: str, number: int, status: str) -> None:
        """``status/<status>`` in one call, without reading the issue (``claims.set_status``)."""
        await set_status(self.forge, repo, number, status)
