"""The upgrade queue (ADR-021): pull requests to the mesh's own repository labelled ``upgrade``.

The reviewer, through the queue's review extension (``hook.py``), records a proposal when it checks a
head (``propose``: head sha, diff hash, risk) and routes the verdict through the queue; ``sync_once``
moves each open upgrade on from what the forge shows (``progress.py``). ``approve`` and ``reject`` are
the sovereign's (``uni-wizard upgrades approve|reject``).

Every transition is a compare-and-set in ``UpgradeStore`` and is mirrored as the ``upgrade/<state>``
label; a label write that fails is retried by the next ``sync_once`` (a finished upgrade keeps an
``UNMIRRORED`` note until then).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from ..errors import RecordNotFound, TransitionRefused, UniWizardError
from ..forge.models import PullRequest, Review
from ..reporef import RepoRef
from ..review.extension import ReviewConfig, approval_valid, effective_approvers, marker, short
from ..store import utc_text
from .config import UpgradeConfig
from .forge_api import UpgradeForge
from .labels import LabelMirror
from .progress import advance
from .records import Proposal, Upgrade, UpgradeStore
from .states import TERMINAL, State, state_label

__all__ = ["ApproveHead", "UpgradeQueue"]

log = logging.getLogger(__name__)

# The reviewer's approval code path: (repo, number, head sha, body) -> an APPROVED review bound to that sha.
ApproveHead = Callable[[str, int, str, str], Awaitable[object]]
OPEN = (State.PROPOSED, State.APPROVED, State.APPLYING)
# The note of a finished upgrade whose ``upgrade/<state>`` label could not be written: ``sync_once`` retries it.
UNMIRRORED = "label not written yet"


class UpgradeQueue:
    """The queue over ``records``; ``forge`` acts as the reviewer's forge user ``login``, whose approvals
    (and the owner's) are ``approvers``; ``deploy_hosts`` are the hosts with the reconciler role."""

    def __init__(
        self,
        forge: UpgradeForge,
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

    def get(self, number: int) -> Upgrade:
        upgrade = self.records.get(self.config.repo, number)
        if upgrade is None:
            raise RecordNotFound(
                f"no upgrade #{number} in {self.config.repo}: the reviewer has not checked it yet",
                kind="upgrade",
                key=number,
            )
        return upgrade

    # -- recording and moving -----------------------------------------------------------------------
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
        owner, name = RepoRef.parse(self.config.repo)
        reviews = await self.forge.list_reviews(owner, name, pr.number)
        counting = effective_approvers({label.name for label in pr.labels}, self.review, self.approvers)
        return approval_valid(reviews, head, counting)

    async def proof_problem(self, head: str) -> str | None:
        """Why ``head``'s proof is not green, or None when it is."""
        owner, name = RepoRef.parse(self.config.repo)
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
        owner, name = RepoRef.parse(upgrade.repository)
        pr = await self.forge.get_pull(owner, name, upgrade.number)
        upgrade = await advance(self, upgrade, pr)
        if upgrade.state in OPEN:  # repairs a label someone changed by hand, or a mirror that failed
            await self._mirror(upgrade)
        return upgrade

    def expired(self, upgrade: Upgrade) -> bool:
        """Proposed longer than ``upgrade_timeout_hours`` ago."""
        age = self.config.upgrade_timeout_hours * 3600
        return upgrade.proposed_at < utc_text(datetime.fromtimestamp(self.clock() - age, UTC))

    # -- the sovereign's commands -------------------------------------------------------------------
    async def approve(self, number: int, approve_head: ApproveHead) -> Upgrade:
        """Approve upgrade ``number`` at its recorded head through ``approve_head`` (the reviewer's approval
        code path). ``TransitionRefused`` (nothing written) unless it is proposed, its PR is open at the
        recorded head, and that head's proof is green."""
        upgrade = await asyncio.to_thread(self.get, number)
        if upgrade.state is not State.PROPOSED:
            raise TransitionRefused(f"upgrade #{number} is {upgrade.state.value}: only a proposed one can be approved")
        owner, name = RepoRef.parse(upgrade.repository)
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
        await self.close_pull(rejected, "upgrade-rejected", text)
        return rejected

    async def reject_checked(self, upgrade: Upgrade, reason: str) -> Upgrade:
        """The reviewer's own rejection (a diff over ``max_diff_lines``); the PR stays open for a fix."""
        if upgrade.state not in (State.PROPOSED, State.APPROVED):
            return upgrade
        return await self.move(upgrade, State.REJECTED, actor=self.login, reason=reason)

    # -- writing on the pull request ----------------------------------------------------------------
    async def close_pull(self, upgrade: Upgrade, kind: str, text: str) -> None:
        """Close the upgrade's pull request with a comment saying ``text`` (marker ``kind``)."""
        owner, name = RepoRef.parse(upgrade.repository)
        footer = f"<sub>uni-wizard upgrade queue on `{self.host}`</sub>"
        body = "\n".join([marker(kind, upgrade.number, upgrade.head_sha), text, "", footer])
        await self.forge.create_comment(owner, name, upgrade.number, body)
        await self.forge.edit_issue(owner, name, upgrade.number, state="closed")
