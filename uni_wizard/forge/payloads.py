"""The parts of Gitea webhook payloads that the typed events read (``events.py`` builds on them).

Only the fields used are declared; everything else is ignored, and an absent or ``null`` field takes
its default, so payloads from Gitea 1.10 through main (and Forgejo) parse alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_NUMBER = 2**63 - 1  # issue and PR numbers are stored in SQLite INTEGER columns


def _encodable(value: str) -> str:
    """Refuse strings that cannot be stored as UTF-8 (lone surrogates from ``\\ud800`` escapes)."""
    value.encode("utf-8")  # raises UnicodeEncodeError, a ValueError: pydantic reports it as invalid
    return value


Number = Annotated[int, Field(ge=0, le=MAX_NUMBER)]
FullName = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_encodable)]


# -- the payload, as much of it as is read ---------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _User(_Model):
    login: str = ""


class _Repo(_Model):
    full_name: FullName


class _Label(_Model):
    name: str = ""


class _Issue(_Model):
    number: Number
    title: str = ""
    state: str = ""
    labels: list[_Label] | None = None
    assignees: list[_User | None] | None = None
    updated_at: datetime | None = None
    pull_request: dict[str, Any] | None = None


class _Comment(_Model):
    id: int
    body: str = ""
    user: _User | None = None


class _Branch(_Model):
    ref: str = ""
    sha: str = ""


class _PullRequest(_Model):
    number: Number
    title: str = ""
    state: str = ""
    merged: bool | None = None
    head: _Branch | None = None
    base: _Branch | None = None
    labels: list[_Label] | None = None
    assignees: list[_User | None] | None = None
    updated_at: datetime | None = None
    merge_commit_sha: str | None = None


class _Review(_Model):
    type: str = ""
    content: str = ""


class _Payload(_Model):
    action: str | None = None
    repository: _Repo
    sender: _User | None = None


class _IssuePayload(_Payload):
    issue: _Issue


class _IssueCommentPayload(_Payload):
    issue: _Issue
    comment: _Comment
    is_pull: bool | None = None


class _PullRequestPayload(_Payload):
    pull_request: _PullRequest
    review: _Review | None = None
    commit_id: str | None = None


class _StatusPayload(_Payload):
    sha: str = Field(min_length=1)
    context: str = ""
    state: str = Field(min_length=1)
    description: str | None = None
    target_url: str | None = None


class _PushPayload(_Payload):
    ref: str = Field(min_length=1)
    before: str = ""
    after: str = Field(min_length=1)
    commits: list[Any] | None = None
    total_commits: int | None = None
    pusher: _User | None = None


def _login(user: _User | None) -> str | None:
    return user.login if user is not None and user.login else None


def _names(labels: list[_Label] | None) -> tuple[str, ...]:
    return tuple(label.name for label in labels or () if label.name)


def _logins(users: list[_User | None] | None) -> tuple[str, ...]:
    return tuple(user.login for user in users or () if user is not None and user.login)
