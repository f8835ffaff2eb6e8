"""A house's worker: takes the issues routed to its forge user, does them through its Harness, reports.

Per issue: claim (``status/in-progress`` and a claim comment, renewed while the work runs) → plan
(the issue's playbook, else the house's planner) → a clone on ``<house>/issue-<n>`` → every step
through ``Harness(house, policy.default_mode, task="<repo>#<n>")`` (so the house's policy, mode and
provenance apply) with its expectations checked; with no plan but an ``agent`` (the model planner), the
agent's loop instead, each tool call it makes run and recorded the same way (a loop stopped by a budget
or a model failure blocks the issue, its report saying which and what was done) → when the repository
changed: commit and push
through the Harness, the proof when the house's policy has ``proof_required`` (run_tests, the
``uni-wizard/proof`` commit status on the head sha, a proof comment), then the pull request
(``Closes #<n>``, labelled ``status/review``) → the report comment → ``status/review`` (a PR),
``status/done`` (nothing to change) or ``status/blocked`` (with the reason). A failed proof never
asks for review.

Restarts: a worker killed mid-task stops renewing its claim, the dispatcher requeues the issue, and
the next worker redoes the task from the pushed branch. Every write is idempotent (the claim, proof
and report comments are found by marker and edited; the status is not re-posted; the open PR for
the branch is reused), so the redone task writes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..dispatch.types import IssueText
from ..errors import ConfigError, ForgeError, ForgeUnavailable, PlaybookError, ToolExecutionError
from ..forge.client import GiteaClient
from ..forge.models import Issue
from ..harness.core import Harness
from ..harness.result import Call
from ..harness.runtime import Runtime
from ..observe.events import EventKind, EventLog
from ..policy.model import HousePolicy
from .checks import check, substitute
from .claims import ClaimKeeper, claim, relabel_status
from .outcome import record_outcome
from .planner import NO_PLAN_MESSAGE, allowed_tools, make_plan
from .publish import Proof, open_pull, post_proof, pull_body, upsert_comment
from .repo import IssueWorktree
from .report import ArtifactStore, agent_notes, render_blocked, render_report, report_marker
from .types import AgentContext, AgentRunner, Expectation, Plan, Planner, Step, StepOutcome

__all__ = ["WorkReport", "Worker"]

log = logging.getLogger(__name__)
ROUTED = "status/routed"
_WHO = {"playbook": "plan", "model": "model"}


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


class Worker:
    """The worker of ``house`` over ``repos``; ``forge`` acts as the house's forge user (whose ``token``
    is also the one the clones push with: by default the runtime's ``gitea_token``)."""

    def __init__(
        self,
        forge: GiteaClient,
        *,
        house: str,
        runtime: Runtime,
        repos: Sequence[str],
        planner: Planner | None = None,
        agent: AgentRunner | None = None,
        claim_ttl: float,
        host: str,
        clock: Callable[[], float] = time.time,
        token: str | None = None,
        artifacts: ArtifactStore | None = None,
        poll_seconds: float = 5.0,
    ) -> None:
        self.forge, self.house, self.runtime, self.repos = forge, house, runtime, tuple(repos)
        self.planner, self.claim_ttl, self.host, self.clock = planner, claim_ttl, host, clock
        self.agent = agent  # the model's agent loop, for issues without a playbook (None: they are blocked)
        self.policy: HousePolicy = runtime.policy(house)
        self.login = self.policy.gitea_user
        token = token or runtime.env.gitea_token
        if not token:
            raise ConfigError(f"the {house} worker needs its forge token (gitea_token)", key="gitea_token")
        self._token = token
        self.artifacts = artifacts or ArtifactStore(runtime.settings.data_dir / "artifacts")
        self.poll_seconds = poll_seconds
        self.events = EventLog(runtime.store, host)
        self._active: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[WorkReport]] = set()  # run()'s
        self._wake = asyncio.Event()
        self._email: str | None = None

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
            owner, name = repo.split("/", 1)
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
        owner, name = repo.split("/", 1)
        issue = await self.forge.get_issue(owner, name, number)  # fresh: it may have moved since the listing
        if not self._mine(issue):
            return WorkReport(repo, number, "skipped", "no longer routed to this house")
        comment = await claim(self.forge, repo, issue, self.house, self.claim_ttl, login=self.login, clock=self.clock)
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
        # what routing learns from: here in the store, and on the other hosts from the shared telemetry
        kind = next((n.split("/", 1)[1] for n in issue.label_names if n.startswith("kind/")), "task")
        await record_outcome(
            self.runtime.store, self.events, house=self.house, kind=kind, repository=repo, number=number,
            success=report.status in ("review", "done"), started=started, clock=self.clock,
        )  # fmt: skip
        await self.events.emit(
            "work.finished",
            f"work:{repo}#{number}:{self.house}:{comment.id}:{int(self.clock())}",
            repository=repo,
            number=number,
            data={"house": self.house, "status": report.status, "pr": report.pr_url, "sha": report.head_sha},
        )
        return report

    async def _do(self, repo: str, issue: Issue) -> WorkReport:
        number = issue.number
        text = IssueText(number, issue.title, issue.body, tuple(issue.label_names))
        try:
            plan = await make_plan(
                issue.body,
                registry=self.runtime.registry,
                policy=self.policy,
                planner=self.planner,
                issue=text,
                house=self.house,
            )
        except PlaybookError as exc:
            return await self._blocked(repo, number, render_blocked(self.house, number, exc), str(exc))
        if plan is None and self.agent is None:
            reason = "the issue has no playbook and the house no model"
            return await self._blocked(repo, number, render_blocked(self.house, number, NO_PLAN_MESSAGE), reason)
        try:
            tree = await IssueWorktree.prepare(
                self.forge,
                repo,
                number,
                self.house,
                workspace=self.runtime.settings.workspace,
                token=self._token,
                name=self.login,
                email=await self._identity(),
            )
        except ToolExecutionError as exc:
            return await self._finish(WorkReport(repo, number, "blocked", f"cannot prepare the clone: {exc}"))
        try:
            return await self._run_plan(repo, issue, plan, tree)
        finally:
            await tree.remove()

    async def _run_plan(self, repo: str, issue: Issue, plan: Plan | None, tree: IssueWorktree) -> WorkReport:
        """Run ``plan``'s steps, or (no plan) the house's agent loop, then publish what changed."""
        number, path = issue.number, str(tree.path)
        task = f"{repo}#{number}"
        harness = Harness(self.house, self.policy.default_mode, runtime=self.runtime, task=task)
        values = {"worktree": path, "issue": str(number), "repo": repo, "branch": tree.branch}
        report = WorkReport(repo, number, "blocked")

        async def call(step: Step) -> StepOutcome:
            result = await harness.run(Call(step.tool, step.args))
            outcome = StepOutcome(step, result, check(step, result))
            report.outcomes.append(outcome)
            return outcome

        async def filled(step: Step) -> StepOutcome:
            return await call(replace(step, args=substitute(step.args, values)))

        if plan is None:
            assert self.agent is not None  # _do only comes here without a plan when there is an agent
            labels = tuple(issue.label_names)
            context = AgentContext(
                IssueText(number, issue.title, issue.body, labels),
                self.house,
                repo,
                path,
                tree.branch,
                allowed_tools(self.runtime.registry, self.policy),
            )
            run = await self.agent.run(context, filled)
            report.notes = agent_notes(run)
            if not run.finished:
                report.reason = f"the model planner stopped before the work was done: {run.stop}"
                return await self._finish(report)
            plan = Plan((), source="model")
        for index, step in enumerate(plan.steps, 1):
            outcome = await filled(step)
            if not outcome.ok:
                why = outcome.result.error or "; ".join(outcome.failures) or str(outcome.result.status)
                report.reason = f"step {index} (`{step.tool}`, line {step.line}) failed: {why}"
                return await self._finish(report)
        if not await tree.changed():
            report.status, report.reason = "done", f"the {_WHO[plan.source]} ran; it changed nothing in the repository"
            return await self._finish(report)
        title = plan.title or issue.title
        if await tree.dirty():
            message = f"{title} (#{number})"
            commit = await call(Step("git_commit", {"repo_path": path, "message": message, "add_all": True}))
            if not commit.ok:
                report.reason = f"the commit failed: {commit.result.error or commit.result.reason}"
                return await self._finish(report)
        tests = None
        if self.policy.rules.proof_required:
            passed = (Expectation("output.ok", "==", True),)
            tests = await call(Step("run_tests", {"workspace": path}, passed, name="proof"))
        push = await call(Step("git_push", {"repo_path": path, "branch": tree.branch, "set_upstream": True}))
        if not push.ok:
            report.reason = f"the push failed: {push.result.error or push.result.reason}"
            return await self._finish(report)
        report.head_sha = await tree.head()
        if tests is not None:
            report.proof = await post_proof(
                self.forge,
                repo,
                number,
                house=self.house,
                login=self.login,
                branch=tree.branch,
                sha=report.head_sha,
                result=tests.result,
                host=self.host,
            )
            if not report.proof.ok:
                report.reason = (
                    f"the proof failed on `{report.head_sha[:12]}` ({report.proof.description}): "
                    "no review is requested until the tests pass"
                )
                return await self._finish(report)
        body = pull_body(
            number, title, report.outcomes, house=self.house, host=self.host, task=task, proof=report.proof
        )
        pull = await open_pull(
            self.forge, repo, branch=tree.branch, base=tree.base, title=title, body=body, label="status/review"
        )
        report.status, report.pr_url = "review", pull.html_url or f"{repo}#{pull.number}"
        report.reason = f"pull request #{pull.number} from `{tree.branch}` waits for review"
        return await self._finish(report)

    # -- reporting --------------------------------------------------------------------------------
    async def _blocked(self, repo: str, number: int, body: str, reason: str) -> WorkReport:
        await upsert_comment(self.forge, repo, number, report_marker(self.house, number), body, login=self.login)
        await self._set_status(repo, number, "blocked")
        return WorkReport(repo, number, "blocked", reason)

    async def _finish(self, report: WorkReport) -> WorkReport:
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
        marker = report_marker(self.house, report.number)
        await upsert_comment(self.forge, report.repo, report.number, marker, body, login=self.login)
        await self._set_status(report.repo, report.number, report.status)
        return report

    async def _set_status(self, repo: str, number: int, status: str) -> None:
        owner, name = repo.split("/", 1)
        await relabel_status(self.forge, repo, await self.forge.get_issue(owner, name, number), status)

    async def _identity(self) -> str:
        """The commit e-mail: the house's forge user's, else a no-reply address on its login."""
        if self._email is None:
            me = await self.forge.me()
            self._email = me.email or f"{self.login}@noreply.invalid"
        return self._email
