"""The per-issue working tree: a clone of the forge's repository on the branch ``<house>/issue-<n>``.

``IssueWorktree.prepare`` clones the repository's ``clone_url`` into
``<workspace>/worktrees/<owner>-<repo>-<n>`` (inside the house's write roots, so the Harness lets
the git, file and proof tools work there), checks out ``<house>/issue-<n>`` (the remote branch when
it exists already, so a restarted worker continues where the pushed work stands; else a new branch
from the default one) and sets the git identity to the house's forge user.

The forge token travels as an HTTP header, never in a URL: the clone gets it through
``GIT_CONFIG_*`` environment variables (so it is not on a command line other local users can read),
and it is then written into the clone's ``.git/config`` (``http.extraHeader``, file mode 0600) so
that later pushes, through the Harness's ``git_push``, authenticate. **The clone's .git/config
therefore holds the house's token: the workspace must be private to the daemon's user.**

A directory left by an earlier run (a killed worker) is removed and cloned again: what counts is
what was pushed. Every subprocess is an argv list with a timeout (``tools.process.run``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolExecutionError
from ..forge.client import GiteaClient
from ..tools import process

__all__ = ["IssueWorktree", "branch_name", "worktree_path"]

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
LOCAL_TIMEOUT = 30.0
NETWORK_TIMEOUT = 300.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def branch_name(house: str, number: int) -> str:
    return f"{house}/issue-{number}"


def worktree_path(workspace: Path, repo: str, number: int) -> Path:
    owner, name = repo.split("/", 1)
    return Path(workspace) / "worktrees" / _SAFE.sub("_", f"{owner}-{name}-{number}")


def _auth_header(token: str) -> str:
    if not token or any(ch in token for ch in '"\\\n\r\0 '):
        raise ToolExecutionError("the forge token must be one word of printable ASCII")
    return f"Authorization: token {token}"


async def _git(
    *args: str, cwd: Path | None = None, timeout: float = LOCAL_TIMEOUT, env: dict[str, str] | None = None
) -> process.Completed:
    argv = ["git", *(["-C", str(cwd)] if cwd is not None else []), *args]
    done = await process.run(argv, timeout=timeout, env={**GIT_ENV, **(env or {})})
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
        forge: GiteaClient,
        repo: str,
        number: int,
        house: str,
        *,
        workspace: Path,
        token: str,
        name: str,
        email: str,
    ) -> IssueWorktree:
        """Clone ``repo`` for issue ``number`` as ``house``; ``name`` and ``email`` are the commit identity."""
        owner, repo_name = repo.split("/", 1)
        info = await forge.get_repo(owner, repo_name)
        if not info.clone_url:
            raise ToolExecutionError(f"the forge gives no clone_url for {repo}")
        header = _auth_header(token)
        path = worktree_path(workspace, repo, number)
        if path.exists():
            await asyncio.to_thread(shutil.rmtree, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        secret_env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": header}
        await _git("clone", "--quiet", "--", info.clone_url, str(path), timeout=NETWORK_TIMEOUT, env=secret_env)
        await asyncio.to_thread(_store_header, path, header)
        await _git("config", "user.name", name, cwd=path)
        await _git("config", "user.email", email, cwd=path)
        await _git("config", "commit.gpgsign", "false", cwd=path)
        base = info.default_branch or await _remote_head(path)
        branch = branch_name(house, number)
        remote = await _git("for-each-ref", "--format=%(refname)", f"refs/remotes/origin/{branch}", cwd=path)
        resumed = bool(remote.stdout.strip())
        if resumed:
            await _git("switch", "--quiet", "-c", branch, "--track", f"origin/{branch}", cwd=path)
        else:
            await _git("switch", "--quiet", "--no-track", "-c", branch, f"origin/{base}", cwd=path)
        return cls(path, branch, base, resumed)

    async def dirty(self) -> bool:
        """Whether the working tree has uncommitted changes (untracked files included)."""
        done = await _git("status", "--porcelain", "--untracked-files=all", cwd=self.path)
        return bool(done.stdout.strip())

    async def ahead(self) -> int:
        """Commits on the branch that the base branch does not have."""
        done = await _git("rev-list", "--count", f"origin/{self.base}..HEAD", cwd=self.path)
        return int(done.stdout.strip() or 0)

    async def changed(self) -> bool:
        """Whether the work changed the repository: uncommitted changes or commits ahead of the base."""
        return await self.dirty() or await self.ahead() > 0

    async def head(self) -> str:
        return (await _git("rev-parse", "HEAD", cwd=self.path)).stdout.strip()

    async def remove(self) -> None:
        """Delete the clone (and the token in its config)."""
        if self.path.exists():
            await asyncio.to_thread(shutil.rmtree, self.path)


async def _remote_head(path: Path) -> str:
    done = await _git("symbolic-ref", "--short", "refs/remotes/origin/HEAD", cwd=path)
    return done.stdout.strip().removeprefix("origin/") or "main"


def _store_header(path: Path, header: str) -> None:
    """Append ``http.extraHeader`` to the clone's config (no command line carries the token) and make
    the file readable by its owner only."""
    config = path / ".git" / "config"
    with config.open("a", encoding="utf-8") as fh:
        fh.write(f'[http]\n\textraHeader = "{header}"\n')
    os.chmod(config, 0o600)
