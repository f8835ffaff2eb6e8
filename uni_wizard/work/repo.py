"""The per-issue working tree: a clone of the forge's repository on the branch ``<house>/issue-<n>``.

``IssueWorktree.prepare`` clones the repository from the forge (``<forge>/<owner>/<repo>.git``)
into ``<workspace>/worktrees/<owner>-<repo>-<n>`` (inside the house's write roots, so the Harness lets
the git, file and proof tools work there), checks out ``<house>/issue-<n>`` (the remote branch when
it exists already, so a restarted worker continues where the pushed work stands; else a new branch
from the default one) and sets the git identity to the house's forge user.

**The clone holds no credential.** The forge token travels as an HTTP header through ``GIT_CONFIG_*``
environment variables of the clone's git process only (``tools.git_safety``), never in a URL, a
command line or a file; later pushes (the Harness's ``git_push``) authenticate the same way with the
house's token from the ``ToolEnv``. Anything that reads the clone (a file tool, the tests of a pull
request) finds no token there.

With ``mirrors`` (``work/mirror.py``; the daemon's worker has them) the clone is made locally from a bare
mirror of the repository that is fetched, not cloned, per issue; its ``origin`` is the forge all the same,
and its base and issue branch are where the forge has them. Without, or when the mirror cannot be used,
the clone comes from the forge.

A directory left by an earlier run (a killed worker) is removed and cloned again: what counts is
what was pushed. Every git call goes through ``tools.git_safety.run_git`` (argv, timeout, a fixed
environment, the clone's config checked first).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolExecutionError
from ..reporef import RepoRef
from ..tools import process
from ..tools.git_safety import ForgeAuth, repository_url, run_git
from .forge_api import WorkForge
from .mirror import Mirrors

__all__ = ["IssueWorktree", "branch_name", "forge_root", "worktree_path"]

LOCAL_TIMEOUT = 30.0
NETWORK_TIMEOUT = 300.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def branch_name(house: str, number: int) -> str:
    return f"{house}/issue-{number}"


def worktree_path(workspace: Path, repo: str, number: int) -> Path:
    """Where the clone of ``repo`` for issue ``number`` lives: one safe path component whatever the name holds
    (``owner/name`` becomes ``owner-name-<number>``)."""
    return Path(workspace) / "worktrees" / _SAFE.sub("_", f"{repo.replace('/', '-', 1)}-{number}")


def forge_root(forge: WorkForge) -> str:
    """The forge's root URL (the client's, without ``/api/v1``)."""
    return forge.base_url.removesuffix("/api/v1") + "/"


async def _git(
    *args: str, cwd: Path | None = None, repo: Path | None = None, timeout: float = LOCAL_TIMEOUT,
    auth: ForgeAuth | None = None, url: str | None = None,
) -> process.Completed:  # fmt: skip
    done = await run_git(*args, repo=repo, cwd=cwd, timeout=timeout, auth=auth, url=url)
    if not done.ok:
        message = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        raise ToolExecutionError(f"git {args[0]}: {message[:300]}")
    return done


@dataclass(frozen=True)
class IssueWorktree:
    """A prepared clone: ``path``, the issue ``branch``, the repository's ``base`` (default) branch, and
    whether the branch was ``resumed`` from the remote (a restarted worker)."""

    path: Path
    branch: str
    base: str
    resumed: bool

    @classmethod
    async def prepare(
        cls,
        forge: WorkForge,
        repo: str,
        number: int,
        house: str,
        *,
        workspace: Path,
        token: str,
        name: str,
        email: str,
        mirrors: Mirrors | None = None,
    ) -> IssueWorktree:
        """Clone ``repo`` for issue ``number`` as ``house`` (from its mirror in ``mirrors`` when given);
        ``name`` and ``email`` are the commit identity."""
        owner, repo_name = RepoRef.parse(repo)
        info = await forge.get_repo(owner, repo_name)
        root = forge_root(forge)
        url = repository_url(root, repo, info.clone_url)  # the token goes to that forge only
        path = worktree_path(workspace, repo, number)
        _check_no_link(workspace, path)
        if path.exists():
            await asyncio.to_thread(shutil.rmtree, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_no_link(workspace, path)
        auth = ForgeAuth(root, token)
        if not auth.env_for(url):
            raise ToolExecutionError("the forge token is missing: the worker cannot clone without it")
        branch = branch_name(house, number)
        base = info.default_branch
        identity = ("--config", f"user.name={name}", "--config", f"user.email={email}")  # written by the clone
        seed = None
        if mirrors is not None and base:
            seed = await mirrors.clone(repo, url, auth, path, base=base, branch=branch, options=identity)
        if seed is None:
            clone = ("clone", "--quiet", *identity, "--", url, str(path))
            await _git(*clone, cwd=path.parent, timeout=NETWORK_TIMEOUT, auth=auth, url=url)
            base = base or await _remote_head(path)
            remote = await _git("for-each-ref", "--format=%(refname)", f"refs/remotes/origin/{branch}", repo=path)
            resumed = bool(remote.stdout.strip())
        else:
            resumed = seed.branch is not None  # the mirror's clone has origin/<branch> exactly where the forge has it
        if resumed:
            await _git("switch", "--quiet", "-c", branch, "--track", f"origin/{branch}", repo=path)
        else:
            await _git("switch", "--quiet", "--no-track", "-c", branch, f"origin/{base}", repo=path)
        return cls(path, branch, base, resumed)

    async def dirty(self) -> bool:
        """Whether the working tree has uncommitted changes (untracked files included)."""
        done = await _git("status", "--porcelain", "--untracked-files=all", repo=self.path)
        return bool(done.stdout.strip())

    async def ahead(self) -> int:
        """Commits on the branch that the base branch does not have."""
        done = await _git("rev-list", "--count", f"origin/{self.base}..HEAD", repo=self.path)
        return int(done.stdout.strip() or 0)

    async def changed(self) -> bool:
        """Whether the work changed the repository: uncommitted changes or commits ahead of the base."""
        return await self.dirty() or await self.ahead() > 0

    async def head(self) -> str:
        return (await _git("rev-parse", "HEAD", repo=self.path)).stdout.strip()

    async def remove(self) -> None:
        """Delete the clone."""
        if self.path.exists():
            await asyncio.to_thread(shutil.rmtree, self.path)


def _check_no_link(workspace: Path, path: Path) -> None:
    """``path`` must be where it says under ``workspace``: a symlink planted on the way (houses write in the
    workspace) would make the worker delete or clone somewhere else."""
    here = Path(os.path.realpath(workspace)) / path.relative_to(workspace)
    if os.path.realpath(path) != str(here) or path.is_symlink():
        raise ToolExecutionError(f"refusing to use {path}: a symlink on the way leads elsewhere")


async def _remote_head(path: Path) -> str:
    done = await _git("symbolic-ref", "--short", "refs/remotes/origin/HEAD", repo=path)
    return done.stdout.strip().removeprefix("origin/") or "main"
