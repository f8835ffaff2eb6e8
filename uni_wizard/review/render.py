"""What the reviewer writes on the forge, and the hidden markers that make it idempotent.

Every review and comment carries ``<!-- uni-wizard:review <kind> pr=<n> head=<sha> -->``: the verdict
on one head is written once (found again among the reviewer's own reviews and comments, never
someone else's); a new head gets a new verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..forge.models import Comment, Review
from .gate import short

__all__ = ["Findings", "find_marker", "marker", "render_merge_refused", "render_verdict"]

VERDICT = "verdict"


def marker(kind: str, number: int, head: str) -> str:
    return f"<!-- uni-wizard:review {kind} pr={number} head={head} -->"


def find_marker(items: Iterable[Review | Comment], tag: str, author: str) -> Review | Comment | None:
    for item in items:
        if item.user is not None and item.user.login == author and tag in item.body:
            return item
    return None


@dataclass(frozen=True)
class Findings:
    """What the checks of one head found: ``reasons`` reject it, ``notes`` inform."""

    number: int
    head: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    sensitive: tuple[str, ...] = ()
    files: int = 0
    lines: int = 0


def _footer(host: str) -> str:
    return f"<sub>uni-wizard reviewer on `{host}`</sub>"


def _block(findings: Findings) -> list[str]:
    lines = [f"- diff: {findings.lines} line(s) in {findings.files} file(s) against the merge base"]
    if findings.sensitive:
        shown = ", ".join(f"`{p}`" for p in findings.sensitive[:20])
        more = f" and {len(findings.sensitive) - 20} more" if len(findings.sensitive) > 20 else ""
        lines.append(f"- sensitive paths: {shown}{more}")
    lines += [f"- {note}" for note in findings.notes]
    return lines


def render_verdict(
    findings: Findings, *, verdict: str, reviewer: str, owner: str, host: str, why_owner: Sequence[str] = ()
) -> str:
    """The body of the verdict on ``findings.head``: approved, changes_requested, escalated or pre_reviewed."""
    head = findings.head
    lines = [marker(VERDICT, findings.number, head)]
    if verdict == "changes_requested":
        lines += [f"**Changes requested** (automated review by {reviewer}) for head `{short(head)}`:", ""]
        lines += [f"1. {reason}" for reason in findings.reasons]
        lines += ["", "Checked as well:"]
    elif verdict == "approved":
        lines += [
            f"**Approved** (automated review by {reviewer}) for head `{head}` exactly; a new push needs a new review.",
            "",
        ]
    elif verdict == "escalated":
        lines += [
            f"**Needs the owner** @{owner}: {reviewer} checked head `{head}` and does not approve it itself:",
            *[f"- {why}" for why in why_owner],
            "",
            f"Please review and approve head `{short(head)}` if it is right; the merge follows your approval.",
            "",
        ]
    else:
        lines += [
            f"**Ready for the owner's approval** (@{owner}): {reviewer} checked head `{head}`; "
            f"approve that head to let it merge.",
            "",
        ]
    return "\n".join([*lines, *_block(findings), "", _footer(host)])


def render_merge_refused(number: int, head: str, status: int, message: str, *, host: str, new_head: str = "") -> str:
    """The comment for a merge the forge refused (409: the head moved; 405: a gate)."""
    if status == 409:
        moved = f" to `{short(new_head)}`" if new_head and new_head != head else ""
        text = (
            f"**Not merged**: the head moved{moved} after `{short(head)}` was reviewed and approved "
            f"(the forge answered 409: {message or 'head out of date'}). Back to `status/review`: "
            "the new head needs its own review and approval."
        )
        kind = "merge-409"
    else:
        why = message or "no reason given"
        text = f"**Not merged**: the forge refused the merge of head `{short(head)}` ({status}: {why})."
        kind = f"merge-{status}"
    return "\n".join([marker(kind, number, head), text, "", _footer(host)])
