"""The lease file on the forge: what the lease needs from the forge client, and how the file is read.

    record, sha = await read_lease(forge, mesh.lease)   # (None, None): no lease file yet

``mesh status`` reads it the same way the lease does.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from ..errors import Forbidden, MeshError, NotFound, Unauthorized
from ..forge.models import FileChange, FileContent
from .config import LeaseSettings
from .types import LeaseRecord

__all__ = ["LeaseForge", "blob_sha", "read_lease"]


class LeaseForge(Protocol):
    """The contents calls the lease needs (``GiteaClient`` has them)."""

    async def get_contents(self, owner: str, repo: str, path: str, *, ref: str | None = None) -> FileContent: ...

    async def create_file(
        self,
        owner: str,
        repo: str,
        path: str,
        content: bytes,
        message: str,
        *,
        branch: str | None = None,
        new_branch: str | None = None,
    ) -> FileChange: ...

    async def update_file(
        self, owner: str, repo: str, path: str, content: bytes, sha: str, message: str, *, branch: str | None = None
    ) -> FileChange: ...


async def read_lease(forge: LeaseForge, settings: LeaseSettings) -> tuple[LeaseRecord | None, str | None]:
    """The lease record on the forge and its blob sha; ``(None, None)`` when there is no lease file (or no
    ``mesh-state`` branch) yet. ``MeshError`` when the file is not a lease record or the forge refuses the
    read (401/403); ``ForgeUnavailable`` and ``ServerError`` pass through."""
    owner, repo = settings.repo.split("/", 1)
    where = f"{settings.repo}@{settings.branch}:{settings.path}"
    try:
        found = await forge.get_contents(owner, repo, settings.path, ref=settings.branch)
    except NotFound:
        return None, None
    except (Unauthorized, Forbidden) as exc:
        raise MeshError(f"the forge refused to show the lease file {where}: {exc.message or exc}") from exc
    if found.type != "file" or found.content is None:
        raise MeshError(f"the lease file {where} is not a file with content (a {found.type}); fix or remove it")
    try:
        text = found.content.decode("utf-8")
        return LeaseRecord.from_json(text), found.sha
    except (UnicodeDecodeError, MeshError) as exc:
        raise MeshError(
            f"the lease file {where} is damaged ({exc}); replace it with a valid record whose epoch is above "
            "every epoch in the audit footers (docs/TROUBLESHOOTING.md)"
        ) from exc


def blob_sha(data: bytes) -> str:
    """The git blob SHA-1 of ``data``: what the forge reports as the file's ``sha``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
