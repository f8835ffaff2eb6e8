"""``DispatchForge``: the forge calls the dispatcher makes, and nothing else (``GiteaClient`` has them).

The dispatcher and its loop take this instead of the concrete client, so what the lane may do on the forge
is written down in one place (prow's plugins declare their client the same way).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Literal, Protocol

from ..forge.models import Comment, Issue, Label

__all__ = ["DispatchForge"]


class DispatchForge(Protocol):
    """Read issues and their comments; write the audit comment, the labels and the assignee."""

    def iter_issues(
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
    ) -> AsyncIterator[Issue]: ...

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue: ...

    async def list_comments(
        self, owner: str, repo: str, index: int, *, since: datetime | None = ..., before: datetime | None = ...
    ) -> list[Comment]: ...

    async def create_comment(self, owner: str, repo: str, index: int, body: str) -> Comment: ...

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> Comment: ...

    async def replace_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]: ...

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

    async def ensure_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = ..., exclusive: bool = ...
    ) -> Label: ...
