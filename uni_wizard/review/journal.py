"""What the reviewer says about its decisions: one log line each, and the event log's ``pull.reviewed``,
``pull.blocked`` and ``pull.merged``.

A verdict written, a merge, a refusal or an error is one INFO (or WARNING) line; a PR that waits or was
reviewed already says nothing above DEBUG. A blocked merge is said at INFO (and as a ``pull.blocked`` event)
once per head and set of blockers (then at DEBUG while they stay the same), so a PR waiting for the owner does
not fill the log every pass. ``pull.merged`` names whose approval of the head counted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence

from ..observe.events import EventKind, EventLog
from .gate import short
from .metrics import OTHER, ReviewMetrics
from .queue import BatchRecord
from .types import MergeReport, QueueLine, ReviewReport

__all__ = ["Journal"]

log = logging.getLogger("uni_wizard.review.reviewer")

WRITTEN = ("approved", "changes_requested", "escalated", "pre_reviewed", "held")


class Journal:
    """The reviewer's log lines and events; ``events`` may be None (no event log: lines only)."""

    def __init__(
        self, events: EventLog | None, metrics: ReviewMetrics | None = None, houses: Mapping[str, str] | None = None
    ) -> None:
        self.events = events
        self.metrics = metrics
        self.houses = dict(houses or {})  # forge login -> house
        self.queue_lines: tuple[QueueLine, ...] = ()  # the merge queue as the last merge pass found it
        if metrics is not None:
            for house in {*self.houses.values(), OTHER}:
                metrics.house(house)
        self._blocked: dict[tuple[str, int], tuple[str, tuple[str, ...]]] = {}

    async def review(self, report: ReviewReport, *, dry_run: bool) -> None:
        where = f"{report.repository}!{report.number} at {short(report.head)}"
        if report.verdict in ("denied", "error"):
            log.warning("review of %s: %s: %s", where, report.verdict, "; ".join(report.reasons))
            return
        if report.verdict not in WRITTEN:
            log.debug("review of %s: %s %s", where, report.verdict, "; ".join(report.notes))
            return
        why = f": {'; '.join(report.reasons)}" if report.reasons else ""
        log.info("verdict on %s: %s%s%s", where, report.verdict, " (dry run)" if dry_run else "", why)
        if self.metrics is not None and not dry_run:
            self.metrics.verdict(self.house_of(report.author), report.verdict)
        if self.events is not None and not dry_run:
            await self.events.emit(
                EventKind.PULL_REVIEWED,
                f"verdict:{report.repository}!{report.number}@{report.head}:{report.verdict}",
                repository=report.repository,
                number=report.number,
                data={"verdict": report.verdict, "head": report.head, "reasons": report.reasons[:5]},
            )

    def house_of(self, login: str) -> str:
        """The house whose forge user ``login`` is (``other`` for anyone else: the metrics' labels stay bounded)."""
        return self.houses.get(login, OTHER)

    def queued(self, lines: Sequence[QueueLine]) -> None:
        """The merge queue as the last pass found it (``queue_lines``; the gauge counts the queued PRs)."""
        self.queue_lines = tuple(lines)
        if self.metrics is not None:
            self.metrics.queued.set(sum(1 for line in lines if line.state == "queued"))

    async def queue(self, repo: str, base_ref: str, batches: Sequence[BatchRecord]) -> None:
        """One ``queue.tested`` event per batch whose tests ran (a batch that needed none is a DEBUG line)."""
        for batch in batches:
            numbers = ", ".join(f"#{n}" for n in batch.numbers)
            verdict = {True: "passed", False: "failed", None: "undecided"}[batch.passed]
            if self.metrics is not None and batch.ran:
                self.metrics.queue_run(verdict)
            if not batch.ran:
                log.debug("merge queue %s %s: %s: %s (%s)", repo, base_ref, numbers, verdict, batch.note)
                continue
            log.info("merge queue %s %s: tests of %s on %s %s (%s)", repo, base_ref, numbers, short(batch.base),
                     verdict, batch.note)  # fmt: skip
            if self.events is not None:
                await self.events.emit(
                    EventKind.QUEUE_TESTED,
                    f"queue:{repo}@{base_ref}:{batch.tree}:{batch.base}",
                    repository=repo,
                    data={"base_ref": base_ref, "base": batch.base, "tree": batch.tree, "pulls": list(batch.numbers),
                          "verdict": verdict, "took": batch.note},
                )  # fmt: skip

    async def merge(self, report: MergeReport, *, dry_run: bool) -> None:
        where = f"{report.repository}!{report.number} at {short(report.head)}"
        key = (report.repository, report.number)
        if report.outcome == "blocked":
            said = (report.head, tuple(report.reasons))
            changed = self._blocked.get(key) != said
            self._blocked[key] = said
            log.log(
                logging.INFO if changed else logging.DEBUG, "merge of %s blocked: %s", where, "; ".join(report.reasons)
            )
            if changed and self.events is not None and not dry_run:
                await self.events.emit(
                    EventKind.PULL_BLOCKED,
                    f"blocked:{report.repository}!{report.number}@{report.head}:{_digest(report.reasons)}",
                    repository=report.repository,
                    number=report.number,
                    data={"head": report.head, "reasons": report.reasons[:5]},
                )
            return
        self._blocked.pop(key, None)
        if report.outcome == "skipped":
            return
        if self.metrics is not None and not dry_run:
            self.metrics.merge(
                self.house_of(report.author), report.outcome, opened=report.opened_at, approved=report.approved_at
            )
        level = logging.INFO if report.outcome in ("merged", "ready") else logging.WARNING
        why = f": {'; '.join(report.reasons)}" if report.reasons else ""
        log.log(level, "merge of %s: %s%s", where, report.outcome, why)
        if report.outcome == "rejected" and self.events is not None:
            await self.events.emit(
                EventKind.PULL_REJECTED,
                f"rejected:{report.repository}!{report.number}@{report.head}",
                repository=report.repository,
                number=report.number,
                data={"head": report.head, "reasons": [r.splitlines()[0] for r in report.reasons[:5]]},
            )
        if report.outcome == "merged" and self.events is not None and not dry_run:
            await self.events.emit(
                EventKind.PULL_MERGED,
                f"merged:{report.repository}!{report.number}@{report.head}",
                repository=report.repository,
                number=report.number,
                data={"head": report.head, "approved_by": report.approved_by},
            )


def _digest(reasons: list[str]) -> str:
    """A short fingerprint of a set of blockers (the event's key: each set is one event per head)."""
    return hashlib.sha256("\n".join(reasons).encode()).hexdigest()[:16]
