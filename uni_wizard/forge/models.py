"""Typed views of the forge's JSON: only the fields uni-wizard uses.

Every model ignores fields it does not name (``extra="ignore"``), so newer
Gitea versions that add fields do not break parsing, and is frozen. Nested
objects the mesh only needs one value of are flattened on the way in
(``PullRequest.head_sha`` from ``head.sha``, ``Branch.commit_id`` from
``commit.id``, ``Repository.owner`` from ``owner.login``...).

    >>> Issue.model_validate({"id": 1, "number": 7, "title": "t", "pull_request": {"merged": False}}).is_pull
    True
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AccessToken",
    "Branch",
    "BranchProtection",
    "CombinedStatus",
    "Comment",
    "CommitStatus",
    "FileChange",
    "FileContent",
    "Hook",
    "Issue",
    "Label",
    "Organization",
    "PullRequest",
    "Repository",
    "RepositoryPermissions",
    "Review",
    "User",
    "Version",
]

_VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _nested(data: Any, key: str, inner: str) -> Any:
    value = data.get(key) if isinstance(data, dict) else None
    return value.get(inner) if isinstance(value, dict) else None


class Version(_Model):
    """``GET /version``: ``{"version": "1.26.4"}``."""

    version: str

    @property
    def number(self) -> tuple[int, int, int]:
        """The Gitea version as ``(major, minor, patch)``; ``(0, 0, 0)`` when unreadable.

        Forgejo reports ``"10.0.0+gitea-1.22.0"``: the Gitea version after ``+gitea-`` is used.
        """
        text = self.version.split("+gitea-", 1)[1] if "+gitea-" in self.version else self.version
        match = _VERSION_RE.match(text.strip().lstrip("v"))
        if match is None:
            return (0, 0, 0)
        return (int(match[1]), int(match[2]), int(match[3] or 0))


class User(_Model):
    id: int
    login: str
    full_name: str = ""
    email: str = ""
    is_admin: bool = False


class Organization(_Model):
    id: int
    name: str = Field(validation_alias=AliasChoices("name", "username"))
    full_name: str = ""


class Label(_Model):
    id: int
    name: str
    color: str = ""  # lower-case rrggbb, without '#'
    description: str = ""
    exclusive: bool = False
    is_archived: bool = False


class Issue(_Model):
    """An issue or a pull request seen as an issue (``is_pull``)."""

    id: int
    number: int
    title: str = ""
    body: str = ""
    state: str = "open"
    user: User | None = None
    labels: list[Label] = Field(default_factory=list)
    assignees: list[User] = Field(default_factory=list)
    comments: int = 0
    html_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    is_pull: bool = False

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: Any) -> Any:
        if isinstance(data, dict) and "is_pull" not in data:
            data = {**data, "is_pull": data.get("pull_request") is not None}
        return data

    @field_validator("labels", "assignees", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


class PullRequest(_Model):
    id: int
    number: int
    state: str = "open"
    title: str = ""
    body: str = ""
    user: User | None = None
    labels: list[Label] = Field(default_factory=list)
    merged: bool = False
    mergeable: bool = False
    merge_commit_sha: str | None = None
    head_sha: str = ""
    head_ref: str = ""
    base_ref: str = ""
    html_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if isinstance(data, dict) and "head_sha" not in data:
            data = {
                **data,
                "head_sha": _nested(data, "head", "sha") or "",
                "head_ref": _nested(data, "head", "ref") or "",
                "base_ref": _nested(data, "base", "ref") or "",
                "labels": data.get("labels") or [],
            }
        return data


class Review(_Model):
    id: int
    user: User | None = None
    state: str = ""  # APPROVED, PENDING, COMMENT, REQUEST_CHANGES, REQUEST_REVIEW
    official: bool = False
    stale: bool = False
    dismissed: bool = False
    commit_id: str = ""
    body: str = ""
    submitted_at: datetime | None = None


class Comment(_Model):
    id: int
    body: str = ""
    user: User | None = None
    html_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class FileContent(_Model):
    """One file from ``GET …/contents/{path}``; ``content`` is the decoded bytes.

    ``content`` is None when the forge sends none (not a file, or a blob over its size limit).
    """

    path: str
    sha: str  # the git blob sha: what a later update or delete must send
    type: str = "file"
    size: int = 0
    content: bytes | None = None
    last_commit_sha: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"content is not base64: {exc}") from None
        return value


class FileChange(_Model):
    """What a contents write returns: the file's new blob sha (None after a delete) and the commit."""

    path: str = ""
    sha: str | None = None
    commit_sha: str = ""

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if isinstance(data, dict) and "commit_sha" not in data:
            raw = data.get("content")
            content: dict[str, Any] = raw if isinstance(raw, dict) else {}
            data = {
                "path": content.get("path") or "",
                "sha": content.get("sha"),
                "commit_sha": _nested(data, "commit", "sha") or "",
            }
        return data


