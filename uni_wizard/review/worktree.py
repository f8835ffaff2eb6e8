"""A clean worktree of a pull request's head, and what it changes against the merge base.

One bare cache repository per forge repository (``<root>/<owner>/<name>.git``) is fetched from the
forge (``refs/pull/<n>/head`` and the base branch); each review checks the head sha out into a fresh
``git worktree`` (``<root>/worktrees/<owner>/<name>/pr-<n>-<sha>``), removed afterwards. Nothing the
worker left on disk is used. The forge token goes to git through the environment (an
``http.extraHeader``), never on the command line or in a URL. Every git call is an argv list with a
timeout (``tools.process.run``).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolExecutionError
from ..tools import process
from ..tools.git import GIT_ENV
from ..tools.git_output import git_error, parse_numstat

__all__ = ["Checkout", "FileStat", "HeadMoved", "Worktrees"]

FETCH_TIMEOUT = 180.0
LOCAL_TIMEOUT = 60.0


class HeadMoved(ToolExecutionError):
    """The forge no longer has the head the review was asked for (the branch moved while fetching)."""


@dataclass(frozen=True)
class FileStat:
    path: str
    additions: int
    deletions: int
    orig_path: str | None = None  # the old path of a rename


@dataclass(frozen=True)
class Checkout:
    """The head checked out at ``path``; ``files`` changed from ``merge_base`` to ``head``."""

    path: Path
    head: str
    merge_base: str
    files: tuple[FileStat, ...]
    base_files: frozenset[str]

    @property
    def lines(self) -> int:
        return sum(f.additions + f.deletions for f in self.files)

    @property
    def paths(self) -> list[str]:
        """Every path the change touches (both sides of a rename)."""
        out: dict[str, None] = {}
        for f in self.files:
            if f.orig_path:
                out[f.orig_path] = None
            out[f.path] = None
        return list(out)


class Worktrees:
    """Clean checkouts under ``root`` of repositories cloned with ``token``."""

    def __init__(self, root: Path, *, token: str | None = None) -> None:
        self.root = root
        self._env: dict[str, str] = {**GIT_ENV, "GIT_CONFIG_NOSYSTEM": "1"}
        if token:
            self._env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: token {token}",
            }

    async def _git(self, cwd: Path, *args: str, timeout: float = LOCAL_TIMEOUT) -> str:
        done = await process.run(["git", "-C", str(cwd), *args], timeout=timeout, env=self._env, max_output=50_000_000)
        if not done.ok:
            raise git_error(str(cwd), args[0], f"{done.stderr}\n{done.stdout}", done.returncode)
        return done.stdout

    async def _has_commit(self, cache: Path, sha: str) -> bool:
        done = await process.run(
            ["git", "-C", str(cache), "cat-file", "-e", f"{sha}^{{commit}}"], timeout=LOCAL_TIMEOUT, env=self._env
        )
        return done.ok

    async def _cache(self, owner: str, name: str) -> Path:
        cache = self.root / owner / f"{name}.git"
        if not (cache / "HEAD").is_file():
            cache.parent.mkdir(parents=True, exist_ok=True)
            await self._git(cache.parent, "init", "--bare", "-q", cache.name)
        return cache

    async def fetch(self, clone_url: str, owner: str, name: str, number: int, head: str, base_ref: str) -> Path:
        """Fetch the PR's head and base into the cache; ``HeadMoved`` when ``head`` is not there."""
        cache = await self._cache(owner, name)
        refspecs = [f"+refs/pull/{number}/head:refs/review/pull/{number}", f"+refs/heads/{base_ref}:refs/review/base"]
        await self._git(cache, "fetch", "-q", "--no-tags", clone_url, *refspecs, timeout=FETCH_TIMEOUT)
        if not await self._has_commit(cache, head):
            done = await process.run(
                ["git", "-C", str(cache), "fetch", "-q", "--no-tags", clone_url, head],
                timeout=FETCH_TIMEOUT,
                env=self._env,
            )
            if not done.ok or not await self._has_commit(cache, head):
                raise HeadMoved(f"pull request {number}: the forge no longer has head {head[:12]}")
        return cache

    @asynccontextmanager
    async def checkout(
        self, clone_url: str, owner: str, name: str, number: int, head: str, base_ref: str
    ) -> AsyncIterator[Checkout]:
        """A clean worktree of ``head`` with its changes against the merge base; removed on exit."""
        cache = await self.fetch(clone_url, owner, name, number, head, base_ref)
        merge_base = (await self._git(cache, "merge-base", "refs/review/base", head)).strip()
        stats = parse_numstat(await self._git(cache, "diff", "--numstat", "-z", "-M", merge_base, head, "--"))
        files = tuple(FileStat(f["path"], f["insertions"], f["deletions"], f.get("orig_path")) for f in stats)
        listed = await self._git(cache, "ls-tree", "-r", "-z", "--name-only", merge_base)
        base_files = frozenset(p for p in listed.split("\0") if p)
        path = self.root / "worktrees" / owner / name / f"pr-{number}-{head[:12]}"
        await self._remove(cache, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        await self._git(cache, "worktree", "add", "--detach", "--force", "-q", str(path), head)
        try:
            yield Checkout(path, head, merge_base, files, base_files)
        finally:
            await self._remove(cache, path)

    async def diff_digest(self, checkout: Checkout) -> str:
        """sha256 of the full binary diff from the merge base to the head: what an approval of the head approves."""
        diff = await self._git(
            checkout.path, "diff", "--binary", "--full-index", "--no-color", "--no-ext-diff",
            checkout.merge_base, checkout.head, "--",
        )  # fmt: skip
        return hashlib.sha256(diff.encode()).hexdigest()

    async def _remove(self, cache: Path, path: Path) -> None:
        """Remove a worktree (and what a crash may have left of one)."""
        if path.exists():
            done = await process.run(
                ["git", "-C", str(cache), "worktree", "remove", "--force", "--force", str(path)],
                timeout=LOCAL_TIMEOUT,
                env=self._env,
            )
            if not done.ok and path.exists():
                shutil.rmtree(path)
        await self._git(cache, "worktree", "prune")
