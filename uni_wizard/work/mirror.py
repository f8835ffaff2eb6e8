"""Bare mirrors of the forge's repositories, so that each issue's clone is made locally: fetch, not clone.

One bare repository per forge repository, ``<root>/<owner>/<name>.git`` (the daemon puts ``root`` at
``<data_dir>/cache/work/<house>``, out of every house's read and write roots), holding the forge's branches
and tags (``+refs/heads/*`` and ``+refs/tags/*``, pruned). ``Mirrors.clone`` brings the mirror up to date
(``git fetch`` from the forge, serialized per repository: an ``asyncio.Lock`` in the process and ``flock`` on
``<name>.git.lock`` between processes), then makes the issue's clone from it over the file transport
(``git clone --no-local --no-hardlinks file://...``: the objects are copied into a pack of the clone's own;
no hardlink, no ``objects/info/alternates``), so nothing a house writes in its clone, ``.git`` included,
reaches the mirror or another clone. git on the mirror is always addressed explicitly (``--git-dir``), never
from inside a clone, so it never reads a clone's config; every call goes through ``tools.git_safety.run_git``.
The clone holds no credential: the forge token goes to the fetch (and the check below) only, through the
environment, and the clone itself is made without one.

**A wrong mirror never gives a wrong base.** First the forge is asked directly (``git ls-remote``, the
truth; issues of one repository ask side by side) where the base branch and the issue branch stand; the
mirror fetches, under its lock, only when its own branches differ from that answer. The clone's
``origin/<base>`` and ``origin/<branch>`` are then set to exactly the commits the forge named, which must
be in the clone (``update-ref`` refuses a missing one): when they are not (the forge moved meanwhile, or the
mirror is wrong), the forge is asked again and the clone made again, up to ``ATTEMPTS`` times. A mirror that
cannot be read, fetched into or cloned from is removed and made again from the forge (a full clone, said in
the log as a warning). When that fails too, or the mirror's directory would be writable by a house,
``clone`` returns None and the worker clones from the forge as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitRefused, ToolExecutionError
from ..reporef import RepoRef
from ..tools import process
from ..tools.filelock import file_lock
from ..tools.git_safety import ForgeAuth, run_git

__all__ = ["Mirrors", "Seed"]

log = logging.getLogger(__name__)

LOCAL_TIMEOUT = 60.0
NETWORK_TIMEOUT = 300.0
ATTEMPTS = 3  # tries of the mirror (the forge moved meanwhile, the mirror was damaged) before the forge clone
REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
REPACK_EVERY = 50  # fetches between two repacks of a mirror (nothing else packs it: gc.auto is off for every git)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Seed:
    """Where the forge's ``base`` branch stands, and the issue ``branch`` (None: the forge has none)."""

    base: str
    branch: str | None


class MirrorDamaged(ToolExecutionError):
    """The mirror cannot be read, fetched into or cloned from: it is made again from the forge."""


async def _git(
    *args: str, git_dir: Path | None = None, repo: Path | None = None, cwd: Path | None = None,
    timeout: float = LOCAL_TIMEOUT, auth: ForgeAuth | None = None, url: str | None = None, local: bool = False,
) -> process.Completed:  # fmt: skip
    done = await run_git(*args, git_dir=git_dir, repo=repo, cwd=cwd, timeout=timeout, auth=auth, url=url, local=local)
    if not done.ok:
        message = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        raise ToolExecutionError(f"git {args[0]}: {message[:300]}")
    return done


