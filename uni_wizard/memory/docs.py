"""What the memory holds: one ``MemoryDoc`` per issue, pull request, review verdict, report or decision.

A document's ``key`` names it for good (``org/repo#12``, ``org/repo#12/c/345``, ``org/repo#12/r/6``): indexing
the same thing again replaces it, so indexing is idempotent. ``kind`` is one of ``KINDS``.

Of an issue's comments only those that record something are kept: a house's report, a review verdict, a proof,
the dispatcher's triage, and a decision (a comment whose first line or a heading says "Decision"). Chatter
("thanks", "/hold") is not memory.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..forge.models import Comment, Issue, Review

__all__ = ["KINDS", "MemoryDoc", "comment_kind", "doc_of_comment", "doc_of_issue", "doc_of_review"]

KINDS = ("issue", "pull", "report", "review", "proof", "triage", "decision")
MAX_BODY = 32_768  # characters of a body indexed: the memory of a megabyte log is its first page

_MARKER = re.compile(r"<!--\s*uni-wizard:(report|review|proof|audit triage)\b")
_DECISION = re.compile(r"^\s{0,3}(?:#{1,6}\s*|\*\*)?(?:decision|decided|adr)\b", re.IGNORECASE | re.MULTILINE)
_HIDDEN = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class MemoryDoc:
    key: str
    repo: str
    number: int
    kind: str
    title: str
    body: str
    url: str = ""
    state: str = "open"
    updated_at: str = ""

    @property
    def digest(self) -> str:
        """What the document says: an unchanged document is not written again."""
        text = "\x00".join((self.kind, self.title, self.body, self.url, self.state))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _when(moment: object) -> str:
    return moment.isoformat() if moment is not None and hasattr(moment, "isoformat") else ""


def _clean(body: str) -> str:
    return _HIDDEN.sub(" ", body)[:MAX_BODY]


def doc_of_issue(repo: str, issue: Issue) -> MemoryDoc:
    """An issue or a pull request (``issue.is_pull``) as the memory holds it."""
    return MemoryDoc(
        key=f"{repo}#{issue.number}",
        repo=repo,
        number=issue.number,
        kind="pull" if issue.is_pull else "issue",
        title=issue.title,
        body=_clean(issue.body),
        url=issue.html_url,
        state=issue.state,
        updated_at=_when(issue.updated_at),
    )


def comment_kind(body: str) -> str | None:
    """The kind of document a comment is, or None when it is not memory."""
    found = _MARKER.search(body)
    if found is not None:
        return "triage" if found.group(1).startswith("audit") else found.group(1)
    if _DECISION.search(body) is not None:
        return "decision"
    return None


def doc_of_comment(repo: str, issue: Issue, comment: Comment) -> MemoryDoc | None:
    """A comment of ``issue`` that records a report, a verdict, a proof, a triage or a decision; else None."""
    kind = comment_kind(comment.body)
    if kind is None:
        return None
    return MemoryDoc(
        key=f"{repo}#{issue.number}/c/{comment.id}",
        repo=repo,
        number=issue.number,
        kind=kind,
        title=f"{kind} on #{issue.number}: {issue.title}",
        body=_clean(comment.body),
        url=comment.html_url or issue.html_url,
        state=issue.state,
        updated_at=_when(comment.updated_at or comment.created_at),
    )


def doc_of_review(repo: str, pull: Issue, review: Review) -> MemoryDoc | None:
    """A pull request's review verdict (approved, changes requested) with its text; None for an empty one."""
    if review.state not in ("APPROVED", "REQUEST_CHANGES") and not review.body.strip():
        return None
    verdict = review.state.lower().replace("_", " ") or "comment"
    return MemoryDoc(
        key=f"{repo}#{pull.number}/r/{review.id}",
        repo=repo,
        number=pull.number,
        kind="review",
        title=f"review ({verdict}) of #{pull.number}: {pull.title}",
        body=_clean(review.body),
        url=pull.html_url,
        state=pull.state,
        updated_at=_when(review.submitted_at),
    )
