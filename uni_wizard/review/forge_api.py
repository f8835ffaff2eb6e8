"""``ReviewForge``: the forge calls Timmy's reviewer makes, and nothing else (``GiteaClient`` has them).

Approving and merging are not among them: they go through the house's Harness (``gitea_approve_pr``,
``gitea_merge_pr``), so the house's policy decides them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from ..forge.models import CombinedStatus, Comment, Issue, Label, PullRequest, Repository, Review
from ..forge.pulls import ReviewEvent

__all__ = ["ReviewForge"]


class ReviewForge(Protocol):
    """Read pull requests, their reviews, statuses and comments; write reviews, comments and labels."""

    async def get_repo(self, owner: str, repo: str) -> Repository: ...

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

    async def get_pull(self, owner: str, repo: str, index: int) -> PullRequest: ...

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue: ...

    async def combined_status(self, owner: str, repo: str, ref: str) -> CombinedStatus: ...

    async def list_reviews(self, owner: str, repo: str, index: int) -> list[Review]: ...

    async def create_review(
        self, owner: str, repo: str, index: int, event: ReviewEvent, body: str = ..., *, commit_id: str | None = ...
    ) -> Review: ...

    async def dismiss_review(self, owner: str, repo: str, index: int, review_id: int, message: str) -> Review: ...

    async def list_comments(
        self, owner: str, repo: str, index: int, *, since: datetime | None = ..., before: datetime | None = ...
    ) -> list[Comment]: ...

    async def create_comment(self, owner: str, repo: str, index: int, body: str) -> Comment: ...

    async def ensure_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = ..., exclusive: bool = ...
    ) -> Label: ...

    async def add_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]: ...

    async def remove_label(self, owner: str, repo: str, index: int, label_id: int) -> None: ...

    async def replace_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]: ...
