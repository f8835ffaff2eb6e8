"""The verdict on a checked head and the writes that say it (planned as ``Action``s, applied by the reviewer).

The plain verdict: the checks found reasons → REQUEST_CHANGES; sensitive paths, or a PR the reviewer
opened itself → an escalation to the owner (comment, ``needs-owner`` label for sensitive paths); otherwise
an APPROVED review bound to the head (``auto_approve``) or a pre-review comment for the owner. An
extension may give its own ``Verdict`` instead (``extension.py``); both are written by ``plan_writes``.
A head whose tests wait for the owner (``rerun_needs_owner_paths``) gets the ``held`` plan instead.

A verdict is written once per head, and what happens to it later is read from the thread, never remembered:
a head pre-reviewed while ``auto_approve`` was off is approved once it is on (``plan_promotion``), unless
Timmy approved it already (a dismissed approval stays dismissed: a person decided).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ..attention.calibration import DEFAULT_WEIGHT
from ..attention.escalations import Escalations
from ..errors import Forbidden
from ..forge.models import Comment, PullRequest, Review
from ..reporef import RepoRef
from .extension import CheckedHead, ReviewerView, Verdict, VerdictKind
from .gate import short
from .render import is_pre_review, render_promoted, render_rerun_held, render_verdict
from .types import Action, ReviewReport

__all__ = [
    "VerdictDesk",
    "dismiss_action",
    "held_note",
    "held_why",
    "label_action",
    "opened_by",
    "plain_verdict",
    "plan_hold",
    "plan_promotion",
    "plan_writes",
]

Write = Callable[[], Awaitable[object]]


class VerdictDesk(ReviewerView, Protocol):
    """What the verdict's writes use of the reviewer (``Reviewer`` is one)."""

    @property
    def host(self) -> str: ...

    @property
    def escalations(self) -> Escalations | None: ...  # None: the owner is mentioned on every escalated verdict

    async def approve_head(self, repo: str, number: int, head: str, body: str) -> object: ...


def opened_by(login: str, pr: PullRequest) -> tuple[str, ...]:
    """Why ``login`` may not approve ``pr`` itself: it opened it (empty otherwise)."""
    if pr.user is not None and pr.user.login == login:
        return (f"{login} opened it, and nobody approves their own pull request",)
    return ()


def plain_verdict(desk: VerdictDesk, checked: CheckedHead) -> Verdict:
    """The reviewer's own verdict on ``checked`` (see the module's docstring)."""
    findings = checked.findings
    why_owner = list(checked.why_owner)
    if findings.sensitive:
        why_owner.insert(0, f"it touches sensitive paths ({', '.join(findings.sensitive[:5])})")
    kind: VerdictKind
    if findings.reasons:
        kind = "changes_requested"
    elif why_owner:
        kind = "escalated"
    else:
        kind = "approved" if desk.config.auto_approve else "pre_reviewed"
    return Verdict(kind, why_owner=tuple(why_owner))


def _description(desk: VerdictDesk, kind: VerdictKind, head: str) -> str:
    return {
        "changes_requested": f"request changes on {short(head)}",
        "escalated": f"ask @{desk.owner} to approve {short(head)}",
        "approved": f"approve head {short(head)}",
        "pre_reviewed": f"pre-review {short(head)} for @{desk.owner}",
    }[kind]


def _and_then(write: Write, then: Write | None) -> Write:
    if then is None:
        return write

    async def both() -> None:
        await write()
        await then()

    return both


def plan_writes(desk: VerdictDesk, checked: CheckedHead, verdict: Verdict, reviews: Sequence[Review]) -> ReviewReport:
    """The report of ``verdict`` on ``checked`` with its writes: dismiss our earlier rejections (unless the
    changes are requested again), label, then the review or comment itself followed by ``verdict.then``."""
    repo, pr, findings = checked.repo, checked.pr, checked.findings
    owner, name = RepoRef.parse(repo)
    number, head = checked.number, checked.head
    report = ReviewReport(repo, number, head, verdict.kind, list(findings.reasons), list(findings.notes))
    body = render_verdict(
        findings, verdict=verdict.kind, reviewer=desk.login, owner=desk.owner, host=desk.host,
        why_owner=verdict.why_owner, extra=verdict.lines,
    )  # fmt: skip
    described = verdict.description or _description(desk, verdict.kind, head)
    if verdict.kind == "changes_requested":
        ask = lambda: desk.forge.create_review(owner, name, number, "REQUEST_CHANGES", body, commit_id=head)  # noqa: E731
        report.actions.append(Action("review", described, _and_then(ask, verdict.then)))
        return report
    report.actions += [dismiss_action(desk, report, old) for old in _our_rejections(desk.login, reviews)]
    if verdict.kind == "escalated" and findings.sensitive:
        report.actions.append(label_action(desk, repo, pr, desk.config.needs_owner_label))
    if verdict.kind == "approved":
        approve = lambda: desk.approve_head(repo, number, head, body)  # noqa: E731
        report.actions.append(Action("approve", described, _and_then(approve, verdict.then)))
    else:
        body, after = _escalation(desk, checked, body, verdict) if verdict.kind == "escalated" else (body, None)
        comment = lambda: desk.forge.create_comment(owner, name, number, body)  # noqa: E731
        report.actions.append(Action("comment", described, _and_then(_and_then(comment, after), verdict.then)))
    return report


