"""How ``UpgradeQueue.sync`` moves an open upgrade on from what the forge shows of its pull request.

- proposed → approved once an approval that counts is bound to the recorded head and its proof is green;
  → expired after ``upgrade_timeout_hours`` (the PR is closed with a comment); → rejected when the PR
  was closed, or merged without an approval;
- approved → applying once merged at the approved head (``merge_sha`` is what the reconcilers apply);
  → proposed when the head moved or the approval was withdrawn (it no longer binds); → rejected when
  closed, or merged at another head;
- applying → applied when every reconciler host posted ``uni-wizard/deploy/<host>`` success, → failed
  when any posted failure (actor: that host, reason: its description).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..forge.models import CommitStatus, PullRequest, Review
from ..reporef import RepoRef
from ..review.extension import short
from .config import UpgradeConfig
from .deploys import deploy_outcome
from .forge_api import UpgradeForge
from .records import Upgrade
from .states import State

__all__ = ["Moves", "advance"]


class Moves(Protocol):
    """What the moves use of the queue (``UpgradeQueue`` is one)."""

    @property
    def forge(self) -> UpgradeForge: ...

    @property
    def config(self) -> UpgradeConfig: ...

    @property
    def login(self) -> str: ...

    @property
    def deploy_hosts(self) -> Sequence[str]: ...

    async def move(
        self, upgrade: Upgrade, wanted: State, *, actor: str, reason: str, merge_sha: str | None = None
    ) -> Upgrade: ...

    async def note(self, upgrade: Upgrade, text: str) -> None: ...

    async def approval(self, pr: PullRequest, head: str) -> Review | None: ...

    async def proof_problem(self, head: str) -> str | None: ...

    def expired(self, upgrade: Upgrade) -> bool: ...

    async def close_pull(self, upgrade: Upgrade, kind: str, text: str) -> None: ...


async def advance(queue: Moves, upgrade: Upgrade, pr: PullRequest) -> Upgrade:
    """``upgrade`` after the move ``pr`` calls for (itself when none)."""
    if upgrade.state is State.PROPOSED:
        return await _proposed(queue, upgrade, pr)
    if upgrade.state is State.APPROVED:
        return await _approved(queue, upgrade, pr)
    if upgrade.state is State.APPLYING:
        return await _applying(queue, upgrade, pr)
    return upgrade


def _login(review: Review) -> str:
    return review.user.login if review.user is not None else "?"


async def _proposed(queue: Moves, upgrade: Upgrade, pr: PullRequest) -> Upgrade:
    head = short(upgrade.head_sha)
    if pr.merged:
        why = f"merged without an approval of head {head}: the reconcilers will not apply it"
        return await queue.move(upgrade, State.REJECTED, actor=queue.login, reason=why)
    if pr.state != "open":
        return await queue.move(upgrade, State.REJECTED, actor=queue.login, reason="closed without being merged")
    if pr.head_sha == upgrade.head_sha:
        approval = await queue.approval(pr, upgrade.head_sha)
        if approval is not None:
            problem = await queue.proof_problem(upgrade.head_sha)
            if problem is None:
                why = f"approved head {head} (review {approval.id})"
                return await queue.move(upgrade, State.APPROVED, actor=_login(approval), reason=why)
            await queue.note(upgrade, f"approved by {_login(approval)}, but {problem}: it stays proposed")
    if queue.expired(upgrade):
        await queue.close_pull(upgrade, "expired", _expiry_text(upgrade, queue.config.upgrade_timeout_hours))
        why = f"not approved within {queue.config.upgrade_timeout_hours:g} hours; the pull request was closed"
        return await queue.move(upgrade, State.EXPIRED, actor=queue.login, reason=why)
    return upgrade


def _expiry_text(upgrade: Upgrade, hours: float) -> str:
    return (
        f"**Upgrade expired**: head `{short(upgrade.head_sha)}` was proposed at {upgrade.proposed_at} and not "
        f"approved within {hours:g} hours, so this pull request is closed. "
        "Open a new one (or reopen this and push) to propose the change again."
    )


async def _approved(queue: Moves, upgrade: Upgrade, pr: PullRequest) -> Upgrade:
    head = short(upgrade.head_sha)
    if pr.merged and pr.head_sha == upgrade.head_sha:
        sha = pr.merge_commit_sha or pr.head_sha
        why = f"merged as {short(sha)}: the reconcilers apply it"
        return await queue.move(upgrade, State.APPLYING, actor=queue.login, reason=why, merge_sha=sha)
    if pr.merged:
        why = f"merged at head {short(pr.head_sha)}, not at the approved head {head}: it will not be applied"
        return await queue.move(upgrade, State.REJECTED, actor=queue.login, reason=why)
    if pr.state != "open":
        return await queue.move(upgrade, State.REJECTED, actor=queue.login, reason="closed without being merged")
    if pr.head_sha != upgrade.head_sha:
        why = f"the head moved to {short(pr.head_sha)}: the approval of {head} no longer binds"
        return await queue.move(upgrade, State.PROPOSED, actor=queue.login, reason=why)
    if await queue.approval(pr, upgrade.head_sha) is None:
        why = f"the approval of head {head} was dismissed or no longer counts"
        return await queue.move(upgrade, State.PROPOSED, actor=queue.login, reason=why)
    return upgrade


async def _applying(queue: Moves, upgrade: Upgrade, pr: PullRequest) -> Upgrade:
    owner, name = RepoRef.parse(upgrade.repository)
    shas = list(dict.fromkeys(s for s in (upgrade.merge_sha, upgrade.head_sha) if s))
    statuses: list[CommitStatus] = []
    for sha in shas:  # the merge commit is what is applied; the head is read too, for a fast-forward
        statuses += (await queue.forge.combined_status(owner, name, sha)).statuses
    outcome = deploy_outcome(statuses, queue.deploy_hosts, queue.config.deploy_context_prefix)
    if outcome.outcome == "failed":
        reason = f"rolled back: {outcome.reason}"
        return await queue.move(upgrade, State.FAILED, actor=outcome.actor, reason=reason)
    if outcome.outcome == "applied":
        return await queue.move(upgrade, State.APPLIED, actor=outcome.actor, reason=outcome.reason)
    await queue.note(upgrade, outcome.reason)
    return upgrade
