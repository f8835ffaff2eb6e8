"""How Timmy's reviewer treats an upgrade pull request: the same checks (proof, diff size, tests re-run,
provenance), then the queue decides the verdict instead of the owner escalation.

- checks failed: REQUEST_CHANGES as for any PR; a diff over ``max_diff_lines`` rejects the upgrade, any
  other reason leaves it proposed with the reason as its note (no proof: never approved);
- checks passed, ``auto_approve_upgrades`` on and the risk rules say low: the reviewer approves the head
  (its usual approval code path) and the upgrade is approved;
- otherwise a pre-review comment asks the sovereign to run ``uni-wizard upgrades approve N`` (or the owner
  to approve the head on the forge). Upgrades touch sensitive paths by nature, so the ``needs-owner``
  escalation is replaced by this explicit approval.

Every write is an ``Action``, applied unless the reviewer runs dry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import TransitionRefused
from ..forge.models import PullRequest, Review
from ..review.gate import short
from ..review.render import Findings, render_verdict
from ..review.types import Action, ReviewReport
from .queue import UpgradeQueue
from .records import Proposal, Upgrade
from .states import State

if TYPE_CHECKING:
    from ..review.reviewer import Reviewer

__all__ = ["merge_blockers", "plan_upgrade_verdict"]


def merge_blockers(queue: UpgradeQueue, repo: str, pr: PullRequest) -> list[str]:
    """What the queue adds to the merge gate: the upgrade must be approved at the PR's head."""
    upgrade = queue.records.get(repo, pr.number)
    if upgrade is None:
        return [f"upgrade #{pr.number} is not in the queue yet: the reviewer records it when it checks the head"]
    if upgrade.head_sha != pr.head_sha:
        return [f"upgrade #{pr.number} was proposed at {short(upgrade.head_sha)}, the head is {short(pr.head_sha)}"]
    if upgrade.state is not State.APPROVED:
        return [f"upgrade #{pr.number} is {upgrade.state.value}, not approved"]
    return []


def _upgrade_lines(proposal: Proposal, auto: bool) -> list[str]:
    risk = proposal.risk
    lines = [
        f"- upgrade: head `{proposal.head_sha}`, diff sha256 `{proposal.diff_sha256}`",
        f"- risk: {risk.level}" + (f" ({'; '.join(risk.reasons)})" if risk.reasons else ""),
    ]
    if not auto:
        lines.append("- auto_approve_upgrades is off: the sovereign approves every upgrade")
    return lines


def plan_upgrade_verdict(
    reviewer: Reviewer,
    queue: UpgradeQueue,
    pr: PullRequest,
    findings: Findings,
    proposal: Proposal,
    *,
    too_large: bool,
    why_owner: Sequence[str],
    reviews: list[Review],
) -> ReviewReport:
    """The verdict on an upgrade's head and its writes: record the proposal first, then the verdict."""
    repo, number, head = proposal.repository, pr.number, pr.head_sha
    owner, _, name = repo.partition("/")
    report = ReviewReport(repo, number, head, "", list(findings.reasons), list(findings.notes))
    recorded: list[Upgrade] = []

    async def propose() -> None:
        try:
            recorded.append(await queue.propose(proposal))
        except TransitionRefused as exc:  # expired or finished: the PR was reopened or pushed to
            report.notes.append(str(exc))
            raise

    report.actions.append(Action("upgrade", f"record upgrade #{number} at {short(head)}", propose))
    auto = queue.config.auto_approve_upgrades
    if findings.reasons:
        report.verdict = "changes_requested"
        body = render_verdict(findings, verdict=report.verdict, reviewer=reviewer.login, owner=reviewer.owner,
                              host=reviewer.host)  # fmt: skip

        async def request_changes() -> None:
            await reviewer.forge.create_review(owner, name, number, "REQUEST_CHANGES", body, commit_id=head)
            reason = "; ".join(findings.reasons)
            if too_large:
                await queue.reject_checked(recorded[-1], f"rejected by the review: {reason}")
            else:
                await queue.note(recorded[-1], f"not approvable: {reason}")

        report.actions.append(Action("review", f"request changes on {short(head)}", request_changes))
        return report
    for old in reviews:  # our own earlier "changes requested" would block the merge of this head
        mine = old.user is not None and old.user.login == reviewer.login
        if mine and old.state == "REQUEST_CHANGES" and old.official and not old.dismissed:
            report.actions.append(reviewer.dismiss_action(report, old))
    low = proposal.risk.low
    report.verdict = "approved" if auto and low and not why_owner else "pre_reviewed"
    extra = _upgrade_lines(proposal, auto)
    if report.verdict == "approved":
        body = render_verdict(findings, verdict="approved", reviewer=reviewer.login, owner=reviewer.owner,
                              host=reviewer.host)  # fmt: skip
        body = body.replace("\n\n<sub>", "\n" + "\n".join(extra) + "\n\n<sub>", 1)

        async def approve() -> None:
            await reviewer.approve_head(repo, number, head, body)
            why = f"auto-approved head {short(head)}: low risk and auto_approve_upgrades is on"
            await queue.move(recorded[-1], State.APPROVED, actor=reviewer.login, reason=why)

        report.actions.append(Action("approve", f"approve upgrade head {short(head)}", approve))
        return report
    why = [*why_owner, *(f"risk: {r}" for r in proposal.risk.reasons)] or ["auto_approve_upgrades is off"]
    body = render_verdict(findings, verdict="pre_reviewed", reviewer=reviewer.login, owner=reviewer.owner,
                          host=reviewer.host)  # fmt: skip
    ask = (
        f"**Upgrade #{number}**: waiting for the sovereign. Run `uni-wizard upgrades approve {number}` (or "
        f"approve head `{short(head)}` on the forge as @{reviewer.owner}); "
        f"`uni-wizard upgrades reject {number} --reason ...` to refuse it. Not approved automatically because: "
        + "; ".join(why)
    )
    body = body.replace("\n\n<sub>", "\n" + "\n".join(extra) + "\n\n" + ask + "\n\n<sub>", 1)

    async def comment() -> None:
        await reviewer.forge.create_comment(owner, name, number, body)
        await queue.note(recorded[-1], "waiting for the sovereign's approval")

    report.actions.append(Action("comment", f"ask the sovereign to approve upgrade {short(head)}", comment))
    return report
