"""Timmy's reviewer and merge gate for pull requests in ``status/review``.

``review_once`` checks each waiting PR at its current head: the worker's proof status, the size of
the diff, the tests re-run in a clean worktree (when code changed), sensitive paths, and whether the
provenance shows the houses' policies held. Then one verdict per head, written once (a marker makes
it idempotent): REQUEST_CHANGES with the reasons; an escalation to the owner (``needs-owner`` and a
comment mentioning them) for sensitive paths; an APPROVED review bound to the head (``auto_approve``);
or a pre-review comment saying it is ready for the owner's approval.

``merge_once`` merges a PR once ``gate.merge_blockers`` is empty, with ``head_commit_id`` = the head:
a push after the check makes the forge answer 409, and the PR goes back to review. Approving and
merging go through the acting house's Harness (tools ``gitea_approve_pr``, ``gitea_merge_pr``), so a
house whose policy lacks ``rules.may_approve``/``may_merge`` is refused before the forge is asked.
Every write is planned first (``Action``) and applied unless ``dry_run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import Forbidden, PolicyDenied, UniWizardError
from ..forge.client import GiteaClient
from ..forge.models import PullRequest, Review
from ..harness.core import Harness
from ..harness.result import Result, Status
from ..harness.runtime import Runtime
from .config import ReviewConfig
from .gate import short
from .merging import execute_merge, plan_merge
from .paths import linked_issues, matching
from .provenance_check import check_provenance
from .render import VERDICT, Findings, find_marker, marker, render_verdict
from .types import Action, MergeReport, ReviewReport
from .worktree import HeadMoved, Worktrees

if TYPE_CHECKING:
    from ..upgrade.queue import UpgradeQueue

__all__ = ["Reviewer"]

log = logging.getLogger(__name__)


def _split(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    return owner, name


def _labels(item: PullRequest) -> set[str]:
    return {label.name for label in item.labels}


class Reviewer:
    """Reviews and merges for ``house`` (Timmy) in ``repos``; ``forge`` acts as the house's forge user.

    The Harness runs on ``runtime`` (its ``env`` carries the forge URL and the house's token for the
    approve and merge tools; the clean worktrees live under ``<workspace>/review``). With ``upgrades``, the
    PRs labelled ``upgrade`` in the mesh's repository are reviewed too and go through the upgrade queue.
    """

    def __init__(
        self,
        forge: GiteaClient,
        *,
        runtime: Runtime,
        config: ReviewConfig,
        repos: Sequence[str],
        owner_login: str | None = None,
        host: str | None = None,
        house: str = "timmy",
        clone_token: str | None = None,
        dry_run: bool = False,
        upgrades: UpgradeQueue | None = None,
    ) -> None:
        self.forge = forge
        self.upgrades = upgrades
        self.runtime = runtime
        self.config = config
        self.repos = tuple(repos)
        self.house = house
        self.login = runtime.policy(house).gitea_user
        self.owner = owner_login or config.owner_login
        self.approvers = frozenset({self.login, self.owner})
        self.host = host or runtime.host
        self.dry_run = dry_run
        self.worktrees = Worktrees(runtime.settings.workspace / "review", token=clone_token or runtime.env.gitea_token)

    def harness(self, task: str) -> Harness:
        return Harness(self.house, runtime=self.runtime, task=task)

    async def waiting(self, repo: str) -> list[tuple[PullRequest, tuple[int, ...]]]:
        """Open PRs labelled ``status/review`` (or closing an issue that is), with the issues they close."""
        owner, name = _split(repo)
        found = []
        for pr in await self.forge.list_pulls(owner, name, state="open"):
            issues = linked_issues(f"{pr.title}\n{pr.body}")
            if self.config.review_label in _labels(pr) or self._is_upgrade(repo, pr):
                found.append((pr, issues))
                continue
            for number in issues:
                if self.config.review_label in (await self.forge.get_issue(owner, name, number)).label_names:
                    found.append((pr, issues))
                    break
        return found

    def _is_upgrade(self, repo: str, pr: PullRequest) -> bool:
        return self.upgrades is not None and self.upgrades.is_upgrade(repo, pr)

    async def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if action.apply is not None and not self.dry_run:
                await action.apply()

    # -- review ---------------------------------------------------------------------------------
    async def _waiting_or_report(self, repo: str) -> tuple[list[tuple[PullRequest, tuple[int, ...]]], str | None]:
        try:
            return await self.waiting(repo), None
        except UniWizardError as exc:
            return [], f"cannot list the pull requests waiting for review: {type(exc).__name__}: {exc}"

    async def review_once(self) -> list[ReviewReport]:
        """Review every waiting PR of every repository; one report each (number 0: the listing failed)."""
        reports = []
        for repo in self.repos:
            waiting, failed = await self._waiting_or_report(repo)
            if failed:
                reports.append(ReviewReport(repo, 0, "", "error", [failed]))
            for pr, issues in waiting:
                report = ReviewReport(repo, pr.number, pr.head_sha, "error")
                try:
                    report = await self.review_pull(repo, pr.number, issues)
                    await self._apply(report.actions)
                except PolicyDenied as exc:
                    report.verdict, report.reasons = "denied", [*report.reasons, str(exc)]
                except UniWizardError as exc:
                    report.verdict, report.reasons = "error", [*report.reasons, f"{type(exc).__name__}: {exc}"]
                reports.append(report)
        return reports

    async def review_pull(self, repo: str, number: int, issues: tuple[int, ...]) -> ReviewReport:
        """Check the PR at its current head and plan the verdict's writes (not applied here)."""
        owner, name = _split(repo)
        pr = await self.forge.get_pull(owner, name, number)
        head = pr.head_sha
        if pr.state != "open" or pr.merged:
            return ReviewReport(repo, number, head, "skipped", notes=["closed or merged meanwhile"])
        upgrades = self.upgrades if self._is_upgrade(repo, pr) else None
        reviews = await self.forge.list_reviews(owner, name, number)
        comments = await self.forge.list_comments(owner, name, number)
        written = find_marker([*reviews, *comments], marker(VERDICT, number, head), self.login) is not None
        if written and (upgrades is None or not upgrades.needs_proposal(repo, number, head)):
            return ReviewReport(repo, number, head, "reviewed_already")
        limit = self.config.max_diff_lines
        if upgrades is not None:
            limit = min(limit, upgrades.config.max_diff_lines)
        proposal = None
        combined = await self.forge.combined_status(owner, name, head)
        proof = next((s for s in combined.statuses if s.context == self.config.proof_context), None)
        reasons: list[str] = []
        notes: list[str] = []
        context = f"`{self.config.proof_context}`"
        pending: ReviewReport | None = None
        if proof is None:
            reasons.append(f"head `{short(head)}` has no {context} status: the tests must run and report on this head")
        elif proof.status == "pending":
            pending = ReviewReport(repo, number, head, "waiting", notes=[f"the {context} status is still pending"])
            # no verdict yet, but an upgrade's head is recorded now so that its timeout runs (it expires even
            # if the proof never reports)
            if upgrades is None or not upgrades.needs_proposal(repo, number, head):
                return pending
        elif proof.status != "success":
            reasons.append(f"the {context} status of head `{short(head)}` is {proof.status}: {proof.description}")
        else:
            notes.append(f"proof {context}: success ({proof.description or 'no description'})")
        clone_url = (await self.forge.get_repo(owner, name)).clone_url
        try:
            async with self.worktrees.checkout(clone_url, owner, name, number, head, pr.base_ref) as co:
                too_large = co.lines > limit
                if too_large:
                    reasons.append(
                        f"the diff is too large: {co.lines} lines changed against the limit of "
                        f"{limit}; split it into smaller pull requests"
                    )
                code = matching(co.paths, self.config.rerun_tests_paths)
                if code and not reasons and pending is None:
                    agreed, sentence = await self._rerun(repo, number, head, str(co.path))
                    if agreed is None:
                        return ReviewReport(repo, number, head, "waiting", notes=[sentence])
                    (notes if agreed else reasons).append(sentence)
                elif code:
                    notes.append("tests not re-run: the head is rejected already")
                else:
                    notes.append("tests not re-run: no changed file matches rerun_tests_paths")
                provenance = await asyncio.to_thread(
                    check_provenance,
                    self.runtime.provenance,
                    [f"{repo}#{issue}" for issue in issues],
                    {house: self.runtime.policy(house) for house in self.runtime.houses},
                    self.runtime.registry,
                    host=self.host,
                    base_files=co.base_files,
                )
                sensitive = tuple(matching(co.paths, self.config.sensitive_paths))
                files, lines = len(co.files), co.lines
                if upgrades is not None:
                    proposal = upgrades.proposal(repo, pr, co, await self.worktrees.diff_digest(co))
        except HeadMoved as exc:
            return ReviewReport(repo, number, head, "waiting", notes=[str(exc)])
        reasons += provenance.problems
        notes += [provenance.summary(), *provenance.notes]
        findings = Findings(number, head, tuple(reasons), tuple(notes), sensitive, files, lines)
        if upgrades is None or proposal is None:
            return self._verdict(repo, pr, findings, reviews)
        from ..upgrade.hook import plan_upgrade_verdict  # here: the upgrade package imports the review package

        report = plan_upgrade_verdict(
            self, upgrades, pr, findings, proposal, too_large=too_large, why_owner=self._why_owner(pr), reviews=reviews
        )
        if written:  # the verdict is on the forge already: only record the proposal
            report.actions = report.actions[:1]
        if pending is not None:  # only record the proposal; the verdict waits for the proof
            queue, why = upgrades, pending.notes[0]

            async def note() -> None:
                await queue.note(await asyncio.to_thread(queue.get, number), f"waiting: {why}")

            pending.actions = [*report.actions[:1], Action("upgrade", f"note upgrade #{number}: {why}", note)]
            return pending
        return report

    def _why_owner(self, pr: PullRequest) -> list[str]:
        if pr.user is not None and pr.user.login == self.login:
            return [f"{self.login} opened it, and nobody approves their own pull request"]
        return []

    async def _rerun(self, repo: str, number: int, head: str, path: str) -> tuple[bool | None, str]:
        """Re-run the tests through the house's Harness; ``(agrees with the proof, sentence)``, None: not yet."""
        result = await self.harness(f"review:{repo}#{number}@{short(head)}").aexecute(
            "run_tests", workspace=path, timeout=self.config.test_timeout, tail_lines=15
        )
        where = f"a clean worktree of `{short(head)}`"
        if result.status is Status.PENDING_APPROVAL:  # SOVEREIGN mode: run_tests waits for a sovereign approval
            return None, f"re-running the tests waits for approval {result.approval_id}: {result.reason}"
        if not result.ok:
            return False, f"the tests could not be re-run in {where} ({result.status}): {result.error}"
        out = result.output
        counts = f"{out['passed']} passed, {out['failed']} failed, {out['errors']} errors"
        if out["ok"]:
            return True, f"tests re-run in {where}: {counts}; they agree with the proof"
        sentence = f"the proof says success, but the tests re-run in {where} fail: {counts} (exit {out['exit_code']})"
        tail = [line.replace("```", "'''") for line in str(out["output_tail"]).splitlines()]
        if tail:  # indented to stay inside the numbered list item the reason becomes
            sentence += "\n\n" + "\n".join(f"   {line}" for line in ["```", *tail, "```"])
        return False, sentence

    def _verdict(self, repo: str, pr: PullRequest, findings: Findings, reviews: list[Review]) -> ReviewReport:
        owner, name = _split(repo)
        number, head = pr.number, pr.head_sha
        report = ReviewReport(repo, number, head, "", list(findings.reasons), list(findings.notes))
        why_owner = []
        if findings.sensitive:
            why_owner.append(f"it touches sensitive paths ({', '.join(findings.sensitive[:5])})")
        why_owner += self._why_owner(pr)
        if findings.reasons:
            report.verdict = "changes_requested"
        elif why_owner:
            report.verdict = "escalated"
        else:
            report.verdict = "approved" if self.config.auto_approve else "pre_reviewed"
        body = render_verdict(
            findings, verdict=report.verdict, reviewer=self.login, owner=self.owner, host=self.host, why_owner=why_owner
        )
        if report.verdict == "changes_requested":
            report.actions.append(
                Action(
                    "review",
                    f"request changes on {short(head)}",
                    lambda: self.forge.create_review(owner, name, number, "REQUEST_CHANGES", body, commit_id=head),
                )
            )
            return report
        for old in reviews:  # our own earlier "changes requested" would block the merge of this head
            mine = old.user is not None and old.user.login == self.login
            if mine and old.state == "REQUEST_CHANGES" and old.official and not old.dismissed:
                report.actions.append(self.dismiss_action(report, old))
        if report.verdict == "escalated":
            if findings.sensitive:
                report.actions.append(self._label(repo, pr, add=self.config.needs_owner_label))
            write = lambda: self.forge.create_comment(owner, name, number, body)  # noqa: E731
            report.actions.append(Action("comment", f"ask @{self.owner} to approve {short(head)}", write))
        elif report.verdict == "approved":
            approve = lambda: self.approve_head(repo, number, head, body)  # noqa: E731
            report.actions.append(Action("approve", f"approve head {short(head)}", approve))
        else:
            write = lambda: self.forge.create_comment(owner, name, number, body)  # noqa: E731
            report.actions.append(Action("comment", f"pre-review {short(head)} for @{self.owner}", write))
        return report

    async def approve_head(self, repo: str, number: int, head: str, body: str) -> Result:
        """An APPROVED review bound to ``head``, through the house's Harness (``rules.may_approve``)."""
        task = f"review:{repo}#{number}@{short(head)}"
        result = await self.harness(task).aexecute(
            "gitea_approve_pr", repo=repo, number=number, commit_id=head, body=body
        )
        return result.raise_for_status()

    def dismiss_action(self, report: ReviewReport, old: Review) -> Action:
        owner, name = _split(report.repository)

        async def dismiss() -> None:
            why = f"superseded by the review of {report.head}"
            try:
                await self.forge.dismiss_review(owner, name, report.number, old.id, why)
            except Forbidden as exc:  # only repository admins dismiss: say so, and go on with the verdict
                report.notes.append(
                    f"could not dismiss our earlier changes-requested review {old.id} ({exc.status}): it still "
                    "blocks the merge until a repository admin dismisses it or we approve a head"
                )

        return Action("dismiss", f"dismiss our earlier changes-requested review {old.id}", dismiss)

    def _label(self, repo: str, item: PullRequest, *, add: str) -> Action:
        owner, name = _split(repo)
        current = _labels(item)
        if add in current:
            return Action("label", f"already labelled {add}")

        async def label() -> None:
            await self.forge.ensure_label(owner, name, add, "#d93f0b", description="the owner must approve")
            await self.forge.add_labels(owner, name, item.number, [add])

        return Action("label", f"label {add}", label)

    # -- merge ----------------------------------------------------------------------------------
    async def merge_once(self) -> list[MergeReport]:
        """Merge every waiting PR nothing blocks (see ``gate.merge_blockers``), at the head checked; the
        upgrade queue is brought up to date before (approvals seen) and after (merges seen)."""
        await self.sync_upgrades()
        reports = []
        for repo in self.repos:
            waiting, failed = await self._waiting_or_report(repo)
            if failed:
                reports.append(MergeReport(repo, 0, "", "error", [failed]))
            for pr, issues in waiting:
                report = MergeReport(repo, pr.number, pr.head_sha, "error")
                try:
                    report = await plan_merge(self, repo, pr.number)
                    if report.outcome == "ready" and not self.dry_run:
                        report.actions = []
                        report = await execute_merge(self, report, issues)
                        await self._apply(report.actions)
                except UniWizardError as exc:
                    report.outcome, report.reasons = "error", [*report.reasons, f"{type(exc).__name__}: {exc}"]
                reports.append(report)
        await self.sync_upgrades()
        return reports

    async def sync_upgrades(self) -> None:
        """One ``sync_once`` of the upgrade queue (not in a dry run); a failure is left for the next pass."""
        if self.upgrades is None or self.dry_run:
            return
        try:
            await self.upgrades.sync_once()
        except UniWizardError as exc:
            log.warning("upgrade queue not synced: %s: %s", type(exc).__name__, exc)
