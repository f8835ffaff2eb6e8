"""A clean worktree of a pull request's head, and what it changes against the merge base.

One bare cache repository per forge repository (``<cache>/<owner>/<name>.git``, the daemon wiring puts
``cache`` under the data directory, out of every house's write roots) is fetched from the forge
(``refs/pull/<n>/head`` and the base branch); each review checks the head sha out into a fresh ``git
worktree`` (``<root>/worktrees/<owner>/<name>/pr-<n>-<sha>``, under the workspace, where Timmy's Harness
reads it), removed afterwards. Nothing the worker left on disk is used, and git only ever works on the
cache, addressed explicitly (``--git-dir``), never through the worktree a house could have written in.
Every git call goes through ``tools.git_safety.run_git``; the forge token goes to git through the
environment for the forge's URLs only, never on the command line, in a URL or in a file.

Reviews run side by side (``reviewer.review_once``): what writes to a cache (init, fetch, ``git worktree``
bookkeeping) holds the cache's lock, an ``asyncio.Lock`` in this process and a ``flock`` on
``<cache>.lock`` across processes (``filelock.py``), so two fetches never race for the same refs; a ref lock
file a killed git left is removed then (nothing else can be writing), and the fetch is tried once more. Each
review resolves the base it fetched to a sha at once (another review's fetch may move ``refs/review/base``).
Fetches run no background maintenance (it would outlive the lock); ``git gc --auto`` runs in the foreground
every ``GC_EVERY`` fetches instead. Two checkouts of the same PR at the same head take turns on its path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolExecutionError
from ..tools.filelock import file_lock
from ..tools.git_output import git_error, parse_numstat
from ..tools.git_safety import ForgeAuth, forge_origin, repository_url, run_git
from ..tools.process import Completed
from .concurrency import KeyedLocks

__all__ = ["Checkout", "FileStat", "HeadMoved", "Worktrees"]

FETCH_TIMEOUT = 180.0
LOCAL_TIMEOUT = 60.0
LOCK_TIMEOUT = 2 * FETCH_TIMEOUT  # waiting for another process's fetch into the same cache
GC_EVERY = 16  # fetches into a cache between two ``git gc --auto``


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
    cache: Path  # the bare cache git works on (never the worktree itself)

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
    """Clean checkouts under ``root`` of repositories fetched (with ``token``) into bare caches under
    ``cache`` (default: ``root`` itself, the old layout; the daemon passes ``<data_dir>/cache/review``).
    With ``forge_url`` the fetches go to that forge only; without it, to the ``clone_url`` given."""

    def __init__(
        self, root: Path, *, token: str | None = None, cache: Path | None = None, forge_url: str | None = None
    ) -> None:
        self.root = root
        self.cache_root = cache if cache is not None else root
        self._token = token or ""
        self._forge_url = forge_url
        self._caches: KeyedLocks[Path] = KeyedLocks()  # one writer per bare cache in this process
        self._paths: KeyedLocks[Path] = KeyedLocks()  # one checkout per worktree path (a PR at a head)
        self._fetches: dict[Path, int] = {}

    def _url(self, clone_url: str, owner: str, name: str) -> tuple[str, ForgeAuth]:
        forge = self._forge_url or forge_origin(clone_url)
        url = repository_url(forge, f"{owner}/{name}", clone_url)
        return url, ForgeAuth(forge, self._token)

    async def _git(self, cache: Path, *args: str, timeout: float = LOCAL_TIMEOUT) -> str:
        done = await run_git(*args, git_dir=cache, timeout=timeout, max_output=50_000_000)
        if not done.ok:
            raise git_error(str(cache), args[0], f"{done.stderr}\n{done.stdout}", done.returncode)
        return done.stdout

    async def _has_commit(self, cache: Path, sha: str) -> bool:
        done = await run_git("cat-file", "-e", f"{sha}^{{commit}}", git_dir=cache, timeout=LOCAL_TIMEOUT)
        return done.ok

    @asynccontextmanager
    async def _exclusive(self, cache: Path) -> AsyncIterator[None]:
        """Write to ``cache`` alone: its lock in this process, then its lock file across processes."""
        async with self._caches.hold(cache):
            cache.parent.mkdir(parents=True, exist_ok=True)
            async with file_lock(cache.with_name(f"{cache.name}.lock"), timeout=LOCK_TIMEOUT):
                yield

    async def _init(self, cache: Path) -> None:
        if not (cache / "HEAD").is_file():
            done = await run_git("init", "--bare", "-q", str(cache), cwd=cache.parent, timeout=LOCAL_TIMEOUT)
            if not done.ok:
                raise git_error(str(cache), "init", done.stderr, done.returncode)

    async def fetch(self, clone_url: str, owner: str, name: str, number: int, head: str, base_ref: str) -> Path:
        """Fetch the PR's head and base into the cache; ``HeadMoved`` when ``head`` is not there."""
        cache, _ = await self._fetch(clone_url, owner, name, number, head, base_ref)
        return cache

    async def _fetch(
        self, clone_url: str, owner: str, name: str, number: int, head: str, base_ref: str
    ) -> tuple[Path, str]:
        """``fetch``, and the base's sha as fetched (a later fetch for another PR may move ``refs/review/base``).
        Fetches into one cache never overlap (git's ref locks would make the second fail)."""
        cache = self.cache_root / owner / f"{name}.git"
        url, auth = self._url(clone_url, owner, name)
        refspecs = (f"+refs/pull/{number}/head:refs/review/pull/{number}", f"+refs/heads/{base_ref}:refs/review/base")
        async with self._exclusive(cache):
            await self._init(cache)
            done = await self._fetch_once(cache, url, auth, *refspecs)
            if not done.ok:
                raise git_error(str(cache), "fetch", f"{done.stderr}\n{done.stdout}", done.returncode)
            if not await self._has_commit(cache, head):
                done = await self._fetch_once(cache, url, auth, head)
                if not done.ok or not await self._has_commit(cache, head):
                    raise HeadMoved(f"pull request {number}: the forge no longer has head {head[:12]}")
            base = (await self._git(cache, "rev-parse", "--verify", "-q", "refs/review/base^{commit}")).strip()
            await self._maintain(cache)
        return cache, base

    async def _fetch_once(self, cache: Path, url: str, auth: ForgeAuth, *refspecs: str) -> Completed:
        """One fetch (no background maintenance: it would outlive the cache's lock); once more after removing
        the ref locks a killed git left (nothing else writes to the cache while its lock is held)."""
        fetch = ("fetch", "-q", "--no-tags", "--no-write-fetch-head", "--no-auto-maintenance", url, *refspecs)
        done = await run_git(*fetch, git_dir=cache, timeout=FETCH_TIMEOUT, auth=auth, url=url)
        if done.ok or not _stale_lock(done.stderr) or not _remove_ref_locks(cache):
            return done
        return await run_git(*fetch, git_dir=cache, timeout=FETCH_TIMEOUT, auth=auth, url=url)

    async def _maintain(self, cache: Path) -> None:
        """``git gc --auto`` in the foreground every ``GC_EVERY`` fetches (under the cache's lock)."""
        count = self._fetches[cache] = self._fetches.get(cache, 0) + 1
        if count % GC_EVERY == 0:
            await self._git(cache, "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet", timeout=FETCH_TIMEOUT)

    async def tree(self, checkout: Checkout) -> str:
        """The sha of the head's tree (what a re-run of the tests ran on)."""
        return (await self._git(checkout.cache, "rev-parse", "--verify", "-q", f"{checkout.head}^{{tree}}")).strip()

    @asynccontextmanager
    async def checkout(
        self, clone_url: str, owner: str, name: str, number: int, head: str, base_ref: str
    ) -> AsyncIterator[Checkout]:
        """A clean worktree of ``head`` with its changes against the merge base; removed on exit. Two checkouts
        of one PR at one head take turns (they would share the path)."""
        cache, base = await self._fetch(clone_url, owner, name, number, head, base_ref)
        merge_base = (await self._git(cache, "merge-base", base, head)).strip()
        diff = ("diff", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv", merge_base, head, "--")
        stats = parse_numstat(await self._git(cache, *diff))
        files = tuple(FileStat(f["path"], f["insertions"], f["deletions"], f.get("orig_path")) for f in stats)
        listed = await self._git(cache, "ls-tree", "-r", "-z", "--name-only", merge_base)
        base_files = frozenset(p for p in listed.split("\0") if p)
        path = self.root / "worktrees" / owner / name / f"pr-{number}-{head[:12]}"
        async with self.worktree(cache, path, head):
            yield Checkout(path, head, merge_base, files, base_files, cache)

    @asynccontextmanager
    async def worktree(self, cache: Path, path: Path, commit: str) -> AsyncIterator[Path]:
        """A clean worktree of ``commit`` (of ``cache``) at ``path`` under ``root``, removed on exit; two
        worktrees at one path take turns."""
        async with self._paths.hold(path):
            async with self._exclusive(cache):
                await self._remove(cache, path)
                self._make_parent(path)
                await self._git(cache, "worktree", "add", "--detach", "--force", "--force", "-q", str(path), commit)
            try:
                yield path
            finally:
                async with self._exclusive(cache):
                    await self._remove(cache, path)

    async def fetch_pulls(
        self, clone_url: str, owner: str, name: str, base_ref: str, pulls: Sequence[tuple[int, str]]
    ) -> tuple[Path, str, frozenset[int]]:
        """Fetch the base and the heads of ``pulls`` (number, head) into the cache in one fetch: the cache, the
        base's sha as fetched, and the numbers whose head the forge no longer has (their branch moved)."""
        cache = self.cache_root / owner / f"{name}.git"
        url, auth = self._url(clone_url, owner, name)
        refspecs = [f"+refs/heads/{base_ref}:refs/review/base"]
        refspecs += [f"+refs/pull/{number}/head:refs/review/pull/{number}" for number, _ in pulls]
        async with self._exclusive(cache):
            await self._init(cache)
            done = await self._fetch_once(cache, url, auth, *refspecs)
            if not done.ok:
                raise git_error(str(cache), "fetch", f"{done.stderr}\n{done.stdout}", done.returncode)
            base = (await self._git(cache, "rev-parse", "--verify", "-q", "refs/review/base^{commit}")).strip()
            moved = frozenset([number for number, head in pulls if not await self._has_commit(cache, head)])
            await self._maintain(cache)
        return cache, base, moved

    async def git(self, cache: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
        """``git args`` on ``cache`` (local work only: no fetch, no push), its output; a failure raises."""
        done = await run_git(*args, git_dir=cache, timeout=LOCAL_TIMEOUT, max_output=50_000_000, env=env)
        if not done.ok:
            raise git_error(str(cache), args[0], f"{done.stderr}\n{done.stdout}", done.returncode)
        return done.stdout

    async def try_git(self, cache: Path, *args: str) -> Completed:
        """``git args`` on ``cache`` whatever it returns (a merge that conflicts exits 1)."""
        return await run_git(*args, git_dir=cache, timeout=LOCAL_TIMEOUT, max_output=50_000_000)

    def _make_parent(self, path: Path) -> None:
        """Create ``path``'s parent under ``root``, refusing a symlink on the way, before and after (the
        workspace is the houses': a link there would send the checkout elsewhere)."""
        expected = os.path.normpath(os.path.join(os.path.realpath(self.root), os.path.relpath(path, self.root)))
        refused = ToolExecutionError(f"refusing to check out into {path}: a symlink on the way leads elsewhere")
        if os.path.realpath(path) != expected:
            raise refused
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.realpath(path) != expected:
            raise refused

    async def diff_digest(self, checkout: Checkout) -> str:
        """sha256 of the full binary diff from the merge base to the head: what an approval of the head approves."""
        diff = await self._git(
            checkout.cache, "diff", "--binary", "--full-index", "--no-color", "--no-ext-diff",
            "--no-textconv", checkout.merge_base, checkout.head, "--",
        )  # fmt: skip
        return hashlib.sha256(diff.encode()).hexdigest()

    async def _remove(self, cache: Path, path: Path) -> None:
        """Remove a worktree (and what a crash, or a house, may have left in its place)."""
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            remove = ("worktree", "remove", "--force", "--force", str(path))
            done = await run_git(*remove, git_dir=cache, timeout=LOCAL_TIMEOUT)
            if not done.ok and path.exists():
                shutil.rmtree(path)
        await self._git(cache, "worktree", "prune")


def _stale_lock(stderr: str) -> bool:
    """git failed on a lock file that exists (``cannot lock ref``, ``Unable to create '...lock': File exists``)."""
    return "cannot lock ref" in stderr or (".lock" in stderr and "File exists" in stderr)


def _remove_ref_locks(cache: Path) -> bool:
    """Remove the ref lock files of ``cache`` (``refs/**.lock``, ``packed-refs.lock``); whether there were any."""
    found = [*(cache / "refs").rglob("*.lock"), *(p for p in (cache / "packed-refs.lock",) if p.exists())]
    for lock in found:
        lock.unlink(missing_ok=True)
    return bool(found)
