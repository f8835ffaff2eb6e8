"""``UpgradeForge``: the forge calls the upgrade queue makes, and nothing else (``GiteaClient`` has them).

``LabelWriter`` is the part the ``upgrade/<state>`` label mirror uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from ..forge.models import CombinedStatus, Comment, Issue, Label, PullRequest, Review

__all__ = ["LabelWriter", "UpgradeForge"]


class LabelWriter(Protocol):
    """Read an issue's labels, create the state labels, replace a pull request's labels."""

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue: ...

    async def ensure_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = ..., exclusive: bool = ...
    ) -> Label: ...

    async def replace_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]: ...


class UpgradeForge(LabelWriter, Protocol):
    """Follow an upgrade's pull request (its head, reviews and statuses), close an expired one."""

    async def get_pull(self, owner: str, repo: str, index: int) -> PullRequest: ...

    async def list_reviews(self, owner: str, repo: str, index: int) -> list[Review]: ...

    async def combined_status(self, owner: str, repo: str, ref: str) -> CombinedStatus: ...

    async def create_comment(self, owner: str, repo: str, index: int, body: str) -> Comment: ...

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
