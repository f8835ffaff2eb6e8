"""Timmy's reviewer and merge gate for pull requests in ``status/review``.

``review_once`` checks each waiting PR at its current head (``checks.py``): the worker's proof status, the
size of the diff, the tests re-run in a clean worktree (when code changed), sensitive paths, and whether the
provenance shows the houses' policies held. Then one verdict per head, written once (a marker makes it
idempotent; ``verdict.py``): REQUEST_CHANGES with the reasons; an escalation to the owner (``needs-owner``
and a comment mentioning them) for sensitive paths; an APPROVED review bound to the head (``auto_approve``);
or a pre-review comment saying it is ready for the owner's approval. An extension (``extension.py``) that
handles a PR may record its head and give its own verdict. The PRs are reviewed side by side, at most
``concurrency`` at once (``concurrency.py``; default: the host's cores), each in its own worktree; a tree
whose tests were re-run already is not re-run (``proven.py``).

Nothing about a PR is remembered between passes: each re-derives it from the thread. Before the review, the
owner's (and Timmy's) comment commands on the PR act, once each (``commands.py``: ``/hold``, ``/unhold``,
``/approve``, ``/explain``); a verdict written on the head ends the review (``reviewed_already``) unless it is a
pre-review and ``auto_approve`` is on now (``verdict.plan_promotion``). Each decision is one log line and an
event (``journal.py``).

``merge_once`` is one merge pass (``merge_pass.py``): the PRs nothing blocks (``merging.py``) land through
their target branch's merge queue (``queue.py``), tested together on the current base, searched for a culprit
when they fail, and merged one by one with ``head_commit_id`` = the head checked: a push after the check makes
the forge answer 409, and the PR goes back to review. A branch's queue holds that branch's merge lock (a merge
moves the base the next one is tested and checked on). Approving and merging go through the acting house's
Harness (tools ``gitea_approve_pr``, ``gitea_merge_pr``), so a house whose policy lacks
``rules.may_approve``/``may_merge`` is refused before the forge is asked. Every write is planned first
(``Action``) and applied unless ``dry_run``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ..attention.escalations import Escalations
from ..dispatch.commands import Authority
from ..errors import PolicyDenied, UniWizardError
from ..forge.models import Comment, PullRequest, Review
from ..harness.core import Harness
from ..harness.result import Result
from ..observe.events import EventLog
from ..reporef import RepoRef
from .checks import check_head, check_proof
from .commands import steer_pull
from .concurrency import KeyedLocks, ReviewPool, default_concurrency
from .config import ReviewConfig
from .extension import CheckedHead, ReviewExtension
from .forge_api import ReviewForge
from .gate import approval_valid, short
from .journal import Journal
from .merge_pass import merge_pass
from .metrics import ReviewMetrics
from .paths import linked_issues
from .proven import ProvenTrees
from .provenance_check import ProvenanceSources
from .render import HELD, VERDICT, find_marker, marker
from .types import Action, MergeReport, ReviewReport
from .verdict import held_note, plain_verdict, plan_promotion, plan_writes
from .worktree import Worktrees

__all__ = ["HarnessFactory", "Reviewer"]

log = logging.getLogger(__name__)

HarnessFactory = Callable[[str], Harness]
"""``task`` -> a Harness of the reviewing house for that task (its ``ToolEnv`` carries the forge URL and the
house's token, for the approve and merge tools)."""


class Reviewer:
    """Reviews and merges for ``house`` (Timmy, whose forge user is ``login``) in ``repos``; ``forge`` acts as
    that user.

    ``harness`` makes the house's Harness for a task; ``worktrees`` are the clean checkouts the tests are
    re-run in; ``provenance`` is what the calls of the closed issues' tasks are re-decided from. ``owner`` is
    the owner's forge user (default: ``config.owner_login``), whose approval counts with the reviewer's own;
    ``host`` names this host in what the reviewer writes. ``extensions`` take part in the review of the PRs
    they handle (``extension.py``; the upgrade queue is one). ``events``: where verdicts, merges and answered
    commands are logged (None: log lines only). ``proven``: the trees whose tests were re-run (default: kept in
    memory; the composition passes the host's store). The owner and ``login`` may use the comment commands.
    ``metrics``: the reviewer's Prometheus metrics, labelled by the house whose forge user (``houses``: forge
    login -> house) opened each PR.
    """

    def __init__(
        self,
        forge: ReviewForge,
        *,
        config: ReviewConfig,
        repos: Sequence[str],
        house: str,
        login: str,
        harness: HarnessFactory,
        worktrees: Worktrees,
        provenance: ProvenanceSources,
        host: str,
        owner_login: str | None = None,
        dry_run: bool = False,
        extensions: Sequence[ReviewExtension] = (),
        events: EventLog | None = None,
        proven: ProvenTrees | None = None,
        metrics: ReviewMetrics | None = None,
        houses: Mapping[str, str] | None = None,
        escalations: Escalations | None = None,
    ) -> None:
        self.forge = forge
        self.escalations = escalations  # an escalated verdict goes through the escalation policy when set
        self.extensions = tuple(extensions)
        self.owner = owner_login or config.owner_login
        # one owner for the gate too (its needs-owner rule reads the configuration's)
        self.config = (
            config if config.owner_login == self.owner else config.model_copy(update={"owner_login": self.owner})
        )
        self.repos = tuple(repos)
        self.house = house
        self.login = login
        self.authority = Authority(self.owner, frozenset({login}))
        self.events = events
        self.journal = Journal(events, metrics, houses)
        self.approvers = frozenset({self.login, self.owner})
        self.host = host
        self.dry_run = dry_run
        self.worktrees = worktrees
        self.provenance = provenance
        self.proven = proven or ProvenTrees()
        self.pool = ReviewPool(self.config.concurrency or default_concurrency())
        self.merging: KeyedLocks[tuple[str, str]] = KeyedLocks()
        self._harness = harness

    def harness(self, task: str) -> Harness:
        return self._harness(task)

    def extensions_for(self, repo: str, pr: PullRequest) -> list[ReviewExtension]:
        """The extensions that handle ``pr``."""
        return [extension for extension in self.extensions if extension.handles(repo, pr)]

    async def waiting(self, repo: str) -> list[tuple[PullRequest, tuple[int, ...]]]:
        """Open PRs labelled ``status/review`` (or closing an issue that is, or handled by an extension),
        with the issues they close."""
        owner, name = RepoRef.parse(repo)
        found = []
        for pr in await self.forge.list_pulls(owner, name, state="open"):
            issues = linked_issues(f"{pr.title}\n{pr.body}")
            labelled = self.config.review_label in {label.name for label in pr.labels}
            if labelled or self.extensions_for(repo, pr):
                found.append((pr, issues))
                continue
            for number in issues:
                if self.config.review_label in (await self.forge.get_issue(owner, name, number)).label_names:
                    found.append((pr, issues))
                    break
        return found

    async def apply(self, actions: list[Action]) -> None:
        """Make the planned writes of ``actions`` in order (none in a dry run)."""
        for action in actions:
            if action.apply is not None and not self.dry_run:
                await action.apply()

    async def waiting_or_report(self, repo: str) -> tuple[list[tuple[PullRequest, tuple[int, ...]]], str | None]:
        try:
            return await self.waiting(repo), None
        except UniWizardError as exc:
            return [], f"cannot list the pull requests waiting for review: {type(exc).__name__}: {exc}"

    # -- review ---------------------------------------------------------------------------------
    async def review_once(self) -> list[ReviewReport]:
        """Review every waiting PR of every repository, ``pool.limit`` at a time (``concurrency``); one report
        each, in the order listed (number 0: the listing failed). One review's error is its own report."""
        jobs: list[Callable[[], Awaitable[ReviewReport]]] = []
        for repo in self.repos:
            waiting, failed = await self.waiting_or_report(repo)
            if failed:
                jobs.append(functools.partial(_ready, ReviewReport(repo, 0, "", "error", [failed])))
            jobs += [functools.partial(self._review_one, repo, pr, issues) for pr, issues in waiting]
        return await self._pool().run(jobs)

    def _pool(self) -> ReviewPool:
        """The pool of ``concurrency`` (made again when the configuration was replaced with another limit)."""
        limit = self.config.concurrency or default_concurrency()
        if self.pool.limit != limit:
            self.pool = ReviewPool(limit)
        return self.pool

    async def _review_one(self, repo: str, pr: PullRequest, issues: tuple[int, ...]) -> ReviewReport:
        """The PR's commands (their writes applied first, shown in the report), then its review."""
        report = ReviewReport(repo, pr.number, pr.head_sha, "error")
        steered: list[Action] = []
        try:
            owner, name = RepoRef.parse(repo)
            comments = await self.forge.list_comments(owner, name, pr.number)
            steered = await steer_pull(self, repo, pr, issues, comments)
            await self.apply(steered)
            report = await self.review_pull(repo, pr.number, issues, comments=None if steered else comments)
            report.author = pr.user.login if pr.user is not None else ""
            await self.apply(report.actions)
        except PolicyDenied as exc:
            report.verdict, report.reasons = "denied", [*report.reasons, str(exc)]
        except UniWizardError as exc:
            report.verdict, report.reasons = "error", [*report.reasons, f"{type(exc).__name__}: {exc}"]
        report.actions = [*(Action(a.kind, a.description) for a in steered), *report.actions]
        await self.journal.review(report, dry_run=self.dry_run)
        return report

    async def review_pull(
        self, repo: str, number: int, issues: tuple[int, ...], *, comments: Sequence[Comment] | None = None
    ) -> ReviewReport:
        """Check the PR at its current head and plan the verdict's writes (not applied here); ``comments``: its
        thread, when read already.

        Once per head: a verdict written already (unless a pre-review to approve now that ``auto_approve`` is
        on), or tests held for the owner, end the review here, as a pending proof does, unless an extension
        handling the PR must record this head first."""
        owner, name = RepoRef.parse(repo)
        pr = await self.forge.get_pull(owner, name, number)
        head = pr.head_sha
        if pr.state != "open" or pr.merged:
            return ReviewReport(repo, number, head, "skipped", notes=["closed or merged meanwhile"])
        extensions = self.extensions_for(repo, pr)
        recording = any(extension.must_record(repo, pr) for extension in extensions)
        reviews = await self.forge.list_reviews(owner, name, number)
        if comments is None:
            comments = await self.forge.list_comments(owner, name, number)
        verdict = find_marker([*reviews, *comments], marker(VERDICT, number, head), self.login)
        written = verdict is not None
        if verdict is not None and not recording:
            promoted = None if extensions else plan_promotion(self, repo, pr, verdict, reviews)
            return promoted or ReviewReport(repo, number, head, "reviewed_already")
        if not written and self._held_already(comments, reviews, number, head):
            return ReviewReport(repo, number, head, "waiting", notes=[held_note(self.owner, head)])
        proof = check_proof(await self.forge.combined_status(owner, name, head), self.config.proof_context, head)
        if proof.pending is not None and not recording:
            return ReviewReport(repo, number, head, "waiting", notes=[proof.pending])
        checked = await check_head(self, repo, pr, issues, proof=proof, reviews=reviews, extensions=extensions)
        if isinstance(checked, ReviewReport):  # held for the owner, or waiting
            return checked
        return self._plan(checked, extensions, reviews, written=written, pending=proof.pending)

    def _plan(
        self,
        checked: CheckedHead,
        extensions: Sequence[ReviewExtension],
        reviews: Sequence[Review],
        *,
        written: bool,
        pending: str | None,
    ) -> ReviewReport:
        """The extensions' records, then the verdict's writes: an extension's verdict, or the plain one.
        Only the records when the verdict is on the forge already or waits for the proof."""
        if pending is not None:
            report = ReviewReport(checked.repo, checked.number, checked.head, "waiting", notes=[pending])
            report.actions = [a for e in extensions for a in e.record(checked, report, waiting=pending)]
            return report
        theirs = (e.plan_verdict(checked, self) for e in extensions)
        verdict = next((v for v in theirs if v is not None), None) or plain_verdict(self, checked)
        report = plan_writes(self, checked, verdict, reviews)
        records = [a for e in extensions for a in e.record(checked, report)]
        report.actions = records if written else [*records, *report.actions]
        return report

    def owner_approved(self, reviews: Sequence[Review], head: str) -> bool:
        """The owner approved exactly ``head`` (APPROVED, official, not dismissed, not stale)."""
        return approval_valid(reviews, head, {self.owner}) is not None

    def _held_already(self, comments: Sequence[Comment], reviews: Sequence[Review], number: int, head: str) -> bool:
        """The tests of ``head`` wait for the owner (our request is on the forge) and no approval came yet."""
        asked = find_marker(comments, marker(HELD, number, head), self.login) is not None
        return asked and not self.owner_approved(reviews, head)

    async def approve_head(self, repo: str, number: int, head: str, body: str) -> Result:
        """An APPROVED review bound to ``head``, through the house's Harness (``rules.may_approve``)."""
        task = f"review:{repo}#{number}@{short(head)}"
        result = await self.harness(task).aexecute(
            "gitea_approve_pr", repo=repo, number=number, commit_id=head, body=body
        )
        return result.raise_for_status()

    # -- merge ----------------------------------------------------------------------------------
    async def merge_once(self) -> list[MergeReport]:
        """One merge pass (``merge_pass.py``): what nothing blocks lands through its branch's merge queue."""
        return await merge_pass(self)

    async def sync_extensions(self) -> None:
        """One ``sync`` of every extension (not in a dry run); a failure is left for the next pass."""
        if self.dry_run:
            return
        for extension in self.extensions:
            try:
                await extension.sync()
            except UniWizardError as exc:
                log.warning("%s not synced: %s: %s", type(extension).__name__, type(exc).__name__, exc)


async def _ready(report: ReviewReport) -> ReviewReport:
    return report
