"""One merge pass of the reviewer: plan the merge of every PR waiting for review, oldest first, and land those
nothing blocks through their target branch's merge queue (``queue.py``), alone on that branch (a merge moves
the base the next one is tested and checked on). In a dry run the plans are the reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..errors import UniWizardError
from ..forge.models import PullRequest
from ..reporef import RepoRef
from .concurrency import KeyedLocks
from .journal import Journal
from .merging import plan_merge
from .queue import MergeQueue, Queued, QueueDesk
from .types import MergeReport, QueueLine

__all__ = ["PassDesk", "merge_pass"]


class PassDesk(QueueDesk, Protocol):
    """What a merge pass uses of the reviewer (``Reviewer`` is one)."""

    @property
    def repos(self) -> Sequence[str]: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def merging(self) -> KeyedLocks[tuple[str, str]]: ...

    @property
    def dry_run(self) -> bool: ...

    async def waiting_or_report(self, repo: str) -> tuple[list[tuple[PullRequest, tuple[int, ...]]], str | None]: ...

    async def sync_extensions(self) -> None: ...


async def merge_pass(desk: PassDesk) -> list[MergeReport]:
    """Plan the merge of every waiting PR (``merging.plan_merge``); those nothing blocks go to their target
    branch's merge queue (tested together on the base, merged one by one at the heads checked). The extensions
    catch up with the forge before (approvals seen) and after (merges seen). One report per PR, by repository
    then number (number 0: the listing failed)."""
    await desk.sync_extensions()
    reports: list[MergeReport] = []
    seen: list[QueueLine] = []  # the queue as this pass found it (the Now page shows it)
    for repo in desk.repos:
        waiting, failed = await desk.waiting_or_report(repo)
        if failed:
            reports.append(MergeReport(repo, 0, "", "error", [failed]))
        queues: dict[str, list[Queued]] = {}
        planned: list[MergeReport] = []
        for pr, issues in sorted(waiting, key=lambda found: found[0].number):  # oldest first
            report = await _plan(desk, repo, pr)
            seen += _line(desk, repo, pr, report, len(queues.get(pr.base_ref, [])) + 1)
            if report.outcome == "ready" and not desk.dry_run:
                queues.setdefault(pr.base_ref, []).append(Queued(pr.number, report.head, issues, report))
                continue
            await desk.journal.merge(report, dry_run=desk.dry_run)
            planned.append(report)
        for base_ref, queued in queues.items():
            planned += await _land(desk, repo, base_ref, queued)
        reports += sorted(planned, key=lambda report: report.number)
    if not desk.dry_run:
        desk.journal.queued(seen)
    await desk.sync_extensions()
    return reports


def _line(desk: PassDesk, repo: str, pr: PullRequest, report: MergeReport, position: int) -> list[QueueLine]:
    """``pr`` as the queue shows it: queued at ``position`` on its branch when ready, held when it carries the
    hold label (out of the queue until ``/unhold``); nothing for the others."""
    if report.outcome == "ready":
        return [QueueLine(repo, pr.base_ref, pr.number, report.head, pr.title, "queued", position, report.approved_by)]
    if desk.config.hold_label in {label.name for label in pr.labels}:
        return [QueueLine(repo, pr.base_ref, pr.number, pr.head_sha, pr.title, "held", reasons=tuple(report.reasons))]
    return []


async def _plan(desk: PassDesk, repo: str, pr: PullRequest) -> MergeReport:
    try:
        return await plan_merge(desk, repo, pr.number)
    except UniWizardError as exc:
        return MergeReport(repo, pr.number, pr.head_sha, "error", [f"{type(exc).__name__}: {exc}"])


async def _land(desk: PassDesk, repo: str, base_ref: str, queued: list[Queued]) -> list[MergeReport]:
    """Land ``queued`` through the merge queue of ``base_ref``, holding that branch's merge lock."""
    owner, name = RepoRef.parse(repo)
    async with desk.merging.hold((repo, base_ref)):
        queue = MergeQueue(desk, repo, base_ref, "")
        try:
            queue.clone_url = (await desk.forge.get_repo(owner, name)).clone_url
            reports = await queue.land(queued)
        except UniWizardError as exc:
            why = f"the merge queue of {base_ref} failed: {type(exc).__name__}: {exc}"
            reports = [MergeReport(repo, q.number, q.head, "error", [why]) for q in queued]
    await desk.journal.queue(repo, base_ref, queue.batches)
    for report in reports:
        await desk.journal.merge(report, dry_run=False)
    return reports
