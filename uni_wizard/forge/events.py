"""Typed forge events, built from Gitea webhook payloads.

One class per family of ``X-Gitea-Event-Type`` values (GITEA_FACTS §6)::

    IssueEvent          issues, issue_label, issue_assign, issue_milestone
    IssueCommentEvent   issue_comment, pull_request_comment
    PullRequestEvent    pull_request, pull_request_sync, pull_request_label, pull_request_assign,
                        pull_request_review_request, pull_request_milestone
    ReviewEvent         pull_request_review_approved, pull_request_review_rejected, pull_request_review_comment
    StatusEvent         status
    PushEvent           push

Anything else becomes an ``UnknownEvent``. The payload models read only the
fields used here and ignore the rest, so payloads from Gitea 1.10 through main
(and Forgejo) parse alike; a field that is absent or ``null`` takes its default.
Events are hints: the sweep re-reads the forge, so an event carries what a
consumer needs to decide what to look at, not a full copy of the payload.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from .payloads import (
    _IssueCommentPayload,
    _IssuePayload,
    _login,
    _logins,
    _names,
    _Payload,
    _PullRequestPayload,
    _PushPayload,
    _Review,
    _StatusPayload,
)

__all__ = [
    "EVENT_KINDS",
    "ForgeEvent",
    "IssueCommentEvent",
    "IssueEvent",
    "PullRequestEvent",
    "PushEvent",
    "ReviewEvent",
    "StatusEvent",
    "UnknownEvent",
    "from_payload",
]

# -- the events ------------------------------------------------------------------


class ForgeEvent(BaseModel):
    """What every event has: its kind, the ``X-Gitea-Event-Type``, the action, the repository's
    ``owner/name``, the ``X-Gitea-Delivery`` id and the sender's login."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_types: ClassVar[frozenset[str]] = frozenset()

    kind: str
    event_type: str
    action: str | None = None
    repository: str
    delivery: str | None = None
    sender: str | None = None


class IssueEvent(ForgeEvent):
    """An issue was opened, edited, closed, reopened, deleted, labelled, assigned or milestoned."""

    event_types: ClassVar[frozenset[str]] = frozenset({"issues", "issue_label", "issue_assign", "issue_milestone"})

    kind: Literal["issue"] = "issue"
    number: int
    title: str = ""
    state: str = ""
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    updated_at: datetime | None = None


class IssueCommentEvent(ForgeEvent):
    """A comment on an issue (``issue_comment``) or on a PR's conversation (``pull_request_comment``)."""

    event_types: ClassVar[frozenset[str]] = frozenset({"issue_comment", "pull_request_comment"})

    kind: Literal["issue_comment"] = "issue_comment"
    number: int
    is_pull: bool = False
    comment_id: int
    comment_body: str = ""
    comment_user: str | None = None


class PullRequestEvent(ForgeEvent):
    """A PR was opened, edited, closed or merged (``closed`` with ``merged``), reopened, pushed to
    (``pull_request_sync``), labelled, assigned, milestoned or had a review requested."""

    event_types: ClassVar[frozenset[str]] = frozenset(
        {
            "pull_request",
            "pull_request_sync",
            "pull_request_label",
            "pull_request_assign",
            "pull_request_review_request",
            "pull_request_milestone",
        }
    )

    kind: Literal["pull_request"] = "pull_request"
    number: int
    title: str = ""
    state: str = ""
    merged: bool = False
    head_sha: str | None = None
    head_ref: str | None = None
    base_ref: str | None = None
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    updated_at: datetime | None = None


VERDICTS: dict[str, Literal["approved", "rejected", "comment"]] = {
    "pull_request_review_approved": "approved",
    "pull_request_review_rejected": "rejected",
    "pull_request_review_comment": "comment",
}


class ReviewEvent(ForgeEvent):
    """A review was submitted. ``verdict`` comes from the event type; ``reviewer`` is the sender.
    ``commit_id`` is the reviewed commit when the payload names one (older Gitea sends ``""``)."""

    event_types: ClassVar[frozenset[str]] = frozenset(VERDICTS)

    kind: Literal["review"] = "review"
    number: int
    verdict: Literal["approved", "rejected", "comment"]
    review_type: str = ""
    content: str = ""
    reviewer: str | None = None
    commit_id: str | None = None
    head_sha: str | None = None


class StatusEvent(ForgeEvent):
    """A commit status was created (``state``: pending, success, error, failure, warning)."""

    event_types: ClassVar[frozenset[str]] = frozenset({"status"})

    kind: Literal["status"] = "status"
    sha: str
    context: str = ""
    state: str
    description: str | None = None
    target_url: str | None = None


class PushEvent(ForgeEvent):
    """Commits were pushed to ``ref`` (``refs/heads/...`` or ``refs/tags/...``)."""

    event_types: ClassVar[frozenset[str]] = frozenset({"push"})

    kind: Literal["push"] = "push"
    ref: str
    before: str = ""
    after: str
    commits: int = 0
    pusher: str | None = None


