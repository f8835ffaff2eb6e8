"""The lease file on the forge: what the lease needs from the forge client, and how the file is read.

    record, sha = await read_lease(forge, mesh.lease)   # (None, None): no lease file yet

``mesh status`` reads it the same way the lease does.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from ..errors import (
    Conflict,
    Forbidden,
    ForgeError,
    ForgeUnavailable,
    MeshError,
    NotFound,
    ServerError,
    Unauthorized,
    Unprocessable,
)
from ..forge.models import FileChange, FileContent
from ..meshfile.schema import LeaseSettings
from ..reporef import RepoRef
from .lease_record import LeaseRecord

__all__ = ["RETHINK", "LeaseForge", "LeaseReadForge", "blob_sha", "read_lease", "write_lease"]


class LeaseReadForge(Protocol):
    """The one call reading the lease needs (``GiteaClient`` has it; so does the mesh's view of the lease)."""

    async def get_contents(self, owner: str, repo: str, path: str, *, ref: str | None = None) -> FileContent: ...


class LeaseForge(LeaseReadForge, Protocol):
    """The contents calls the lease needs (``GiteaClient`` has them)."""

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


async def read_lease(forge: LeaseReadForge, settings: LeaseSettings) -> tuple[LeaseRecord | None, str | None]:
    """The lease record on the forge and its blob sha; ``(None, None)`` when there is no lease file (or no
    ``mesh-state`` branch) yet. ``MeshError`` when the file is not a lease record or the forge refuses the
    read (401/403); ``ForgeUnavailable`` and ``ServerError`` pass through."""
    owner, repo = RepoRef.parse(settings.repo)
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


RETHINK = (Unprocessable, Conflict, NotFound, ServerError, ForgeUnavailable)
"""Answers to a lease write that mean "read the file again, then decide" (GITEA_FACTS §3.8)."""


async def write_lease(
    forge: LeaseForge, settings: LeaseSettings, name: str, record: LeaseRecord, sha: str | None
) -> str:
    """Write ``record`` once (a create when ``sha`` is None; never repeated); the new blob sha. The
    ``RETHINK`` errors are raised as they are (the caller settles them by reading); ``MeshError`` for
    answers no re-read can settle."""
    body = record.to_json().encode()
    message = f"lease {name}: epoch {record.epoch} held by {record.holder}"
    owner, repo = RepoRef.parse(settings.repo)
    try:
        if sha is None:
            change = await _create(forge, settings, owner, repo, body, message)
        else:
            change = await forge.update_file(owner, repo, settings.path, body, sha, message, branch=settings.branch)
    except (Unauthorized, Forbidden) as exc:
        raise MeshError(
            f"the forge refused the lease write on {settings.repo}@{settings.branch} "
            f"({exc.message or exc}): the dispatcher's forge user needs write access, and the branch must "
            "be unprotected"
        ) from exc
    except ForgeError as exc:
        if isinstance(exc, RETHINK):
            raise
        raise MeshError(f"the lease write was refused: {exc}") from exc
    return change.sha or blob_sha(body)


async def _create(
    forge: LeaseForge, settings: LeaseSettings, owner: str, repo: str, body: bytes, message: str
) -> FileChange:
    try:
        return await forge.create_file(owner, repo, settings.path, body, message, branch=settings.branch)
    except NotFound:  # no mesh-state branch yet: make it from the default branch with the file
        try:
            return await forge.create_file(owner, repo, settings.path, body, message, new_branch=settings.branch)
        except NotFound as exc:
            raise MeshError(
                f"cannot create the lease file: is there a repository {settings.repo} with a default "
                f"branch ({exc.message or exc})? `uni-wizard forge bootstrap` creates it"
            ) from exc


def blob_sha(data: bytes) -> str:
    """The git blob SHA-1 of ``data``: what the forge reports as the file's ``sha``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