def _escalation(desk: VerdictDesk, checked: CheckedHead, body: str, verdict: Verdict) -> tuple[str, Write | None]:
    """An escalated verdict under the escalation policy (category ``review``): the mention stays when the policy
    sends it at once, else the owner's name loses its ``@`` and the verdict waits for the next digest."""
    escalations = desk.escalations
    if escalations is None:
        return body, None
    mention = escalations.thresholds.route("review", "review.escalated", DEFAULT_WEIGHT).route == "immediate"
    if not mention:
        body = body.replace(f"@{desk.owner}", desk.owner)
    why = "; ".join(verdict.why_owner) or "it needs the owner's approval"

    async def escalate() -> None:
        await escalations.escalate(
            "review", "review.escalated", f"approve head {short(checked.head)}: {why}",
            key=f"review:{checked.repo}#{checked.number}:{checked.head}", repository=checked.repo,
            number=checked.number, url=checked.pr.html_url, mentioned=mention,
        )  # fmt: skip

    return body, escalate


def _our_rejections(login: str, reviews: Sequence[Review]) -> list[Review]:
    """Our own earlier "changes requested" that still count: they would block the merge of a new head."""
    return [
        old
        for old in reviews
        if old.user is not None
        and old.user.login == login
        and old.state == "REQUEST_CHANGES"
        and old.official
        and not old.dismissed
    ]


def dismiss_action(desk: VerdictDesk, report: ReviewReport, old: Review) -> Action:
    """Dismiss our review ``old``; a refusal (only repository admins dismiss) becomes a note on ``report``."""
    owner, name = RepoRef.parse(report.repository)

    async def dismiss() -> None:
        why = f"superseded by the review of {report.head}"
        try:
            await desk.forge.dismiss_review(owner, name, report.number, old.id, why)
        except Forbidden as exc:  # say so, and go on with the verdict
            report.notes.append(
                f"could not dismiss our earlier changes-requested review {old.id} ({exc.status}): it still "
                "blocks the merge until a repository admin dismisses it or we approve a head"
            )

    return Action("dismiss", f"dismiss our earlier changes-requested review {old.id}", dismiss)


def label_action(desk: VerdictDesk, repo: str, item: PullRequest, add: str) -> Action:
    """Add the label ``add`` (created if missing); nothing to write when ``item`` carries it already."""
    owner, name = RepoRef.parse(repo)
    if add in {label.name for label in item.labels}:
        return Action("label", f"already labelled {add}")

    async def label() -> None:
        await desk.forge.ensure_label(owner, name, add, "#d93f0b", description="the owner must approve")
        await desk.forge.add_labels(owner, name, item.number, [add])

    return Action("label", f"label {add}", label)


def held_note(owner: str, head: str) -> str:
    return (
        f"tests not re-run: head `{short(head)}` changes CI or build files (rerun_needs_owner_paths); "
        f"waiting for @{owner} to approve that head"
    )


def held_why(paths: Sequence[str]) -> str:
    shown = ", ".join(f"`{p}`" for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f"it changes {shown} (rerun_needs_owner_paths)"


def plan_hold(desk: VerdictDesk, repo: str, pr: PullRequest, guarded: Sequence[str]) -> ReviewReport:
    """No re-run before the owner approved this head: label needs-owner, say why and ask the owner."""
    owner, name = RepoRef.parse(repo)
    number, head = pr.number, pr.head_sha
    body = render_rerun_held(number, head, guarded, reviewer=desk.login, owner=desk.owner, host=desk.host)
    write = lambda: desk.forge.create_comment(owner, name, number, body)  # noqa: E731
    actions = [
        label_action(desk, repo, pr, desk.config.needs_owner_label),
        Action("comment", f"ask @{desk.owner} to approve {short(head)} before its tests are re-run", write),
    ]
    note = f"{held_note(desk.owner, head)}: {held_why(guarded)}"
    return ReviewReport(repo, number, head, "held", notes=[note], actions=actions)


def plan_promotion(
    desk: VerdictDesk, repo: str, pr: PullRequest, verdict: Review | Comment, reviews: Sequence[Review]
) -> ReviewReport | None:
    """The approval of a head whose verdict on the forge is a pre-review, now that ``auto_approve`` is on; None
    when there is nothing to do (off, not a pre-review, Timmy approved that head already, or opened the PR)."""
    number, head = pr.number, pr.head_sha
    if not desk.config.auto_approve or not is_pre_review(verdict, number, head) or opened_by(desk.login, pr):
        return None
    ours = (r for r in reviews if r.user is not None and r.user.login == desk.login and r.state == "APPROVED")
    if any(r.commit_id == head for r in ours):
        return None
    body = render_promoted(number, head, reviewer=desk.login, comment_id=verdict.id, host=desk.host)
    approve = lambda: desk.approve_head(repo, number, head, body)  # noqa: E731
    note = f"pre-reviewed in comment {verdict.id} while auto_approve was off; approved now that it is on"
    action = Action("approve", f"approve head {short(head)} (pre-reviewed, auto_approve on)", approve)
    return ReviewReport(repo, number, head, "approved", notes=[note], actions=[action])
