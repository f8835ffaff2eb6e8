"""The upgrade queue as a review extension (``review.extension.ReviewExtension``): how Timmy's reviewer
treats an upgrade pull request. The same checks as any PR (proof, diff size, tests re-run, provenance);
the queue records each head it checks and decides the verdict instead of the owner escalation:

- checks failed: REQUEST_CHANGES as for any PR; a diff over ``max_diff_lines`` rejects the upgrade, any
  other reason leaves it proposed with the reason as its note (no proof: never approved);
- checks passed, ``auto_approve_upgrades`` on and the risk rules say low: the reviewer approves the head
  (its usual approval code path) and the upgrade is approved;
- otherwise a pre-review comment asks the sovereign to run ``uni-wizard upgrades approve N`` (or the owner
  to approve the head on the forge). Upgrades touch sensitive paths by nature, so the ``needs-owner``
  escalation is replaced by this explicit approval.

The merge gate gets one more blocker (the queue must hold the head as approved), and the queue catches up
with the forge before and after every merge pass (``UpgradeQueue.sync_once``).
"""

from __future__ import annotations

import asyncio

from ..errors import TransitionRefused
from ..forge.models import PullRequest
from ..review.extension import Action, CheckedHead, ReviewerView, ReviewReport, Verdict, short
from .queue import UpgradeQueue
from .records import Proposal, Upgrade
from .risk import assess
from .states import State, allowed

__all__ = ["UpgradeHook"]


class UpgradeHook:
    """The review extension of ``queue``: PRs labelled ``upgrade`` in the queue's repository."""

    def __init__(self, queue: UpgradeQueue) -> None:
        self.queue = queue

    def handles(self, repo: str, pr: PullRequest) -> bool:
        config = self.queue.config
        return repo == config.repo and any(label.name == config.label for label in pr.labels)

    def diff_limit(self, repo: str, pr: PullRequest) -> int | None:
        return self.queue.config.max_diff_lines

    def must_record(self, repo: str, pr: PullRequest) -> bool:
        """The head is not recorded yet (and could be): checked even if its verdict was written before (a
        store that was replaced, a reviewer moved to another host) or its proof is pending (its timeout runs)."""
        upgrade = self.queue.records.get(repo, pr.number)
        return upgrade is None or (upgrade.head_sha != pr.head_sha and allowed(upgrade.state, State.PROPOSED))

    def proposal(self, checked: CheckedHead) -> Proposal:
        """What the reviewer checked out, with its risk (pure)."""
        co, pr = checked.checkout, checked.pr
        risk = assess(co.paths, co.lines, self.queue.config.risk)
        author = pr.user.login if pr.user is not None else "unknown"
        return Proposal(
            checked.repo, pr.number, pr.title, author, co.head, checked.diff_sha256, co.merge_base,
            tuple(co.paths), co.lines, risk,
        )  # fmt: skip

    async def _recorded(self, number: int) -> Upgrade:
        return await asyncio.to_thread(self.queue.get, number)

    def record(self, checked: CheckedHead, report: ReviewReport, *, waiting: str | None = None) -> list[Action]:
        """Propose the checked head (a new head re-proposes); with ``waiting``, note why no verdict yet."""
        queue, proposal, number = self.queue, self.proposal(checked), checked.number

        async def propose() -> None:
            try:
                await queue.propose(proposal)
            except TransitionRefused as exc:  # expired or finished: the PR was reopened or pushed to
                report.notes.append(str(exc))
                raise

        actions = [Action("upgrade", f"record upgrade #{number} at {short(checked.head)}", propose)]
        if waiting is not None:

            async def note() -> None:
                await queue.note(await self._recorded(number), f"waiting: {waiting}")

            actions.append(Action("upgrade", f"note upgrade #{number}: {waiting}", note))
        return actions

    def plan_verdict(self, checked: CheckedHead, reviewer: ReviewerView) -> Verdict:
        """Request changes when the checks failed; approve a low-risk upgrade when allowed; else ask the
        sovereign. Each write is followed by the queue's move or note."""
        queue, number, head = self.queue, checked.number, checked.head
        reasons = "; ".join(checked.findings.reasons)
        if reasons:

            async def rejected() -> None:
                upgrade = await self._recorded(number)
                if checked.too_large:
                    await queue.reject_checked(upgrade, f"rejected by the review: {reasons}")
                else:
                    await queue.note(upgrade, f"not approvable: {reasons}")

            return Verdict("changes_requested", then=rejected)
        proposal = self.proposal(checked)
        auto = queue.config.auto_approve_upgrades
        lines = _upgrade_lines(proposal, auto)
        if auto and proposal.risk.low and not checked.why_owner:

            async def approved() -> None:
                why = f"auto-approved head {short(head)}: low risk and auto_approve_upgrades is on"
                await queue.move(await self._recorded(number), State.APPROVED, actor=reviewer.login, reason=why)

            return Verdict("approved", f"approve upgrade head {short(head)}", lines=lines, then=approved)

        async def waits() -> None:
            await queue.note(await self._recorded(number), "waiting for the sovereign's approval")

        why = [*checked.why_owner, *(f"risk: {r}" for r in proposal.risk.reasons)] or ["auto_approve_upgrades is off"]
        ask = _ask_sovereign(number, head, why, owner=reviewer.owner)
        described = f"ask the sovereign to approve upgrade {short(head)}"
        return Verdict("pre_reviewed", described, lines=(*lines, "", ask), then=waits)

    def merge_blockers(self, repo: str, pr: PullRequest) -> list[str]:
        """The upgrade must be approved at the PR's head."""
        upgrade = self.queue.records.get(repo, pr.number)
        if upgrade is None:
            return [f"upgrade #{pr.number} is not in the queue yet: the reviewer records it when it checks the head"]
        if upgrade.head_sha != pr.head_sha:
            return [f"upgrade #{pr.number} was proposed at {short(upgrade.head_sha)}, the head is {short(pr.head_sha)}"]
        if upgrade.state is not State.APPROVED:
            return [f"upgrade #{pr.number} is {upgrade.state.value}, not approved"]
        return []

    async def sync(self) -> None:
        await self.queue.sync_once()


def _upgrade_lines(proposal: Proposal, auto: bool) -> tuple[str, ...]:
    risk = proposal.risk
    lines = [
        f"- upgrade: head `{proposal.head_sha}`, diff sha256 `{proposal.diff_sha256}`",
        f"- risk: {risk.level}" + (f" ({'; '.join(risk.reasons)})" if risk.reasons else ""),
    ]
    if not auto:
        lines.append("- auto_approve_upgrades is off: the sovereign approves every upgrade")
    return tuple(lines)


def _ask_sovereign(number: int, head: str, why: list[str], *, owner: str) -> str:
    return (
        f"**Upgrade #{number}**: waiting for the sovereign. Run `uni-wizard upgrades approve {number}` (or "
        f"approve head `{short(head)}` on the forge as @{owner}); "
        f"`uni-wizard upgrades reject {number} --reason ...` to refuse it. Not approved automatically because: "
        + "; ".join(why)
    )