class CommitStatus(_Model):
    id: int = 0
    status: str = Field(validation_alias=AliasChoices("status", "state"))
    context: str = ""
    description: str = ""
    target_url: str = ""


class CombinedStatus(_Model):
    state: str  # failure > pending > success; no statuses at all: pending
    sha: str = ""
    total_count: int = 0
    statuses: list[CommitStatus] = Field(default_factory=list)

    @field_validator("statuses", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class Branch(_Model):
    name: str
    commit_id: str = ""
    protected: bool = False
    required_approvals: int = 0
    enable_status_check: bool = False
    status_check_contexts: list[str] = Field(default_factory=list)
    user_can_push: bool = False
    user_can_merge: bool = False

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if isinstance(data, dict) and "commit_id" not in data:
            data = {
                **data,
                "commit_id": _nested(data, "commit", "id") or "",
                "status_check_contexts": data.get("status_check_contexts") or [],
            }
        return data


class Hook(_Model):
    id: int
    type: str = "gitea"
    events: list[str] = Field(default_factory=list)
    active: bool = False
    config: dict[str, str] = Field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.config.get("url", "")


class RepositoryPermissions(_Model):
    admin: bool = False
    push: bool = False
    pull: bool = False


class Repository(_Model):
    id: int
    name: str
    full_name: str = ""
    owner: str = ""  # the owner's login
    default_branch: str = ""
    empty: bool = False
    private: bool = False
    archived: bool = False
    clone_url: str = ""
    html_url: str = ""
    permissions: RepositoryPermissions = Field(default_factory=RepositoryPermissions)

    @field_validator("owner", mode="before")
    @classmethod
    def _owner_login(cls, value: Any) -> Any:
        return value.get("login", "") if isinstance(value, dict) else value

    @field_validator("permissions", mode="before")
    @classmethod
    def _null_permissions(cls, value: Any) -> Any:
        return {} if value is None else value


class AccessToken(_Model):
    """A new token; ``sha1`` is the token itself, shown once (kept out of ``repr``)."""

    id: int
    name: str
    sha1: str = Field(default="", repr=False)
    token_last_eight: str = ""
    scopes: list[str] = Field(default_factory=list)


class BranchProtection(_Model):
    rule_name: str = Field(default="", validation_alias=AliasChoices("rule_name", "branch_name"))
    required_approvals: int = 0
    enable_approvals_whitelist: bool = False
    approvals_whitelist_username: list[str] = Field(default_factory=list)
    block_on_rejected_reviews: bool = False
    block_on_official_review_requests: bool = False
    block_on_outdated_branch: bool = False
    dismiss_stale_approvals: bool = False
    ignore_stale_approvals: bool = False
    enable_status_check: bool = False
    status_check_contexts: list[str] = Field(default_factory=list)
    enable_push: bool = False
    enable_merge_whitelist: bool = False
    merge_whitelist_usernames: list[str] = Field(default_factory=list)

    @field_validator(
        "approvals_whitelist_username", "status_check_contexts", "merge_whitelist_usernames", mode="before"
    )
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value
