"""The merge queue: approved pull requests land on their target branch in tested batches (Bors-style, as
Prow's Tide and Gas Town's Refinery run one).

``merge_once`` hands the queue the PRs of one target branch that nothing blocks (approved, green proof, not
held), oldest first. The queue merges up to ``max_batch`` of them onto the branch's current base
(``combination.py``), runs the tests once on that tree in the sandbox (through the reviewer's Harness, as a
review's re-run; a tree proven already is not run again), and:

- when they pass, merges the PRs one by one through the forge, each with ``head_commit_id`` = the head tested
  and under its own approval of that head (``merging.plan_merge`` is asked again right before each merge; the
  PR's unanswered comment commands act first, so a ``/hold`` written during the batch's tests takes it out);
- when they fail, looks for the culprit: the one PR without which the others pass, tried newest first (the
  older ones were in line first; a PR that conflicts with all the others is found however many they are). It
  gets "changes requested" with the failing output, addressed to the house that opened it, and the others
  merge (their tree was just tested). When no single PR is to blame (two independent breakages), the batch is
  split: the first half lands (tested, merged or searched again) on the base, then the second half on the base
  the first half left; a PR that fails alone is sent back.

Nothing is tested when there is nothing to combine and nothing new to prove: one PR whose head contains the
base already (the review re-ran that very tree), PRs that change no ``rerun_tests_paths``, or
``retest_when_base_moved`` off (then the forge's conflict check is the re-check). Nothing is remembered between
passes: a killed reviewer leaves no queue to repair, the next pass forms it again from the forge.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import UniWizardError
from ..harness.result import Result, Status
from ..reporef import RepoRef
from .checks import CheckDesk, quoted_tail
from .combination import Combination, combine
from .commands import SteerDesk, steer_pull
from .gate import short
from .merging import execute_merge, plan_merge
from .paths import matching
from .proven import TAIL_LINES, rerun_policy
from .render import QUEUE_FAILED, find_marker, marker, render_queue_failed
from .types import Action, MergeReport

__all__ = ["BatchRecord", "MergeQueue", "QueueDesk", "Queued"]

log = logging.getLogger(__name__)

POLL_MERGEABLE = 0.25  # seconds between two reads of a PR the forge is re-checking


class QueueDesk(SteerDesk, CheckDesk, Protocol):
    """What the queue uses of the reviewer (``Reviewer`` is one)."""

    async def apply(self, actions: list[Action]) -> None: ...


@dataclass(frozen=True)
class Queued:
    """A PR nothing blocks, at the head checked: ``report`` is its ``ready`` plan."""

    number: int
    head: str
    issues: tuple[int, ...]
    report: MergeReport


@dataclass
class BatchRecord:
    """One combination the queue looked at: its PRs, whether its tests ran (and passed), and why not."""

    numbers: tuple[int, ...]
    base: str
    tree: str
    ran: bool
    passed: bool | None
    note: str


@dataclass
class MergeQueue:
    """The queue of ``repo``'s ``base_ref`` for one merge pass (the caller holds the branch's merge lock)."""

    desk: QueueDesk
    repo: str
    base_ref: str
    clone_url: str
    batches: list[BatchRecord] = field(default_factory=list)

    @property
    def runs(self) -> int:
        """How many times the tests ran in this pass (batches and culprit searches)."""
        return sum(1 for batch in self.batches if batch.ran)

    async def land(self, queued: Sequence[Queued]) -> list[MergeReport]:
        """Land ``queued`` (oldest first) in batches of ``max_batch``; one report per PR."""
        size = self.desk.config.merge_queue.max_batch
        reports: list[MergeReport] = []
        for start in range(0, len(queued), size):
            reports += await self._land(list(queued[start : start + size]))
        return reports

    async def _land(self, batch: list[Queued]) -> list[MergeReport]:
        owner, name = RepoRef.parse(self.repo)
        combo = await combine(
            self.desk.worktrees, self.clone_url, owner, name, self.base_ref, [(q.number, q.head) for q in batch]
        )
        reports = [self._left_out(q, combo) for q in batch if q.number not in combo.merged]
        members = [q for q in batch if q.number in combo.merged]
        if not members:
            return reports
        passed, sentence = await self._test(combo, members)
        if passed is None:  # the run waits for a sovereign approval, or could not run
            return reports + [_blocked(q, sentence) for q in members]
        if passed:
            return reports + await self._merge(members, sentence)
        if len(members) == 1:
            return [*reports, await self._reject(members[0], combo, sentence)]
        return reports + await self._culprit(members, combo, sentence)

    async def _culprit(self, members: list[Queued], combo: Combination, sentence: str) -> list[MergeReport]:
        """The batch ``members`` failed: find the one PR without which the others pass, trying the newest first
        (the older ones were in line first); it is sent back, the others merge, tested as they land. When no
        single PR is to blame (two independent breakages), the halves land one after the other instead."""
        log.info("merge queue %s %s: batch %s failed, looking for its culprit", self.repo, self.base_ref,
                 _numbers(members))  # fmt: skip
        owner, name = RepoRef.parse(self.repo)
        for suspect in reversed(members):
            rest = [q for q in members if q is not suspect]
            pulls = [(q.number, q.head) for q in rest]
            without = await combine(self.desk.worktrees, self.clone_url, owner, name, self.base_ref, pulls)
            if set(without.merged) != {q.number for q in rest}:
                continue  # the others do not even merge together without it: not the one
            passed, green = await self._test(without, rest)
            if passed is None:
                return [_blocked(q, green) for q in members]
            if passed:
                culprit = await self._reject(suspect, combo, sentence, others=rest)
                return sorted([culprit, *await self._merge(rest, green)], key=lambda report: report.number)
        half = len(members) // 2
        return await self._land(members[:half]) + await self._land(members[half:])

    def _left_out(self, q: Queued, combo: Combination) -> MergeReport:
        if q.number in combo.moved:
            why = f"the forge no longer has head {short(q.head)} (the branch moved): it is reviewed again"
        else:
            why = f"head {short(q.head)} conflicts with {self.base_ref} and the PRs queued before it"
        return _blocked(q, why)

    # -- the tests of a combination --------------------------------------------------------------------------
    async def _test(self, combo: Combination, members: list[Queued]) -> tuple[bool | None, str]:
        """Whether the combination passes its tests (None: the run waits for an approval), and a sentence."""
        config = self.desk.config
        what = _what(members, combo, self.base_ref)
        skip = self._why_not_test(combo, members)
        if skip is not None:
            self.batches.append(BatchRecord(combo.merged, combo.base, combo.tree, False, True, skip))
            return True, skip
        policy = rerun_policy(config.test_timeout)
        async with self.desk.proven.claim(combo.tree, policy):
            known = await self.desk.proven.find(combo.tree, policy) if config.reuse_proven_trees else None
            if known is not None:
                self.batches.append(BatchRecord(combo.merged, combo.base, combo.tree, False, known.passed, "proven"))
                return known.passed, known.reused(self.repo)
            started = time.monotonic()
            result = await self._run(combo, members)
            passed, sentence = _verdict(result, what)
            took = time.monotonic() - started
            self.batches.append(BatchRecord(combo.merged, combo.base, combo.tree, True, passed, f"{took:.1f} s"))
            if passed is not None and result.ok:
                await self.desk.proven.remember(
                    combo.tree, policy, passed=passed, sentence=sentence, repository=self.repo,
                    number=members[0].number, head=combo.commit,
                )  # fmt: skip
        log.info("merge queue %s %s: %s", self.repo, self.base_ref, sentence.splitlines()[0])
        return passed, sentence

    def _why_not_test(self, combo: Combination, members: list[Queued]) -> str | None:
        """Why the combination needs no test run, or None."""
        config = self.desk.config
        if not matching(combo.changed(), (*config.rerun_tests_paths, *config.rerun_needs_owner_paths)):
            return "tests not run by the merge queue: no queued head changes rerun_tests_paths"
        if len(members) == 1 and members[0].number in combo.current:
            return f"not re-tested: head {short(members[0].head)} contains {self.base_ref} already (its review ran it)"
        if not config.merge_queue.retest_when_base_moved:
            return (
                f"{self.base_ref} moved: re-checked (the forge says it merges cleanly), not re-tested "
                "(merge_queue.retest_when_base_moved is off)"
            )
        return None

    async def _run(self, combo: Combination, members: list[Queued]) -> Result:
        owner, name = RepoRef.parse(self.repo)
        path = self.desk.worktrees.root / "worktrees" / owner / name / f"queue-{combo.commit[:12]}"
        task = f"merge-queue:{self.repo}@{self.base_ref}:{'+'.join(str(q.number) for q in members)}"
        async with self.desk.worktrees.worktree(combo.cache, path, combo.commit):
            return await self.desk.harness(task).aexecute(
                "run_tests", workspace=str(path), timeout=self.desk.config.test_timeout, tail_lines=TAIL_LINES
            )

    # -- merging a passing batch ---------------------------------------------------------------------------
    async def _merge(self, members: list[Queued], sentence: str) -> list[MergeReport]:
        """Merge ``members`` in order while each is still ready at the head tested; the first that is not (or
        whose merge fails) stops the batch: the rest wait for the next pass (their combination changed)."""
        reports: list[MergeReport] = []
        for index, q in enumerate(members):
            try:
                report = await self._ready_again(q)
                if report.outcome == "ready":
                    report.actions = []
                    report = await execute_merge(self.desk, report, q.issues)
                    await self.desk.apply(report.actions)
            except UniWizardError as exc:
                failed = [f"{type(exc).__name__}: {exc}"]
                report = MergeReport(self.repo, q.number, q.head, "error", failed, author=q.report.author)
            if report.outcome == "merged":
                report.reasons = [*report.reasons, sentence.splitlines()[0]]
            reports.append(report)
            if report.outcome != "merged":
                why = f"not merged in this pass: #{q.number} of its tested batch did not merge ({report.outcome})"
                return reports + [_blocked(rest, why) for rest in members[index + 1 :]]
        return reports

    async def _ready_again(self, q: Queued) -> MergeReport:
        """``plan_merge`` of ``q`` now, after its unanswered commands acted (``/hold``), once the forge reports
        it mergeable (or ``mergeable_wait`` passed); ``blocked`` when its head is no longer the one tested."""
        owner, name = RepoRef.parse(self.repo)
        pr = await self.desk.forge.get_pull(owner, name, q.number)
        comments = await self.desk.forge.list_comments(owner, name, q.number)
        await self.desk.apply(await steer_pull(self.desk, self.repo, pr, q.issues, comments))
        deadline = time.monotonic() + self.desk.config.merge_queue.mergeable_wait
        while not pr.mergeable and pr.state == "open" and time.monotonic() < deadline:
            await asyncio.sleep(POLL_MERGEABLE)
            pr = await self.desk.forge.get_pull(owner, name, q.number)
        report = await plan_merge(self.desk, self.repo, q.number)
        if report.outcome == "ready" and report.head != q.head:
            return _blocked(q, f"the head moved to {short(report.head)} after {short(q.head)} was tested")
        return report

    # -- the culprit ------------------------------------------------------------------------------------------
    async def _reject(
        self, q: Queued, combo: Combination, sentence: str, *, others: Sequence[Queued] = ()
    ) -> MergeReport:
        """ "Changes requested" on the head that fails on the base (alone, or with ``others``, which pass without
        it), with the failing output (once per head)."""
        owner, name = RepoRef.parse(self.repo)
        desk = self.desk
        report = MergeReport(self.repo, q.number, q.head, "rejected", [sentence], author=q.report.author)
        pr = await desk.forge.get_pull(owner, name, q.number)
        author = pr.user.login if pr.user is not None else ""
        reviews = await desk.forge.list_reviews(owner, name, q.number)
        if find_marker(reviews, marker(QUEUE_FAILED, q.number, q.head), desk.login) is not None:
            return report
        body = render_queue_failed(
            q.number, q.head, combo.base, self.base_ref, sentence, author=author, host=desk.host,
            others=tuple(other.number for other in others),
        )  # fmt: skip
        request = lambda: desk.forge.create_review(owner, name, q.number, "REQUEST_CHANGES", body, commit_id=q.head)  # noqa: E731
        report.actions = [Action("review", f"request changes on {short(q.head)}: it breaks {self.base_ref}", request)]
        await desk.apply(report.actions)
        return report


def _blocked(q: Queued, why: str) -> MergeReport:
    return MergeReport(q.report.repository, q.number, q.head, "blocked", [why], author=q.report.author)


def _numbers(members: Sequence[Queued]) -> str:
    return ", ".join(f"#{q.number}" for q in members)


def _what(members: Sequence[Queued], combo: Combination, base_ref: str) -> str:
    return f"{_numbers(members)} merged onto {base_ref} at `{short(combo.base)}`"


def _verdict(result: Result, what: str) -> tuple[bool | None, str]:
    """What a run of the tests of the combination ``what`` says: ``(passed, sentence)``; None: it cannot tell
    (the run waits for a sovereign approval, or could not run), and the batch waits for the next pass."""
    if result.status is Status.PENDING_APPROVAL:
        return None, f"the merge queue's test run waits for approval {result.approval_id}: {result.reason}"
    if not result.ok:  # the run itself failed (the sandbox, a timeout): nothing says which PR is to blame
        return None, f"the tests of {what} could not run ({result.status}): {result.error}"
    out = result.output
    counts = f"{out['passed']} passed, {out['failed']} failed, {out['errors']} errors"
    if out["ok"]:
        return True, f"merge queue: the tests of {what} pass ({counts})"
    return False, f"the tests of {what} fail: {counts} (exit {out['exit_code']}){quoted_tail(out)}"
