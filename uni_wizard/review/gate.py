"""The merge gate, pure: which approval counts, and what stands between a pull request and its merge.

An approval counts only if it is APPROVED, official, not dismissed, not stale, bound to the PR's
current head (``commit_id``) and given by an approver (Timmy's forge user or the owner's; with the
``needs-owner`` label, the owner's alone). ``merge_blockers`` returns sentences a person can act on;
an empty list means the merge may be asked for (with ``head_commit_id`` = the head, so a push in
between still fails with 409).

    >>> approval_valid([], "abc", {"timmy"}) is None
    True
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from ..forge.models import CombinedStatus, PullRequest, Review
from .config import ReviewConfig

__all__ = [
    "approval_problems",
    "approval_valid",
    "effective_approvers",
    "merge_blockers",
    "review_blockers",
    "short",
    "status_blockers",
]


def short(sha: str) -> str:
    return sha[:12] if sha else "(none)"


def _login(review: Review) -> str:
    return review.user.login if review.user is not None else ""


def _newest_first(reviews: Iterable[Review]) -> list[Review]:
    return sorted(reviews, key=lambda review: review.id, reverse=True)


def approval_valid(reviews: Iterable[Review], head_sha: str, approvers: Collection[str]) -> Review | None:
    """The newest approval that counts for ``head_sha``, or None."""
    for review in _newest_first(reviews):
        if (
            review.state == "APPROVED"
            and review.official
            and not review.dismissed
            and not review.stale
            and bool(head_sha)
            and review.commit_id == head_sha
            and _login(review) in approvers
        ):
            return review
    return None


def approval_problems(reviews: Iterable[Review], head_sha: str, approvers: Collection[str]) -> list[str]:
    """Why no approval counts: one sentence per approval that does not, or one saying there is none."""
    who = " or ".join(sorted(approvers)) or "nobody"
    problems = []
    for review in _newest_first(reviews):
        if review.state != "APPROVED":
            continue
        name = f"the approval by {_login(review) or 'an unknown user'} (review {review.id})"
        if _login(review) not in approvers:
            problems.append(f"{name} does not count: only {who} may approve this pull request")
        elif review.dismissed:
            problems.append(f"{name} was dismissed")
        elif not review.official:
            problems.append(
                f"{name} is not official: superseded by a later review of theirs, or its author was not on the "
                "branch protection's approvals whitelist when it was submitted (the forge fixes that then: add "
                f"{_login(review) or 'them'} to the whitelist, then approve again)"
            )
        elif review.stale or review.commit_id != head_sha:
            problems.append(
                f"{name} is stale: it approved {short(review.commit_id)}, the head is now {short(head_sha)}; "
                "the new head needs its own review and approval"
            )
    if not problems:
        problems.append(f"no approval yet: {who} must approve head {short(head_sha)}")
    return problems


def effective_approvers(labels: Collection[str], config: ReviewConfig, approvers: Collection[str]) -> frozenset[str]:
    """Whose approval counts: ``approvers``, or only the owner when the PR carries the needs-owner label."""
    if config.needs_owner_label in labels:
        return frozenset({config.owner_login})
    return frozenset(approvers)


def merge_blockers(
    pr: PullRequest,
    reviews: Sequence[Review],
    combined_status: CombinedStatus,
    labels: Collection[str],
    config: ReviewConfig,
    approvers: Collection[str],
) -> list[str]:
    """What stands between ``pr`` and its merge, as sentences; an empty list means it may be merged."""
    if pr.merged:
        return ["the pull request is merged already"]
    if pr.state != "open":
        return ["the pull request is closed"]
    blockers = []
    if config.hold_label in labels:
        blockers.append(f"the `{config.hold_label}` label is set: remove it to let the merge go ahead")
    blockers += review_blockers(pr.head_sha, reviews, labels, config, approvers)
    blockers += status_blockers(pr.head_sha, combined_status, config.proof_context)
    if not pr.mergeable:
        blockers.append("the forge does not report it mergeable yet (conflict check running, or conflicts)")
    return blockers


def review_blockers(
    head: str, reviews: Sequence[Review], labels: Collection[str], config: ReviewConfig, approvers: Collection[str]
) -> list[str]:
    """No approval that counts for ``head``, and every official, undismissed request for changes."""
    blockers = []
    counting = effective_approvers(labels, config, approvers)
    if approval_valid(reviews, head, counting) is None:
        if config.needs_owner_label in labels:
            blockers.append(
                f"it touches sensitive paths (`{config.needs_owner_label}`): only the owner's approval counts"
            )
        blockers += approval_problems(reviews, head, counting)
    for review in _newest_first(reviews):
        if review.state == "REQUEST_CHANGES" and review.official and not review.dismissed:
            blockers.append(f"{_login(review) or 'a reviewer'} requested changes (review {review.id})")
    return blockers


def status_blockers(head: str, combined_status: CombinedStatus, proof_context: str) -> list[str]:
    """A combined status that is not ``success`` for ``head``, and a missing or failed proof status."""
    blockers = []
    if combined_status.sha and combined_status.sha != head:
        blockers.append(f"the statuses read are for {short(combined_status.sha)}, not the head {short(head)}")
    elif combined_status.state != "success":
        blockers.append(f"the combined status of head {short(head)} is {combined_status.state}, not success")
    proof = next((s for s in combined_status.statuses if s.context == proof_context), None)
    if proof is None:
        blockers.append(f"head {short(head)} has no `{proof_context}` status")
    elif proof.status != "success":
        blockers.append(f"the `{proof_context}` status of head {short(head)} is {proof.status}")
    return blockers
