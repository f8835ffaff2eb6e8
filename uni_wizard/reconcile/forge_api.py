"""``ReconcileForge``: the forge calls a host's reconciler makes, and nothing else (``GiteaClient`` has them).

``UpgradeReader`` is the part that finds the appliable upgrades (``candidates.py``); the reconciler adds the
deploy status it posts on the applied sha.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from ..forge.models import CommitStatus, Label, PullRequest, Review
from ..forge.pulls import StatusState

__all__ = ["ReconcileForge", "UpgradeReader"]


class UpgradeReader(Protocol):
    """Read the merged upgrade pull requests, their reviews and the deploy statuses of their shas."""

    async def list_labels(self, owner: str, repo: str) -> list[Label]: ...

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

    async def list_reviews(self, owner: str, repo: str, index: int) -> list[Review]: ...

    async def list_statuses(self, owner: str, repo: str, sha: str) -> list[CommitStatus]: ...


class ReconcileForge(UpgradeReader, Protocol):
    """``UpgradeReader``, and the ``uni-wizard/deploy/<host>`` status posted on an applied sha."""

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
