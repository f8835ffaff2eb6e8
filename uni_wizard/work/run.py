"""``PlanRun``: one plan carried out in one clone, then what changed published.

Every step runs through the house's Harness (its policy, mode and provenance apply) with its expectations
checked; with no plan, the house's agent (the model planner) decides the steps one at a time instead, each
run and recorded the same way. When the repository changed: commit and push through the Harness, the proof
when the house's policy has ``proof_required`` (run_tests, the ``uni-wizard/proof`` status on the head sha,
a proof comment), then the pull request (``Closes #<n>``, labelled ``status/review``). A failed step, push
or proof ends the run with the issue ``status/blocked`` and the reason in the report; a failed proof never
asks for review.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ..dispatch.types import IssueText
from ..errors import BudgetExhausted
from ..forge.models import Issue
from ..harness.core import Harness
from ..harness.result import Call
from ..policy.model import HousePolicy
from ..tools.registry import ToolRegistry
from .checks import check, substitute
from .forge_api import WorkForge
from .metrics import HouseWorkMetrics
from .planner import allowed_tools
from .publish import LabelIds, open_pull, post_proof, proof_command, pull_body
from .repo import IssueWorktree
from .report import agent_notes
from .reporting import Reporter, WorkReport
from .types import AgentContext, AgentRunner, Expectation, ModelSetup, Plan, Step, StepOutcome

__all__ = ["PlanRun"]

log = logging.getLogger(__name__)

_WHO = {"playbook": "plan", "model": "model"}


class PlanRun:
    """``issue`` of ``repo`` worked in ``tree`` through ``harness``; ``reporter`` writes how it ended."""

    def __init__(
        self,
        forge: WorkForge,
        harness: Harness,
        reporter: Reporter,
        *,
        repo: str,
        issue: Issue,
        tree: IssueWorktree,
        policy: HousePolicy,
        tools: ToolRegistry,
        agent: AgentRunner | None = None,
        setup: ModelSetup | None = None,
        labels: LabelIds | None = None,
        metrics: HouseWorkMetrics | None = None,
    ) -> None:
        self.forge, self.harness, self.reporter = forge, harness, reporter
        self.repo, self.issue, self.tree = repo, issue, tree
        self.policy, self.tools, self.agent = policy, tools, agent
        self.setup = setup or ModelSetup()
        self.labels = labels or LabelIds()
        self.metrics = metrics  # the house's worker counters (None: not counted)
        self.task = f"{repo}#{issue.number}"
        self.path = str(tree.path)
        self.values = {"worktree": self.path, "issue": str(issue.number), "repo": repo, "branch": tree.branch}
        self.report = WorkReport(repo, issue.number, "blocked")

    async def call(self, step: Step) -> StepOutcome:
        """Run ``step`` as it is and record its outcome in the report."""
        result = await self.harness.run(Call(step.tool, step.args))
        outcome = StepOutcome(step, result, check(step, result))
        self.report.outcomes.append(outcome)
        return outcome

    async def filled(self, step: Step) -> StepOutcome:
        """Run ``step`` with ``{worktree}``, ``{issue}``, ``{repo}`` and ``{branch}`` filled in."""
        return await self.call(replace(step, args=substitute(step.args, self.values)))

    async def run(self, plan: Plan | None) -> WorkReport:
        """Run ``plan``'s steps, or (no plan) the agent's loop, then publish what changed."""
        report = self.report
        if plan is None:
            plan = await self._agent()
            if plan is None:
                self._count_plan("model", ok=False)
                return await self.reporter.finish(report)
        ran = await self._steps(plan)
        self._count_plan(plan.source, ok=ran)
        if not ran:
            return await self.reporter.finish(report)
        if not await self.tree.changed():
            report.status, report.reason = "done", f"the {_WHO[plan.source]} ran; it changed nothing in the repository"
            return await self.reporter.finish(report)
        return await self._publish(plan.title or self.issue.title)

    def _count_plan(self, source: str, *, ok: bool) -> None:
        if self.metrics is not None:
            self.metrics.plan_ran(source, ok=ok)

    async def _agent(self) -> Plan | None:
        """The agent's loop on the issue; the empty plan it leaves when it finished, else None (and why)."""
        assert self.agent is not None  # the worker runs no plan only when there is an agent
        issue = self.issue
        text = IssueText(issue.number, issue.title, issue.body, tuple(issue.label_names))
        tools = allowed_tools(self.tools, self.policy)
        context = AgentContext(text, self.reporter.house, self.repo, self.path, self.tree.branch, tools)
        run = await self.agent.run(context, self.filled)
        self.report.notes = agent_notes(run)
        house = self.reporter.house
        if not run.finished:
            self.report.reason = f"the model planner stopped before the work was done: {run.stop}"
            if run.stop is not None and not isinstance(run.stop, BudgetExhausted):
                self.report.reason += (
                    f" (the providers are under `providers` in `{self.setup.cascade_file}`; "
                    "`uni-wizard cascade status` shows what each answers)"
                )
            log.info("%s: the model planner stopped on %s: %s", house, self.task, run.summary())
            return None
        log.info("%s: the model planner finished %s: %s", house, self.task, run.summary())
        return Plan((), source="model")

    async def _steps(self, plan: Plan) -> bool:
        """Each step in turn; False (and the report says which step and why) at the first that failed."""
        for index, step in enumerate(plan.steps, 1):
            outcome = await self.filled(step)
            if not outcome.ok:
                why = outcome.result.error or "; ".join(outcome.failures) or str(outcome.result.status)
                self.report.reason = f"step {index} (`{step.tool}`, line {step.line}) failed: {why}"
                return False
        return True

    async def _publish(self, title: str) -> WorkReport:
        """Commit (when dirty), prove (when the policy asks), push, then open the pull request."""
        report, path, number = self.report, self.path, self.issue.number
        if await self.tree.dirty():
            message = f"{title} (#{number})"
            commit = await self.call(Step("git_commit", {"repo_path": path, "message": message, "add_all": True}))
            if not commit.ok:
                report.reason = f"the commit failed: {commit.result.error or commit.result.reason}"
                return await self.reporter.finish(report)
        tests = None
        if self.policy.rules.proof_required:
            passed = (Expectation("output.ok", "==", True),)
            tests = await self.call(Step("run_tests", {"workspace": path}, passed, name="proof"))
        push = await self.call(Step("git_push", {"repo_path": path, "branch": self.tree.branch, "set_upstream": True}))
        if not push.ok:
            report.reason = f"the push failed: {push.result.error or push.result.reason}"
            return await self.reporter.finish(report)
        report.head_sha = await self.tree.head()
        if tests is not None and not await self._prove(tests, report.head_sha):
            return await self.reporter.finish(report)
        return await self._pull(title)

    async def _prove(self, tests: StepOutcome, sha: str) -> bool:
        """Post the proof of ``sha``; False (and the report says why) when it failed."""
        reporter, report = self.reporter, self.report
        report.proof = await post_proof(
            self.forge, self.repo, self.issue.number, house=reporter.house, login=reporter.login,
            branch=self.tree.branch, sha=sha, result=tests.result, host=reporter.host,
            fresh=not self.tree.resumed, book=reporter.book(self.repo, self.issue.number),
        )  # fmt: skip
        verdict = "passed" if report.proof.ok else "failed"
        if self.metrics is not None:
            self.metrics.proof(passed=report.proof.ok)
        why = proof_command(tests.result)
        log.info(
            "%s: proof %s on %s for %s (%s)%s", reporter.house, verdict, sha[:12], self.task,
            report.proof.description, f": {why}" if why else "",
        )  # fmt: skip
        if why:
            report.notes = "\n\n".join(filter(None, (report.notes, f"Tests: {why}.")))
        if report.proof.ok:
            return True
        failed = f"the proof failed on `{sha[:12]}` ({report.proof.description})"
        report.reason = f"{failed}: no review is requested until the tests pass"
        return False

    async def _pull(self, title: str) -> WorkReport:
        """The pull request from the issue branch, then the report saying it waits for review."""
        report, reporter, number = self.report, self.reporter, self.issue.number
        body = pull_body(
            number, title, report.outcomes, house=reporter.house, host=reporter.host,
            task=f"{self.repo}#{number}", proof=report.proof,
        )  # fmt: skip
        pull = await open_pull(
            self.forge, self.repo, branch=self.tree.branch, base=self.tree.base, title=title, body=body,
            label="status/review", fresh=not self.tree.resumed, labels=self.labels,
            opened=self.metrics.pull_opened if self.metrics is not None else None,
        )  # fmt: skip
        report.status, report.pr_url = "review", pull.html_url or f"{self.repo}#{pull.number}"
        log.info("%s: PR opened !%d for %s from %s", reporter.house, pull.number, self.task, self.tree.branch)
        report.reason = f"pull request #{pull.number} from `{self.tree.branch}` waits for review"
        return await reporter.finish(report)
