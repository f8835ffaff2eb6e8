"""Which merged pull requests are appliable upgrades, read from the forge (never from labels alone).

An upgrade is appliable when it is merged into the default branch, carries the ``upgrade`` label and a
state label ``upgrade/approved`` or ``upgrade/applying``, and an approval counts for its head by the
reviewer's own rule (``review.gate.approval_valid``: APPROVED, official, not dismissed, not stale,
``commit_id`` = the head, by an approver; only the owner when it carries ``needs-owner``).

A host applies a sha only once every host of the earlier waves of ``reconcile.order`` posted
``uni-wizard/deploy/<host>`` success on it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from ..forge.models import CommitStatus, PullRequest
from ..meshfile.reconcile import ReconcileSettings
from ..reporef import RepoRef
from ..review.config import ReviewConfig
from ..review.gate import approval_problems, approval_valid, effective_approvers
from .forge_api import UpgradeReader

__all__ = ["Skipped", "Upgrade", "find_upgrades", "waiting_for"]


@dataclass(frozen=True)
class Upgrade:
    """An appliable upgrade: PR ``number``, its approved ``head`` and the merged ``sha`` to apply."""

    number: int
    title: str
    head: str
    sha: str
    approved_by: str


@dataclass(frozen=True)
class Skipped:
    """A merged upgrade PR that is not appliable, and why."""

    number: int
    sha: str
    reason: str


async def find_upgrades(
    forge: UpgradeReader,
    repo: str,
    branch: str,
    settings: ReconcileSettings,
    review: ReviewConfig,
    approvers: Collection[str],
) -> tuple[list[Upgrade], list[Skipped]]:
    """The appliable upgrades among the newest ``scan_limit`` closed upgrade PRs, and the rest with reasons."""
    owner, name = RepoRef.parse(repo)
    label = next((lb for lb in await forge.list_labels(owner, name) if lb.name == settings.label), None)
    if label is None:
        return [], []
    pulls = await forge.list_pulls(owner, name, state="closed", labels=[label.id], limit=settings.scan_limit)
    upgrades: list[Upgrade] = []
    skipped: list[Skipped] = []
    for pr in pulls:
        names = {lb.name for lb in pr.labels}
        sha = pr.merge_commit_sha or ""
        reason = _not_appliable(pr, names, branch, settings)
        if reason is None:
            counting = effective_approvers(names, review, approvers)
            reviews = await forge.list_reviews(owner, name, pr.number)
            approval = approval_valid(reviews, pr.head_sha, counting)
            if approval is None:
                reason = "; ".join(approval_problems(reviews, pr.head_sha, counting))
            else:
                login = approval.user.login if approval.user is not None else ""
                upgrades.append(Upgrade(pr.number, pr.title, pr.head_sha, sha, login))
                continue
        skipped.append(Skipped(pr.number, sha, reason))
    return upgrades, skipped


def _not_appliable(pr: PullRequest, names: set[str], branch: str, settings: ReconcileSettings) -> str | None:
    if not pr.merged or not pr.merge_commit_sha:
        return "closed without being merged"
    if settings.label not in names:
        return f"not labelled `{settings.label}`"
    if pr.base_ref != branch:
        return f"merged into {pr.base_ref}, not {branch}"
    states = sorted(n for n in names if n.startswith(settings.state_prefix))
    if len(states) != 1:
        return f"needs exactly one `{settings.state_prefix}<state>` label, has {states or 'none'}"
    if states[0] not in settings.appliable_labels():
        return f"its state is `{states[0]}`, not one of {sorted(settings.appliable_labels())}"
    return None


def waiting_for(statuses: Iterable[CommitStatus], predecessors: Sequence[str], prefix: str) -> list[str]:
    """The predecessors whose newest deploy status on the sha is not success (``statuses`` newest first)."""
    latest: dict[str, str] = {}
    for status in statuses:
        if status.context.startswith(prefix):
            latest.setdefault(status.context[len(prefix) :], status.status)
    return [host for host in predecessors if latest.get(host) != "success"]
