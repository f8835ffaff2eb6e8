"""The merge half of the reviewer: merge when nothing blocks, with ``head_commit_id`` = the checked head.

A 409 (the head moved after the check) puts the PR and its issues back in ``status/review`` with a
comment; a 405 (a forge gate) is explained in a comment; a merge labels the issues it closes
``status/done`` (the forge closes them through "Closes #n").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..harness.result import Status
from .gate import merge_blockers, short
from .render import find_marker, marker, render_merge_refused
from .types import Action, MergeReport

if TYPE_CHECKING:
    from .reviewer import Reviewer

__all__ = ["execute_merge", "plan_merge", "relabel"]


def relabel(reviewer: Reviewer, repo: str, number: int, current: Iterable[str], wanted: str) -> Action:
    """Replace the labels of ``wanted``'s scope (``status/``) with ``wanted``; every other label stays."""
    owner, _, name = repo.partition("/")
    scope = wanted.split("/", 1)[0] + "/" if "/" in wanted else wanted
    have = sorted(set(current))
    target = sorted({label for label in have if not label.startswith(scope)} | {wanted})
    if have == target:
        return Action("label", f"#{number} is {wanted} already")
    return Action("label", f"#{number}: {wanted}", lambda: reviewer.forge.replace_labels(owner, name, number, target))


async def plan_merge(reviewer: Reviewer, repo: str, number: int) -> MergeReport:
    """``ready`` when nothing blocks the PR at its current head, else ``blocked`` (or ``skipped``)."""
    owner, _, name = repo.partition("/")
    pr = await reviewer.forge.get_pull(owner, name, number)
    if pr.state != "open" or pr.merged:
        return MergeReport(repo, number, pr.head_sha, "skipped", ["closed or merged meanwhile"])
    reviews = await reviewer.forge.list_reviews(owner, name, number)
    combined = await reviewer.forge.combined_status(owner, name, pr.head_sha)
    labels = {label.name for label in pr.labels}
    blockers = merge_blockers(pr, reviews, combined, labels, reviewer.config, reviewer.approvers)
    if reviewer.upgrades is not None and reviewer.upgrades.is_upgrade(repo, pr):
        from ..upgrade.hook import merge_blockers as upgrade_blockers  # here: upgrade imports review

        blockers += upgrade_blockers(reviewer.upgrades, repo, pr)
    if blockers:
        return MergeReport(repo, number, pr.head_sha, "blocked", blockers)
    return MergeReport(repo, number, pr.head_sha, "ready", actions=[Action("merge", f"merge {short(pr.head_sha)}")])


async def execute_merge(reviewer: Reviewer, report: MergeReport, issues: tuple[int, ...]) -> MergeReport:
    """Merge through the house's Harness and plan what follows; the follow-ups are in ``report.actions``."""
    repo, number, head = report.repository, report.number, report.head
    owner, _, name = repo.partition("/")
    config = reviewer.config
    result = await reviewer.harness(f"merge:{repo}#{number}@{short(head)}").aexecute(
        "gitea_merge_pr", repo=repo, number=number, head_commit_id=head, style=config.merge_style
    )
    if result.status is Status.DENIED:
        report.outcome, report.reasons = "denied", [result.reason or "denied by the policy"]
        return report
    if not result.ok:
        report.outcome, report.reasons = "error", [f"{result.error_type}: {result.error}"]
        return report
    out = result.output
    pr = await reviewer.forge.get_pull(owner, name, number)
    issue_labels = {n: (await reviewer.forge.get_issue(owner, name, n)).label_names for n in issues}
    pr_labels = [label.name for label in pr.labels]
    if out["merged"]:
        report.outcome = "merged"
        report.actions += [relabel(reviewer, repo, number, pr_labels, config.done_label)]
        report.actions += [relabel(reviewer, repo, n, labels, config.done_label) for n, labels in issue_labels.items()]
        return report
    status, message = int(out["status"]), str(out["message"])
    report.outcome = "head_moved" if status == 409 else "refused"
    report.reasons = [f"the forge answered {status}: {message or 'no message'}"]
    if status == 409:
        report.actions += [relabel(reviewer, repo, number, pr_labels, config.review_label)]
        report.actions += [
            relabel(reviewer, repo, n, labels, config.review_label) for n, labels in issue_labels.items()
        ]
    comments = await reviewer.forge.list_comments(owner, name, number)
    tag = marker("merge-409" if status == 409 else f"merge-{status}", number, head)
    if find_marker(comments, tag, reviewer.login) is None:
        body = render_merge_refused(number, head, status, message, host=reviewer.host, new_head=pr.head_sha)
        report.actions.append(
            Action(
                "comment",
                f"say why {short(head)} was not merged",
                lambda: reviewer.forge.create_comment(owner, name, number, body),
            )
        )
    return report
