"""The merge half of the reviewer: merge when nothing blocks, with ``head_commit_id`` = the checked head.

``plan_merge`` gathers the blockers: the gate's (``gate.merge_blockers``), a re-run still held for the
owner, and what the extensions handling the PR add. ``execute_merge`` merges through the house's Harness:
a merge labels the PR and the issues it closes ``status/done`` (the forge closes them through "Closes
#n"); a 409 (the head moved after the check) puts them back in ``status/review`` with a comment; a 405
(a forge gate) is explained in a comment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..forge.models import PullRequest, Review
from ..harness.core import Harness
from ..harness.result import Status
from ..reporef import RepoRef
from .extension import ReviewerView, ReviewExtension
from .gate import approval_valid, effective_approvers, merge_blockers, short
from .render import HELD, VERDICT, find_marker, marker, render_merge_refused
from .types import Action, MergeReport

__all__ = ["MergeDesk", "execute_merge", "plan_merge", "relabel"]


class MergeDesk(ReviewerView, Protocol):
    """What the merge uses of the reviewer (``Reviewer`` is one)."""

    @property
    def host(self) -> str: ...

    def harness(self, task: str) -> Harness: ...

    def extensions_for(self, repo: str, pr: PullRequest) -> list[ReviewExtension]: ...


def relabel(desk: MergeDesk, repo: str, number: int, current: Iterable[str], wanted: str) -> Action:
    """Replace the labels of ``wanted``'s scope (``status/``) with ``wanted``; every other label stays."""
    owner, name = RepoRef.parse(repo)
    scope = wanted.split("/", 1)[0] + "/" if "/" in wanted else wanted
    have = sorted(set(current))
    target = sorted({label for label in have if not label.startswith(scope)} | {wanted})
    if have == target:
        return Action("label", f"#{number} is {wanted} already")
    return Action("label", f"#{number}: {wanted}", lambda: desk.forge.replace_labels(owner, name, number, target))


async def plan_merge(desk: MergeDesk, repo: str, number: int) -> MergeReport:
    """``ready`` when nothing blocks the PR at its current head, else ``blocked`` (or ``skipped``)."""
    owner, name = RepoRef.parse(repo)
    pr = await desk.forge.get_pull(owner, name, number)
    if pr.state != "open" or pr.merged:
        return MergeReport(repo, number, pr.head_sha, "skipped", ["closed or merged meanwhile"])
    reviews = await desk.forge.list_reviews(owner, name, number)
    combined = await desk.forge.combined_status(owner, name, pr.head_sha)
    labels = {label.name for label in pr.labels}
    blockers = merge_blockers(pr, reviews, combined, labels, desk.config, desk.approvers)
    if desk.config.needs_owner_label in labels:  # only then can the re-run have been held for the owner
        blockers += await _rerun_pending(desk, repo, pr.number, pr.head_sha, reviews)
    for extension in desk.extensions_for(repo, pr):
        blockers += extension.merge_blockers(repo, pr)
    if blockers:
        return MergeReport(repo, number, pr.head_sha, "blocked", blockers, author=_author(pr))
    approval = approval_valid(reviews, pr.head_sha, effective_approvers(labels, desk.config, desk.approvers))
    approver = approval.user.login if approval is not None and approval.user is not None else None
    merge = [Action("merge", f"merge {short(pr.head_sha)}")]
    return MergeReport(
        repo, number, pr.head_sha, "ready", actions=merge, approved_by=approver, author=_author(pr),
        opened_at=pr.created_at, approved_at=approval.submitted_at if approval is not None else None,
    )  # fmt: skip


def _author(pr: PullRequest) -> str:
    return pr.user.login if pr.user is not None else ""


async def _rerun_pending(desk: MergeDesk, repo: str, number: int, head: str, reviews: list[Review]) -> list[str]:
    """The tests of ``head`` were held for the owner's approval and the reviewer has not re-run them since."""
    owner, name = RepoRef.parse(repo)
    comments = await desk.forge.list_comments(owner, name, number)
    if find_marker(comments, marker(HELD, number, head), desk.login) is None:
        return []
    if find_marker([*reviews, *comments], marker(VERDICT, number, head), desk.login) is not None:
        return []
    return [
        f"the tests of head {short(head)} are not re-run yet (it changes CI or build files): the reviewer re-runs "
        "them once the owner approved this head, and the merge waits for that verdict"
    ]


async def execute_merge(desk: MergeDesk, report: MergeReport, issues: tuple[int, ...]) -> MergeReport:
    """Merge through the house's Harness and plan what follows; the follow-ups are in ``report.actions``."""
    repo, number, head = report.repository, report.number, report.head
    owner, name = RepoRef.parse(repo)
    result = await desk.harness(f"merge:{repo}#{number}@{short(head)}").aexecute(
        "gitea_merge_pr", repo=repo, number=number, head_commit_id=head, style=desk.config.merge_style
    )
    if result.status is Status.DENIED:
        report.outcome, report.reasons = "denied", [result.reason or "denied by the policy"]
        return report
    if not result.ok:
        report.outcome, report.reasons = "error", [f"{result.error_type}: {result.error}"]
        return report
    pr = await desk.forge.get_pull(owner, name, number)
    labels = [(number, [label.name for label in pr.labels])]  # the PR's, then those of the issues it closes
    labels += [(n, (await desk.forge.get_issue(owner, name, n)).label_names) for n in issues]
    if result.output["merged"]:
        report.outcome = "merged"
        report.actions += [relabel(desk, repo, n, current, desk.config.done_label) for n, current in labels]
        return report
    status, message = int(result.output["status"]), str(result.output["message"])
    report.outcome = "head_moved" if status == 409 else "refused"
    report.reasons = [f"the forge answered {status}: {message or 'no message'}"]
    if status == 409:  # back to review: the new head needs its own verdict
        report.actions += [relabel(desk, repo, n, current, desk.config.review_label) for n, current in labels]
    report.actions += await _say_why_not(desk, report, status, message, new_head=pr.head_sha)
    return report


async def _say_why_not(
    desk: MergeDesk, report: MergeReport, status: int, message: str, *, new_head: str
) -> list[Action]:
    """The comment explaining a refused merge, once per head and status."""
    repo, number, head = report.repository, report.number, report.head
    owner, name = RepoRef.parse(repo)
    comments = await desk.forge.list_comments(owner, name, number)
    tag = marker("merge-409" if status == 409 else f"merge-{status}", number, head)
    if find_marker(comments, tag, desk.login) is not None:
        return []
    body = render_merge_refused(number, head, status, message, host=desk.host, new_head=new_head)
    comment = lambda: desk.forge.create_comment(owner, name, number, body)  # noqa: E731
    return [Action("comment", f"say why {short(head)} was not merged", comment)]