class UnknownEvent(BaseModel):
    """An event type uni-wizard does not act on: acknowledged and counted, never queued."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["unknown"] = "unknown"
    event_type: str
    action: str | None = None
    repository: str | None = None
    delivery: str | None = None


EVENT_KINDS: dict[str, type[ForgeEvent]] = {
    cls.model_fields["kind"].default: cls
    for cls in (IssueEvent, IssueCommentEvent, PullRequestEvent, ReviewEvent, StatusEvent, PushEvent)
}
_BY_EVENT_TYPE: dict[str, type[ForgeEvent]] = {
    event_type: cls for cls in EVENT_KINDS.values() for event_type in cls.event_types
}


def from_payload(event_type: str, payload: dict[str, Any], *, delivery: str | None = None) -> ForgeEvent | UnknownEvent:
    """The typed event for a decoded payload; raises ``pydantic.ValidationError`` when a needed field
    is missing or of the wrong type (``webhooks.parse_event`` turns that into ``WebhookRejected``)."""
    cls = _BY_EVENT_TYPE.get(event_type)
    if cls is None:
        action = payload.get("action")
        repo = payload.get("repository")
        name = repo.get("full_name") if isinstance(repo, dict) else None
        return UnknownEvent(
            event_type=event_type,
            action=action if isinstance(action, str) else None,
            repository=name if isinstance(name, str) and name.isprintable() else None,
            delivery=delivery,
        )
    common = {"event_type": event_type, "delivery": delivery}
    return _PARSERS[cls](event_type, payload, common)


def _issue_event(event_type: str, payload: dict[str, Any], common: dict[str, Any]) -> ForgeEvent:
    issue = _IssuePayload.model_validate(payload)
    return IssueEvent(
        **common,
        **_base(issue),
        number=issue.issue.number,
        title=issue.issue.title,
        state=issue.issue.state,
        labels=_names(issue.issue.labels),
        assignees=_logins(issue.issue.assignees),
        updated_at=issue.issue.updated_at,
    )


def _comment_event(event_type: str, payload: dict[str, Any], common: dict[str, Any]) -> ForgeEvent:
    comment = _IssueCommentPayload.model_validate(payload)
    is_pull = comment.is_pull or event_type == "pull_request_comment" or comment.issue.pull_request is not None
    return IssueCommentEvent(
        **common,
        **_base(comment),
        number=comment.issue.number,
        is_pull=bool(is_pull),
        comment_id=comment.comment.id,
        comment_body=comment.comment.body,
        comment_user=_login(comment.comment.user),
    )


def _review_event(event_type: str, payload: dict[str, Any], common: dict[str, Any]) -> ForgeEvent:
    pr = _PullRequestPayload.model_validate(payload)
    head = pr.pull_request.head
    review = pr.review or _Review()
    return ReviewEvent(
        **common,
        **_base(pr),
        number=pr.pull_request.number,
        verdict=VERDICTS[event_type],
        review_type=review.type or event_type,
        content=review.content,
        reviewer=_login(pr.sender),
        commit_id=pr.commit_id or None,
        head_sha=head.sha if head is not None and head.sha else None,
    )


def _pull_event(event_type: str, payload: dict[str, Any], common: dict[str, Any]) -> ForgeEvent:
    pr = _PullRequestPayload.model_validate(payload)
    head, base = pr.pull_request.head, pr.pull_request.base
    return PullRequestEvent(
        **common,
        **_base(pr),
        number=pr.pull_request.number,
        title=pr.pull_request.title,
        state=pr.pull_request.state,
        merged=bool(pr.pull_request.merged),
        head_sha=head.sha if head is not None and head.sha else None,
        head_ref=head.ref if head is not None and head.ref else None,
        base_ref=base.ref if base is not None and base.ref else None,
        labels=_names(pr.pull_request.labels),
        assignees=_logins(pr.pull_request.assignees),
        updated_at=pr.pull_request.updated_at,
    )


def _status_event(event_type: str, payload: dict[str, Any], common: dict[str, Any]) -> ForgeEvent:
    status = _StatusPayload.model_validate(payload)
    return StatusEvent(
        **common,
        **_base(status),
        sha=status.sha,
        context=status.context,
        state=status.state,
        description=status.description,
        target_url=status.target_url,
    )


def _push_event(event_type: str, payload: dict[str, Any], common: dict[str, Any]) -> ForgeEvent:
    push = _PushPayload.model_validate(payload)
    count = push.total_commits if push.total_commits is not None else len(push.commits or ())
    return PushEvent(
        **common,
        **_base(push),
        ref=push.ref,
        before=push.before,
        after=push.after,
        commits=count,
        pusher=_login(push.pusher) or _login(push.sender),
    )


_PARSERS: dict[type[ForgeEvent], Callable[[str, dict[str, Any], dict[str, Any]], ForgeEvent]] = {
    IssueEvent: _issue_event,
    IssueCommentEvent: _comment_event,
    ReviewEvent: _review_event,
    PullRequestEvent: _pull_event,
    StatusEvent: _status_event,
    PushEvent: _push_event,
}


def _base(payload: _Payload) -> dict[str, Any]:
    return {"action": payload.action, "repository": payload.repository.full_name, "sender": _login(payload.sender)}
