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

__all__ = [
    "Findings",
    "find_marker",
    "is_pre_review",
    "marker",
    "render_merge_refused",
    "render_promoted",
    "render_queue_failed",
    "render_rerun_held",
    "render_verdict",
]

VERDICT = "verdict"
HELD = "rerun-held"  # the tests of a head wait for the owner's approval before being re-run
PRE_REVIEWED = "pre-reviewed"  # beside the verdict marker of a pre-review: a comment, not an approval
QUEUE_FAILED = "queue-failed"  # the merge queue found that a head breaks its target branch
READY = "**Ready for the owner's approval**"  # how a pre-review begins (and was recognised before its marker)


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
    findings: Findings,
    *,
    verdict: str,
    reviewer: str,
    owner: str,
    host: str,
    why_owner: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> str:
    """The body of the verdict on ``findings.head``: approved, changes_requested, escalated or pre_reviewed;
    ``extra`` lines (an extension's) follow the findings."""
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
            marker(PRE_REVIEWED, findings.number, head),
            f"{READY} (@{owner}): {reviewer} checked head `{head}`; approve that head to let it merge.",
            "",
        ]
    return "\n".join([*lines, *_block(findings), *extra, "", _footer(host)])


def is_pre_review(item: Review | Comment, number: int, head: str) -> bool:
    """Whether ``item`` (our verdict on ``head``) is a pre-review: a comment asking the owner to approve, not
    an escalation (pre-reviews written before their marker are known by how they begin)."""
    return isinstance(item, Comment) and (marker(PRE_REVIEWED, number, head) in item.body or READY in item.body)


def render_promoted(number: int, head: str, *, reviewer: str, comment_id: int, host: str) -> str:
    """The approval of a head pre-reviewed before ``auto_approve`` was switched on."""
    lines = [
        marker(VERDICT, number, head),
        f"**Approved** (automated review by {reviewer}) for head `{head}` exactly; a new push needs a new review.",
        "",
        f"- `auto_approve` is on now: this head passed the checks of the pre-review (comment {comment_id}), "
        "which asked the owner to approve it while it was off.",
        "",
        _footer(host),
    ]
    return "\n".join(lines)


def render_rerun_held(number: int, head: str, paths: Sequence[str], *, reviewer: str, owner: str, host: str) -> str:
    """The comment on a head whose tests are not re-run before the owner approves it (rerun_needs_owner_paths)."""
    shown = ", ".join(f"`{p}`" for p in paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    lines = [
        marker(HELD, number, head),
        f"**Tests not re-run: waiting for the owner** @{owner}. Head `{head}` changes files that decide what the "
        f"tests run and how their result reads: {shown}. {reviewer} does not re-run them, even in its sandbox, "
        "before you have read those changes.",
        "",
        f"Please review head `{short(head)}` and approve it if it is right: {reviewer} then re-runs the tests "
        "(sandboxed) and gives its verdict, and the merge waits for that verdict. A new push needs a new approval.",
        "",
        _footer(host),
    ]
    return "\n".join(lines)


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


def render_queue_failed(
    number: int, head: str, base: str, base_ref: str, sentence: str, *, author: str, host: str,
    others: Sequence[int] = (),
) -> str:  # fmt: skip
    """The "changes requested" of a head the merge queue found breaking ``base_ref``: alone on its base, or merged
    with ``others``, which pass without it and merge."""
    who = f"@{author}: " if author else ""
    if others:
        listed = ", ".join(f"#{n}" for n in others)
        how = (
            f"merged onto `{base_ref}` at `{short(base)}` together with {listed} (queued with it) the tests fail, "
            "and without it they pass: they merge, this one does not"
        )
    else:
        how = f"merged onto `{base_ref}` at `{short(base)}` (what it would merge into now) the tests fail"
    text = f"**Changes requested by the merge queue**: head `{short(head)}` was approved, but {how}."
    ask = f"{who}rebase or fix it so that it passes on top of `{base_ref}`; the new head is reviewed again."
    return "\n".join([marker(QUEUE_FAILED, number, head), text, "", f"1. {sentence}", "", ask, "", _footer(host)])
