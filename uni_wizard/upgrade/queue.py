"""The upgrade queue (ADR-021): pull requests to the mesh's own repository labelled ``upgrade``.

The reviewer records a proposal when it checks a head (``propose``: head sha, diff hash, risk) and routes
the verdict through ``plan`` (see ``hook.py``); ``sync`` moves each upgrade on from what the forge shows:

- proposed → approved once an approval that counts is bound to the recorded head and its proof is green;
- proposed → expired after ``upgrade_timeout_hours``: the PR is closed with a comment;
- approved → proposed when the head moved or the approval was withdrawn (it no longer binds);
- approved → applying once merged at the approved head (``merge_sha`` is what the reconcilers apply);
- applying → applied when every reconciler host posted ``uni-wizard/deploy/<host>`` success, → failed
  when any posted failure (actor: that host, reason: its description).

``approve`` and ``reject`` are the sovereign's (``uni-wizard upgrades approve|reject``). Every transition
is a compare-and-set in ``UpgradeStore`` and is mirrored as the ``upgrade/<state>`` label; a label write
that fails is retried by the next ``sync_once`` (a finished upgrade keeps an ``UNMIRRORED`` note until then).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from ..errors import TransitionRefused, UniWizardError, UpgradeError
from ..forge.client import GiteaClient
from ..forge.models import CommitStatus, PullRequest, Review
from ..review.config import ReviewConfig
from ..review.gate import approval_valid, effective_approvers, short
from ..review.render import marker
from ..review.worktree import Checkout
from ..store import utc_text
from .config import UpgradeConfig
from .deploys import deploy_outcome
from .labels import LabelMirror
from .records import Proposal, Upgrade, UpgradeStore
from .risk import assess
from .states import TERMINAL, State, allowed, state_label

__all__ = ["ApproveHead", "UpgradeQueue"]

log = logging.getLogger(__name__)

# The reviewer's approval code path: (repo, number, head sha, body) -> an APPROVED review bound to that sha.
ApproveHead = Callable[[str, int, str, str], Awaitable[object]]
OPEN = (State.PROPOSED, State.APPROVED, State.APPLYING)
# The note of a finished upgrade whose ``upgrade/<state>`` label could not be written: ``sync_once`` retries it.
UNMIRRORED = "label not written yet"


def _login(review: Review) -> str:
    return review.user.login if review.user is not None else "?"


class UpgradeQueue:
    """The queue over ``records``; ``forge`` acts as the reviewer's forge user ``login``, whose approvals
    (and the owner's) are ``approvers``; ``deploy_hosts`` are the hosts with the reconciler role."""

    def __init__(
        self,
        forge: GiteaClient,
        records: UpgradeStore,
        config: UpgradeConfig,
        *,
        review: ReviewConfig,
        login: str,
        approvers: frozenset[str],
        deploy_hosts: Sequence[str],
        host: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.forge = forge
        self.records = records
        self.config = config
        self.review = review
        self.login = login
        self.approvers = approvers
        self.deploy_hosts = tuple(deploy_hosts)
        self.host = host
        self.clock = clock
        self.labels = LabelMirror(forge, plain=config.label)

    # -- what the reviewer asks -------------------------------------------------------------------
    def is_upgrade(self, repo: str, pr: PullRequest) -> bool:
        return repo == self.config.repo and any(label.name == self.config.label for label in pr.labels)

    def needs_proposal(self, repo: str, number: int, head: str) -> bool:
        """Whether the head is not recorded yet (and could be): the reviewer must check it even if its
        verdict was written before (a store that was replaced, a reviewer moved to another host)."""
        upgrade = self.records.get(repo, number)
        return upgrade is None or (upgrade.head_sha != head and allowed(upgrade.state, State.PROPOSED))

    def get(self, number: int) -> Upgrade:
        upgrade = self.records.get(self.config.repo, number)
        if upgrade is None:
            raise UpgradeError(f"no upgrade #{number} in {self.config.repo}: the reviewer has not checked it yet")
        return upgrade

    def proposal(self, repo: str, pr: PullRequest, checkout: Checkout, diff_sha256: str) -> Proposal:
        """What the reviewer checked out, with its risk (pure)."""
        risk = assess(checkout.paths, checkout.lines, self.config.risk)
        author = pr.user.login if pr.user is not None else "unknown"
        return Proposal(
            repo, pr.number, pr.title, author, checkout.head, diff_sha256, checkout.merge_base,
            tuple(checkout.paths), checkout.lines, risk,
        )  # fmt: skip

    async def propose(self, proposal: Proposal) -> Upgrade:
        """Record the head the reviewer checked; a new head re-proposes (an approval no longer binds)."""
        head, digest = proposal.head_sha, proposal.diff_sha256
        before = await asyncio.to_thread(self.records.get, proposal.repository, proposal.number)
        if before is None:
            reason = f"proposed at head {short(head)} (diff sha256 {digest[:12]}, {proposal.risk.level} risk)"
        else:
            reason = (
                f"re-proposed: the head moved from {short(before.head_sha)} to {short(head)}; "
                f"an approval of {short(before.head_sha)} no longer binds"
            )
        upgrade = await asyncio.to_thread(self.records.propose, proposal, actor=proposal.author, reason=reason)
        await self.labels.mirror(proposal.repository, proposal.number, upgrade.state)
        return upgrade

    async def note(self, upgrade: Upgrade, text: str) -> None:
        await asyncio.to_thread(self.records.set_note, upgrade.id, upgrade.head_sha, text)

    async def move(
        self, upgrade: Upgrade, wanted: State, *, actor: str, reason: str, merge_sha: str | None = None
    ) -> Upgrade:
        """One compare-and-set transition from the state and head ``upgrade`` was read at, then the label."""
        moved = await asyncio.to_thread(
            self.records.transition, upgrade.id, upgrade.state, wanted,
            actor=actor, reason=reason, head_sha=upgrade.head_sha, merge_sha=merge_sha,
        )  # fmt: skip
        await self._mirror(moved)
        return moved

    async def _mirror(self, upgrade: Upgrade) -> bool:
        """Mirror ``upgrade``'s state as its label; False when the write failed. Never raises: the transition
        is committed. An open upgrade is mirrored again by every sync; a finished one is noted ``UNMIRRORED``
        and ``sync_once`` retries it until the label is written."""
        try:
            await self.labels.mirror(upgrade.repository, upgrade.number, upgrade.state)
        except UniWizardError as exc:
            problem = f"{state_label(upgrade.state)} on #{upgrade.number}: {type(exc).__name__}: {exc}"
            log.warning("upgrade %s: label not written: %s", upgrade.repository, problem)
            if upgrade.state in TERMINAL:
                await self.note(upgrade, f"{UNMIRRORED}: {problem}")
            return False
        return True

    # -- forge reads --------------------------------------------------------------------------------
    async def approval(self, pr: PullRequest, head: str) -> Review | None:
        """The approval that counts for ``head`` (the merge gate's rule), or None."""
        owner, _, name = self.config.repo.partition("/")
        reviews = await self.forge.list_reviews(owner, name, pr.number)
        counting = effective_approvers({label.name for label in pr.labels}, self.review, self.approvers)
        return approval_valid(reviews, head, counting)

    async def proof_problem(self, head: str) -> str | None:
        """Why ``head``'s proof is not green, or None when it is."""
        owner, _, name = self.config.repo.partition("/")
        combined = await self.forge.combined_status(owner, name, head)
        context = self.review.proof_context
        proof = next((s for s in combined.statuses if s.context == context), None)
        if proof is None:
            return f"head {short(head)} has no `{context}` status: the tests must run and report on it"
        if proof.status != "success":
            return f"the `{context}` status of head {short(head)} is {proof.status}, not success"
        return None

    # -- moving on ----------------------------------------------------------------------------------
    async def sync_once(self) -> list[Upgrade]:
        """Bring every open upgrade up to date with the forge, then prune old history."""
        done = []
        for upgrade in await asyncio.to_thread(self.records.list, OPEN):
            try:
                done.append(await self.sync(upgrade))
            except TransitionRefused as exc:  # another pass (or the CLI) moved it first: read again next time
                log.info("upgrade %s#%d: %s", upgrade.repository, upgrade.number, exc)
            except UniWizardError as exc:
                log.warning(
                    "upgrade %s#%d not synced: %s: %s", upgrade.repository, upgrade.number, type(exc).__name__, exc
                )
        for finished in await asyncio.to_thread(self.records.list, TERMINAL):  # label writes that failed
            if finished.note.startswith(UNMIRRORED) and await self._mirror(finished):
                await self.note(finished, "")
        await asyncio.to_thread(self.records.prune, self.config.prune_after_days)
        return done

    async def sync(self, upgrade: Upgrade) -> Upgrade:
        owner, _, name = upgrade.repository.partition("/")
        pr = await self.forge.get_pull(owner, name, upgrade.number)
        if upgrade.state is State.PROPOSED:
            upgrade = await self._sync_proposed(upgrade, pr)
        elif upgrade.state is State.APPROVED:
            upgrade = await self._sync_approved(upgrade, pr)
        elif upgrade.state is State.APPLYING:
            upgrade = await self._sync_applying(upgrade, pr)
        if upgrade.state in OPEN:  # repairs a label someone changed by hand, or a mirror that failed
            await self._mirror(upgrade)
        return upgrade

    def _expired(self, upgrade: Upgrade) -> bool:
        age = self.config.upgrade_timeout_hours * 3600
        return upgrade.proposed_at < utc_text(datetime.fromtimestamp(self.clock() - age, UTC))

    async def _sync_proposed(self, upgrade: Upgrade, pr: PullRequest) -> Upgrade:
        head = short(upgrade.head_sha)
        if pr.merged:
            why = f"merged without an approval of head {head}: the reconcilers will not apply it"
            return await self.move(upgrade, State.REJECTED, actor=self.login, reason=why)
        if pr.state != "open":
            return await self.move(upgrade, State.REJECTED, actor=self.login, reason="closed without being merged")
        if pr.head_sha == upgrade.head_sha:
            approval = await self.approval(pr, upgrade.head_sha)
            if approval is not None:
                problem = await self.proof_problem(upgrade.head_sha)
                if problem is None:
                    why = f"approved head {head} (review {approval.id})"
                    return await self.move(upgrade, State.APPROVED, actor=_login(approval), reason=why)
                await self.note(upgrade, f"approved by {_login(approval)}, but {problem}: it stays proposed")
        if self._expired(upgrade):
            await self._close(upgrade, "expired", self._expiry_text(upgrade))
            why = f"not approved within {self.config.upgrade_timeout_hours:g} hours; the pull request was closed"
            return await self.move(upgrade, State.EXPIRED, actor=self.login, reason=why)
        return upgrade

    async def _sync_approved(self, upgrade: Upgrade, pr: PullRequest) -> Upgrade:
        head = short(upgrade.head_sha)
        if pr.merged and pr.head_sha == upgrade.head_sha:
            sha = pr.merge_commit_sha or pr.head_sha
            why = f"merged as {short(sha)}: the reconcilers apply it"
            return await self.move(upgrade, State.APPLYING, actor=self.login, reason=why, merge_sha=sha)
        if pr.merged:
            why = f"merged at head {short(pr.head_sha)}, not at the approved head {head}: it will not be applied"
            return await self.move(upgrade, State.REJECTED, actor=self.login, reason=why)
        if pr.state != "open":
            return await self.move(upgrade, State.REJECTED, actor=self.login, reason="closed without being merged")
        if pr.head_sha != upgrade.head_sha:
            why = f"the head moved to {short(pr.head_sha)}: the approval of {head} no longer binds"
            return await self.move(upgrade, State.PROPOSED, actor=self.login, reason=why)
        if await self.approval(pr, upgrade.head_sha) is None:
            why = f"the approval of head {head} was dismissed or no longer counts"
            return await self.move(upgrade, State.PROPOSED, actor=self.login, reason=why)
        return upgrade

    async def _sync_applying(self, upgrade: Upgrade, pr: PullRequest) -> Upgrade:
        owner, _, name = upgrade.repository.partition("/")
        shas = list(dict.fromkeys(s for s in (upgrade.merge_sha, upgrade.head_sha) if s))
        statuses: list[CommitStatus] = []
        for sha in shas:  # the merge commit is what is applied; the head is read too, for a fast-forward
            statuses += (await self.forge.combined_status(owner, name, sha)).statuses
        outcome = deploy_outcome(statuses, self.deploy_hosts, self.config.deploy_context_prefix)
        if outcome.outcome == "failed":
            reason = f"rolled back: {outcome.reason}"
            return await self.move(upgrade, State.FAILED, actor=outcome.actor, reason=reason)
        if outcome.outcome == "applied":
            return await self.move(upgrade, State.APPLIED, actor=outcome.actor, reason=outcome.reason)
        await self.note(upgrade, outcome.reason)
        return upgrade

    # -- the sovereign's commands -------------------------------------------------------------------
    async def approve(self, number: int, approve_head: ApproveHead) -> Upgrade:
        """Approve upgrade ``number`` at its recorded head through ``approve_head`` (the reviewer's approval
        code path). ``TransitionRefused`` (nothing written) unless it is proposed, its PR is open at the
        recorded head, and that head's proof is green."""
        upgrade = await asyncio.to_thread(self.get, number)
        if upgrade.state is not State.PROPOSED:
            raise TransitionRefused(f"upgrade #{number} is {upgrade.state.value}: only a proposed one can be approved")
        owner, _, name = upgrade.repository.partition("/")
        pr = await self.forge.get_pull(owner, name, number)
        if pr.state != "open" or pr.merged:
            raise TransitionRefused(f"pull request #{number} is closed: nothing approved")
        if pr.head_sha != upgrade.head_sha:
            raise TransitionRefused(
                f"the head of #{number} moved from {short(upgrade.head_sha)} (proposed) to {short(pr.head_sha)}: "
                "the reviewer must check the new head before it can be approved; nothing approved"
            )
        problem = await self.proof_problem(upgrade.head_sha)
        if problem is not None:
            raise TransitionRefused(f"{problem}; nothing approved")
        body = "\n".join([
            marker("upgrade-approved", number, upgrade.head_sha),
            f"**Upgrade approved** by {self.login} (`uni-wizard upgrades approve {number}`) for head "
            f"`{upgrade.head_sha}` exactly (diff sha256 `{upgrade.diff_sha256}`); a new push needs a new approval.",
        ])  # fmt: skip
        await approve_head(upgrade.repository, number, upgrade.head_sha, body)
        why = f"approved head {short(upgrade.head_sha)} with `uni-wizard upgrades approve`"
        return await self.move(upgrade, State.APPROVED, actor=self.login, reason=why)

    async def reject(self, number: int, reason: str) -> Upgrade:
        """Reject upgrade ``number`` (proposed or approved, not merged): recorded, then the PR is closed
        with a comment giving ``reason``."""
        reason = reason.strip()
        if not reason:
            raise TransitionRefused("a rejection needs a reason (--reason): nothing changed")
        upgrade = await asyncio.to_thread(self.get, number)
        if upgrade.state not in (State.PROPOSED, State.APPROVED):
            raise TransitionRefused(f"upgrade #{number} is {upgrade.state.value}: it can no longer be rejected")
        rejected = await self.move(upgrade, State.REJECTED, actor=self.login, reason=reason)
        text = f"**Upgrade rejected** by {self.login} (head `{short(upgrade.head_sha)}`): {reason}"
        await self._close(rejected, "upgrade-rejected", text)
        return rejected

    async def reject_checked(self, upgrade: Upgrade, reason: str) -> Upgrade:
        """The reviewer's own rejection (a diff over ``max_diff_lines``); the PR stays open for a fix."""
        if upgrade.state not in (State.PROPOSED, State.APPROVED):
            return upgrade
        return await self.move(upgrade, State.REJECTED, actor=self.login, reason=reason)

    # -- writing on the pull request ----------------------------------------------------------------
    def _expiry_text(self, upgrade: Upgrade) -> str:
        return (
            f"**Upgrade expired**: head `{short(upgrade.head_sha)}` was proposed at {upgrade.proposed_at} and not "
            f"approved within {self.config.upgrade_timeout_hours:g} hours, so this pull request is closed. "
            "Open a new one (or reopen this and push) to propose the change again."
        )

    async def _close(self, upgrade: Upgrade, kind: str, text: str) -> None:
        owner, _, name = upgrade.repository.partition("/")
        footer = f"<sub>uni-wizard upgrade queue on `{self.host}`</sub>"
        body = "\n".join([marker(kind, upgrade.number, upgrade.head_sha), text, "", footer])
        await self.forge.create_comment(owner, name, upgrade.number, body)
        await self.forge.edit_issue(owner, name, upgrade.number, state="closed")
