"""A house's worker: takes the issues routed to its forge user, does them through its Harness, reports.

Per issue: claim (``status/in-progress`` and a claim comment, renewed while the work runs) → plan
(the issue's playbook, else the house's planner) → a clone on ``<house>/issue-<n>`` → every step
through ``Harness(house, policy.default_mode, task="<repo>#<n>")`` (so the house's policy, mode and
provenance apply) with its expectations checked; with no plan but an ``agent`` (the model planner), the
agent's loop instead, each tool call it makes run and recorded the same way (a loop stopped by a budget
or a model failure blocks the issue, its report saying which and what was done). With a ``gate``
(``planner: auto``) the worker first asks it whether a provider can take the issue; with no agent, or none
usable, the issue is blocked with ``planner.no_plan_message`` (which file and key give it a model, and what
a playbook looks like) → when the repository changed: commit and push
through the Harness, the proof when the house's policy has ``proof_required`` (run_tests, the
``uni-wizard/proof`` commit status on the head sha, a proof comment), then the pull request
(``Closes #<n>``, labelled ``status/review``) → the report comment → ``status/review`` (a PR),
``status/done`` (nothing to change) or ``status/blocked`` (with the reason). A failed proof never
asks for review.

Restarts: a worker killed mid-task stops renewing its claim, the dispatcher requeues the issue, and
the next worker redoes the task from the pushed branch. Every write is idempotent (the claim, proof
and report comments are found by marker and edited; the status is not re-posted; the open PR for
the branch is reused), so the redone task writes nothing twice.

Each decision is one INFO line on the ``uni_wizard.work.*`` loggers: claimed, where the plan came from
(playbook and its steps, or the model planner and the provider that answered), how the model planner ended,
the proof (passed or failed on which sha), the pull request opened, and blocked (why) or finished.

Here: finding work and claiming it; ``run.py`` (``PlanRun``) carries a plan out in its clone and publishes it,
``reporting.py`` (``Reporter``) writes the report and the status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..dispatch.history import RoutingLedger
from ..dispatch.types import IssueText
from ..errors import ForgeError, ForgeUnavailable, GitRefused, PlaybookError, ToolExecutionError
from ..forge.models import Issue
from ..harness.core import Harness
from ..observe.events import EventKind, EventLog
from ..policy.model import HousePolicy
from ..reporef import RepoRef
from ..tools.registry import ToolRegistry
from .claims import ClaimKeeper, claim
from .forge_api import WorkForge
from .metrics import WorkMetrics
from .mirror import Mirrors
from .outcome import record_outcome
from .planner import make_plan, no_model_reason, no_plan_message
from .publish import CommentBook, LabelIds
from .repo import IssueWorktree
from .report import ArtifactStore, render_blocked
from .reporting import Reporter, WorkReport
from .run import PlanRun
from .types import AgentRunner, ModelCheck, ModelGate, ModelSetup, Planner

__all__ = ["HarnessFactory", "WorkReport", "Worker"]

log = logging.getLogger(__name__)
ROUTED = "status/routed"
REASON_CHARS = 200  # the first line of a blocked report's reason, in the work.finished event (what `up` shows)

HarnessFactory = Callable[[str], Harness]
"""``task`` -> a Harness of the house for that task (its mode, and a ``ToolEnv`` carrying the house's token)."""


def finished_data(house: str, report: WorkReport) -> dict[str, Any]:
    """The data of the ``work.finished`` event of ``report``: how the issue ended, with the first line of why."""
    return {
        "house": house,
        "status": report.status,
        "pr": report.pr_url,
        "sha": report.head_sha,
        "proof": report.proof.state if report.proof is not None else None,
        "reason": report.reason.splitlines()[0][:REASON_CHARS] if report.reason else "",
    }


class Worker:
    """The worker of ``house`` over ``repos``.

    ``forge`` acts as the house's forge user (``policy.gitea_user``); ``token`` (that user's) is what the clones
    under ``workspace`` are fetched with from the forge; ``harness`` makes the house's Harness for a task,
    whose ``ToolEnv`` carries the same token (``git_push``); ``tools`` are the registered tools plans may name;
    ``events`` and ``ledger`` record what happened (the ledger is what routing learns from); ``artifacts`` keep
    outputs too long for a report. ``clock`` (wall time) dates claims and measures how long each issue took.
    ``mirrors`` (the daemon's: ``work/mirror.py``) make each clone locally from a fetched mirror; ``metrics`` count.
    """

    def __init__(
        self,
        forge: WorkForge,
        *,
        house: str,
        policy: HousePolicy,
        harness: HarnessFactory,
        tools: ToolRegistry,
        events: EventLog,
        ledger: RoutingLedger,
        repos: Sequence[str],
        workspace: Path,
        token: str,
        artifacts: ArtifactStore,
        claim_ttl: float,
        host: str,
        planner: Planner | None = None,
        agent: AgentRunner | None = None,
        gate: ModelGate | None = None,
        setup: ModelSetup | None = None,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = 5.0,
        mirrors: Mirrors | None = None,
        metrics: WorkMetrics | None = None,
    ) -> None:
        self.forge, self.house, self.policy, self.repos = forge, house, policy, tuple(repos)
        self.harness, self.tools, self.events, self.ledger = harness, tools, events, ledger
        self.planner, self.claim_ttl, self.host, self.clock = planner, claim_ttl, host, clock
        self.agent = agent  # the model's agent loop, for issues without a playbook (None: they are blocked)
        self.gate = gate  # planner auto: asked before each such issue whether a provider can take it
        self.setup = setup or ModelSetup()  # what the blocked comment names when there is no model
        self.workspace, self._token, self.artifacts, self.poll_seconds = workspace, token, artifacts, poll_seconds
        self.login = policy.gitea_user
        self.reporter = Reporter(forge, house=house, login=self.login, host=host, artifacts=artifacts)
        self._active: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[WorkReport]] = set()  # run()'s
        self._wake = asyncio.Event()
        self._email: str | None = None
        self.mirrors = mirrors  # the bare mirrors the clones are made from (None: each clone from the forge)
        self.labels = LabelIds()  # each repository's label ids, listed once (a pull request is made with them)
        self.counts = (metrics or WorkMetrics.for_registry()).of(house)  # claims, plans, PRs, blocked, proofs

    @property
    def max_concurrency(self) -> int:
        return self.policy.max_concurrency

    @property
    def active(self) -> frozenset[tuple[str, int]]:
        return frozenset(self._active)

    def hint(self) -> None:
        """Something changed on the forge (a webhook): poll now instead of at the next interval."""
        self._wake.set()

    # -- finding work -----------------------------------------------------------------------------
    async def pending(self) -> list[tuple[str, Issue]]:
        """Open issues routed and assigned to this house's user, not being worked on here, oldest first."""
        found: list[tuple[str, Issue]] = []
        for repo in self.repos:
            owner, name = RepoRef.parse(repo)
            listed = await self.forge.list_issues(
                owner, name, state="open", type="issues", labels=[ROUTED], assigned_by=self.login
            )
            found += [(repo, i) for i in listed if self._mine(i) and (repo, i.number) not in self._active]
        found.sort(key=lambda item: (item[1].created_at or datetime.min.replace(tzinfo=UTC), item[1].number))
        return found

    def _mine(self, issue: Issue) -> bool:
        assigned = [user.login for user in issue.assignees]
        return not issue.is_pull and issue.state == "open" and ROUTED in issue.label_names and self.login in assigned

    async def poll_once(self) -> list[WorkReport]:
        """Work the oldest pending issues, as many as ``max_concurrency`` leaves room for, at once."""
        free = self.max_concurrency - len(self._active)
        picked = (await self.pending())[: max(free, 0)]
        return list(await asyncio.gather(*(self.work(repo, issue) for repo, issue in picked)))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``poll_seconds`` (or at once after ``hint``) until ``stop``; at most
        ``max_concurrency`` issues at a time. Work still running at stop is cancelled (its claim lapses)."""
        try:
            while not stop.is_set():
                self._wake.clear()
                free = self.max_concurrency - len(self._active)
                if free > 0:
                    try:
                        picked = (await self.pending())[:free]
                    except (ForgeError, ForgeUnavailable) as exc:
                        log.warning("%s worker: cannot list its issues: %s", self.house, exc)
                        picked = []
                    for repo, issue in picked:
                        self._start(repo, issue)
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            live = list(self._tasks)
            for task in live:
                task.cancel()
            await asyncio.gather(*live, return_exceptions=True)

    def _start(self, repo: str, issue: Issue) -> asyncio.Task[WorkReport]:
        key = (repo, issue.number)
        self._active.add(key)  # taken now, before the task starts
        task = asyncio.create_task(self.work(repo, issue, taken=True), name=f"work:{repo}#{issue.number}")
        self._tasks.add(task)

        def done(task: asyncio.Task[WorkReport]) -> None:
            self._tasks.discard(task)
            self._active.discard(key)  # also when it was cancelled before it started
            self._done(task)

        task.add_done_callback(done)
        return task

    def _done(self, task: asyncio.Task[WorkReport]) -> None:
        """A task ended: log a failure (its claim lapses, the dispatcher requeues the issue) and poll again."""
        self._wake.set()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("%s failed; its claim will lapse and the issue be requeued: %s", task.get_name(), exc)

    # -- one issue ----------------------------------------------------------------------------------
    async def work(self, repo: str, issue: Issue, *, taken: bool = False) -> WorkReport:
        """Claim and do ``issue`` of ``repo``; ``ForgeError``/``ForgeUnavailable`` propagate (the claim
        then lapses and the dispatcher requeues the issue for another try)."""
        key = (repo, issue.number)
        if not taken:
            if key in self._active:
                return WorkReport(repo, issue.number, "skipped", "already being worked on here")
            self._active.add(key)
        try:
            return await self._claimed(repo, issue.number)
        finally:
            self._active.discard(key)

    async def _claimed(self, repo: str, number: int) -> WorkReport:
        owner, name = RepoRef.parse(repo)
        issue = await self.forge.get_issue(owner, name, number)  # fresh: it may have moved since the listing
        if not self._mine(issue):
            return WorkReport(repo, number, "skipped", "no longer routed to this house")
        with self.reporter.booked(repo, number) as book:  # the issue's comments, listed once for the whole run
            return await self._claimed_by(repo, issue, book)

    async def _claimed_by(self, repo: str, issue: Issue, book: CommentBook) -> WorkReport:
        number = issue.number
        comment = await claim(
            self.forge, repo, issue, self.house, self.claim_ttl, login=self.login, clock=self.clock, book=book
        )
        log.info("%s claimed %s#%d", self.house, repo, number)
        self.counts.claimed()
        await self.events.emit(
            EventKind.ISSUE_CLAIMED,
            f"claimed:{repo}#{number}:{self.house}:{comment.id}:{int(self.clock())}",
            repository=repo,
            number=number,
            data={"house": self.house, "ttl": self.claim_ttl},
        )
        started = self.clock()
        async with ClaimKeeper(self.forge, repo, comment.id, self.house, self.claim_ttl, clock=self.clock):
            report = await self._do(repo, issue)
        if report.status == "blocked":
            self.counts.issue_blocked()
        # what routing learns from: here in the store, and on the other hosts from the shared telemetry
        kind = next((n.split("/", 1)[1] for n in issue.label_names if n.startswith("kind/")), "task")
        await record_outcome(
            self.ledger, self.events, house=self.house, kind=kind, repository=repo, number=number,
            success=report.status in ("review", "done"), started=started, clock=self.clock,
        )  # fmt: skip
        await self.events.emit(
            "work.finished",
            f"work:{repo}#{number}:{self.house}:{comment.id}:{int(self.clock())}",
            repository=repo,
            number=number,
            data=finished_data(self.house, report),
        )
        return report

    async def _do(self, repo: str, issue: Issue) -> WorkReport:
        number = issue.number
        text = IssueText(number, issue.title, issue.body, tuple(issue.label_names))
        try:
            plan = await make_plan(
                issue.body, registry=self.tools, policy=self.policy, planner=self.planner, issue=text, house=self.house
            )
        except PlaybookError as exc:
            return await self.reporter.blocked(repo, number, render_blocked(self.house, number, exc), str(exc))
        agent: AgentRunner | None = None
        if plan is None:
            agent, check = await self._model()
            if agent is None:
                reason = f"no playbook, and {no_model_reason(self.setup, check)}"
                body = render_blocked(self.house, number, no_plan_message(self.setup, check))
                return await self.reporter.blocked(repo, number, body, reason)
            usable = f" ({', '.join(check.usable)} answers)" if check is not None else ""
            log.info("%s: plan for %s#%d from the model planner%s", self.house, repo, number, usable)
        else:
            source = "its playbook" if plan.source == "playbook" else "the planner"
            steps = f"{len(plan.steps)} step{'' if len(plan.steps) == 1 else 's'}"
            log.info("%s: plan for %s#%d from %s (%s)", self.house, repo, number, source, steps)
        try:
            tree = await IssueWorktree.prepare(
                self.forge, repo, number, self.house, workspace=self.workspace, token=self._token,
                name=self.login, email=await self._identity(), mirrors=self.mirrors,
            )  # fmt: skip
        except ToolExecutionError as exc:
            report = WorkReport(repo, number, "blocked", f"cannot prepare the clone: {exc}")
            return await self.reporter.finish(report)
        run = PlanRun(
            self.forge, self.harness(f"{repo}#{number}"), self.reporter, repo=repo, issue=issue, tree=tree,
            policy=self.policy, tools=self.tools, agent=agent, setup=self.setup, labels=self.labels,
            metrics=self.counts,
        )  # fmt: skip
        try:
            return await run.run(plan)
        except GitRefused as exc:  # the work left the clone in a state git must not act on (a config key...)
            return await self.reporter.finish(WorkReport(repo, number, "blocked", f"git refused the clone: {exc}"))
        finally:
            await tree.remove()

    async def _model(self) -> tuple[AgentRunner | None, ModelCheck | None]:
        """The agent for an issue without a playbook (None: there is none now) and what the gate found (None:
        not asked: no agent, or ``planner: model``, which always tries the model)."""
        if self.agent is None or self.gate is None:
            return self.agent, None
        check = await self.gate.check()
        return (self.agent if check.usable else None), check

    async def _identity(self) -> str:
        """The commit e-mail: the house's forge user's, else a no-reply address on its login."""
        if self._email is None:
            me = await self.forge.me()
            self._email = me.email or f"{self.login}@noreply.invalid"
        return self._email