class Mirrors:
    """The bare mirrors under ``root``. ``write_roots`` gives every house's write roots (resolved): a mirror
    root inside one of them, or holding one, is never used (a house could write into it)."""

    def __init__(self, root: Path, *, write_roots: Callable[[], Iterable[str]] = tuple) -> None:
        self.root = Path(root)
        self.write_roots = write_roots
        self._locks: dict[str, asyncio.Lock] = {}
        self._fetches: dict[str, int] = {}
        self._made: dict[str, int] = {}  # mirrors made per repository by this process
        self._warned = False

    def path(self, repo: str) -> Path:
        """``<root>/<owner>/<name>.git``, each a safe path component whatever the names hold."""
        owner, name = RepoRef.parse(repo)
        return self.root / _SAFE.sub("_", owner) / f"{_SAFE.sub('_', name)}.git"

    def exposed(self) -> str | None:
        """The house write root the mirrors would be reachable from, else None."""
        here = os.path.realpath(self.root)
        for root in self.write_roots():
            there = os.path.realpath(root)
            if here == there or here.startswith(there.rstrip(os.sep) + os.sep) or there.startswith(here + os.sep):
                return there
        return None

    async def clone(
        self, repo: str, url: str, auth: ForgeAuth, dest: Path, *, base: str, branch: str, options: Sequence[str] = ()
    ) -> Seed | None:
        """Clone ``repo`` (fetched from ``url`` with ``auth``) into ``dest`` (which must not exist) from its
        refreshed mirror, ``origin`` pointing at ``url`` (``options`` go to ``git clone``); where the forge has
        ``base`` and ``branch``. None when the mirror cannot be used (``dest`` is then absent): the caller
        clones from the forge."""
        exposed = self.exposed()
        if exposed is not None:
            if not self._warned:
                log.warning("not using the mirrors under %s: a house may write under %s", self.root, exposed)
                self._warned = True
            return None
        for _ in range(ATTEMPTS):
            try:
                seed, made = await self._refreshed(repo, url, auth, base=base, branch=branch)
            except MirrorDamaged as exc:  # removed already, under the lock that found it
                log.warning("the mirror of %s at %s is damaged (%s): making it again from the forge",
                            repo, self.path(repo), exc)  # fmt: skip
                continue
            except (ToolExecutionError, GitRefused) as exc:
                log.warning("cannot use the mirror of %s (%s): cloning from the forge", repo, exc)
                return None
            try:
                if await self._clone_from(repo, dest, url, seed, base=base, branch=branch, options=options):
                    return seed
                await self._discard(repo, dest)  # the clone lacks what the forge named (it moved): once more
            except MirrorDamaged as exc:
                what = "is damaged, no clone comes from it"
                log.warning("the mirror of %s at %s %s (%s): making it again from the forge",
                            repo, self.path(repo), what, exc)  # fmt: skip
                await self._discard(repo, dest, made=made)
            except (ToolExecutionError, GitRefused) as exc:
                log.warning("cannot use the mirror of %s (%s): cloning from the forge", repo, exc)
                await self._discard(repo, dest)
                return None
        log.warning("the mirror of %s could not be used in %d attempts: cloning from the forge", repo, ATTEMPTS)
        return None

    # -- the mirror -----------------------------------------------------------------------------------------
    async def _refreshed(self, repo: str, url: str, auth: ForgeAuth, *, base: str, branch: str) -> tuple[Seed, int]:
        """Ask the forge where ``base`` and ``branch`` stand (no lock held: issues ask side by side), then fetch
        the mirror (made first when missing) unless it has exactly that already; the forge's answer, which the
        clone is held to (``_clone_from``), and which mirror was used (``_made``). A damaged mirror is removed
        here, under the lock, and ``MirrorDamaged`` raised."""
        mirror = self.path(repo)
        heads = (f"refs/heads/{base}", f"refs/heads/{branch}")
        await asyncio.to_thread(mirror.parent.mkdir, parents=True, exist_ok=True)  # git runs in the root
        asked = await self._ask(url, auth, heads)  # the forge did not answer: raised, not the mirror's fault
        if heads[0] not in asked:
            raise ToolExecutionError(f"the forge has no branch {base} in {repo}")
        async with self._locked(repo):
            try:
                if not mirror.exists():
                    await self._create(repo, mirror, heads[0])
                if await self._heads(mirror, heads) != asked:  # moved since the last fetch (or a wrong mirror)
                    await self._fetch(repo, mirror, url, auth)
            except MirrorDamaged:
                await asyncio.to_thread(_remove, mirror)
                raise
            made = self._made.get(repo, 0)
        return Seed(asked[heads[0]], asked.get(heads[1])), made

    async def _ask(self, url: str, auth: ForgeAuth, heads: tuple[str, ...]) -> dict[str, str]:
        """Where the forge has ``heads`` (``git ls-remote``: the truth a mirror is checked against)."""
        done = await _git("ls-remote", "--", url, *heads, cwd=self.root, timeout=NETWORK_TIMEOUT, auth=auth, url=url)
        return _refs(done.stdout, heads)

    async def _fetch(self, repo: str, mirror: Path, url: str, auth: ForgeAuth) -> None:
        """Every branch and tag of the forge into ``mirror`` (pruned), repacked every ``REPACK_EVERY`` fetches."""
        fetch = ("fetch", "--quiet", "--prune", "--force", "--", url, *REFSPECS)
        try:
            await _git(*fetch, git_dir=mirror, timeout=NETWORK_TIMEOUT, auth=auth, url=url)
        except (ToolExecutionError, GitRefused) as exc:  # the forge answered ls-remote a moment ago
            raise MirrorDamaged(str(exc)) from exc
        self._fetches[repo] = count = self._fetches.get(repo, 0) + 1
        if count % REPACK_EVERY == 0:
            try:
                await _git("repack", "-a", "-d", "-q", git_dir=mirror, timeout=NETWORK_TIMEOUT)
            except (ToolExecutionError, GitRefused) as exc:
                log.warning("could not repack the mirror of %s: %s", repo, exc)

    async def _create(self, repo: str, mirror: Path, head: str) -> None:
        log.info("no mirror of %s yet: making %s (a clone from the forge)", repo, mirror)
        if mirror.is_symlink():
            await asyncio.to_thread(_remove, mirror)
        await _git("init", "--quiet", "--bare", "--", str(mirror), cwd=self.root)
        self._made[repo] = self._made.get(repo, 0) + 1
        await _git("symbolic-ref", "HEAD", head, git_dir=mirror)  # what the clones' origin/HEAD names

    async def _heads(self, mirror: Path, heads: tuple[str, ...]) -> dict[str, str]:
        try:
            done = await _git("for-each-ref", "--format=%(objectname) %(refname)", *heads, git_dir=mirror)
        except (ToolExecutionError, GitRefused) as exc:
            raise MirrorDamaged(str(exc)) from exc
        return _refs(done.stdout, heads, sep=" ")

    async def _discard(self, repo: str, dest: Path, *, made: int | None = None) -> None:
        """Remove a half-made ``dest``; with ``made``, the mirror too (under its lock), unless another task has
        made it again since."""
        if dest.exists():
            await asyncio.to_thread(_remove, dest)
        if made is not None:
            async with self._locked(repo):
                if self._made.get(repo, 0) == made:
                    await asyncio.to_thread(_remove, self.path(repo))

    # -- the clone ------------------------------------------------------------------------------------------
    async def _clone_from(
        self, repo: str, dest: Path, url: str, seed: Seed, *, base: str, branch: str, options: Sequence[str]
    ) -> bool:
        """``dest`` cloned from ``mirror`` (its own copy of the objects), ``origin`` at ``url``, its
        ``origin/<base>`` and ``origin/<branch>`` where the forge has them; False when the clone lacks those
        commits (the mirror moved on since its fetch)."""
        source = self.path(repo).resolve().as_uri()
        local = ("--no-local", "--no-hardlinks", "--no-checkout")  # objects copied, never linked or borrowed
        clone = ("clone", "--quiet", *local, *options, "--", source, str(dest))
        try:
            await _git(*clone, cwd=self.root, local=True)
        except ToolExecutionError as exc:
            raise MirrorDamaged(str(exc)) from exc
        await _git("remote", "set-url", "origin", url, repo=dest)
        wanted = {f"refs/remotes/origin/{base}": seed.base, f"refs/remotes/origin/{branch}": seed.branch}
        listed = await _git("for-each-ref", "--format=%(objectname) %(refname)", *wanted, repo=dest)
        held = _refs(listed.stdout, wanted, sep=" ")
        for ref, sha in wanted.items():
            if held.get(ref) == sha:
                continue  # as the forge has it (the usual case: the mirror did not move since)
            try:  # refused for a commit the clone does not have
                await _git("update-ref", *(("-d", ref) if sha is None else (ref, sha)), repo=dest)
            except ToolExecutionError:
                return False
        return True

    # -- the lock -------------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _locked(self, repo: str) -> AsyncIterator[None]:
        """The mirror of ``repo`` to this task alone: in the process, then between processes (``flock``)."""
        lock = self._locks.setdefault(repo, asyncio.Lock())
        async with lock:
            path = self.path(repo)
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            async with file_lock(Path(f"{path}.lock"), timeout=math.inf):  # waits as long as the holder works
                yield


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _refs(text: str, wanted: Iterable[str], *, sep: str = "\t") -> dict[str, str]:
    """``{ref: sha}`` of the ``wanted`` refs in ``<sha><sep><ref>`` lines (patterns also match longer names)."""
    names = set(wanted)
    out: dict[str, str] = {}
    for line in text.splitlines():
        sha, _, ref = line.partition(sep)
        if ref.strip() in names:
            out[ref.strip()] = sha.strip()
    return out
