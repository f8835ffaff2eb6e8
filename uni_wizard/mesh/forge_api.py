"""``MeshForge``: the one forge call the mesh view makes: reading the dispatcher lease file (``GiteaClient``
has it)."""

from __future__ import annotations

from typing import Protocol

from ..forge.models import FileContent

__all__ = ["MeshForge"]


class MeshForge(Protocol):
    """Read a file of a branch (the lease file on ``mesh-state``)."""

    async def get_contents(self, owner: str, repo: str, path: str, *, ref: str | None = None) -> FileContent: ...
