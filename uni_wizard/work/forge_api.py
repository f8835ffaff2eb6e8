"""``WorkForge``: the forge calls a house's worker makes, and nothing else (``GiteaClient`` has them).

The worker, its claims, its proof and its pull request take this instead of the concrete client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from ..forge.models import Comment, CommitStatus, Issue, Label, PullRequest, Repository, User
from ..forge.pulls import StatusState

__all__ = ["WorkForge"]


class WorkForge(Protocol):
    """Find the issues routed to the house, claim and report on them, publish the proof and the pull request;
    ``base_url`` (the API's root) is where the clones come from."""

    @property
    def base_url(self) -> str: ...

    async def me(self) -> User: ...

    async def get_repo(self, owner: str, repo: str) -> Repository: ...

    async def list_issues(
        self,
        owner: str,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = ...,
        type: Literal["issues", "pulls"] | None = ...,
        labels: Sequence[str] = ...,
        since: datetime | None = ...,
        before: datetime | None = ...,
        assigned_by: str | None = ...,
        created_by: str | None = ...,
        limit: int | None = ...,
    ) -> list[Issue]: ...

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue: ...

    async def edit_issue(
        self,
        owner: str,
        repo: str,
        index: int,
        *,
        state: Literal["open", "closed"] | None = ...,
        title: str | None = ...,
        body: str | None = ...,
        assignees: Sequence[str] | None = ...,
    ) -> Issue: ...

    async def list_comments(
        self, owner: str, repo: str, index: int, *, since: datetime | None = ..., before: datetime | None = ...
    ) -> list[Comment]: ...

    async def create_comment(self, owner: str, repo: str, index: int, body: str) -> Comment: ...

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> Comment: ...

    async def list_labels(self, owner: str, repo: str) -> list[Label]: ...

    async def add_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]: ...

    async def replace_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]: ...

    async def list_statuses(self, owner: str, repo: str, sha: str) -> list[CommitStatus]: ...

    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        *,
        description: str = ...,
        target_url: str = ...,
    ) -> CommitStatus: ...

    async def list_pulls(
        self,
        owner: str,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = ...,
        labels: Sequence[int] = ...,
        sort: str | None = ...,
        poster: str | None = ...,
        limit: int | None = ...,
    ) -> list[PullRequest]: ...

    async def create_pull(
        self,
        owner: str,
        repo: str,
        *,
        head: str,
        base: str,
        title: str,
        body: str = ...,
        labels: Sequence[int] = ...,
        assignees: Sequence[str] = ...,
    ) -> PullRequest: ...
