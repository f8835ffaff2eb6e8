"""The mesh repository as git sees it: a bare cache under the releases root, fetched over HTTP.

Only what an apply installs is read from a commit: ``houses/*.yaml``, ``configs/*.yaml`` (not their
subdirectories) and the pin file. Every git call goes through ``tools.git_safety.run_git`` (a fixed
environment, the cache addressed explicitly with ``--git-dir`` and its config checked first); the forge
token goes to git through the environment, for the forge's URLs only, never on the command line, in a
URL or in a file.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeployFailed, UpgradeError
from ..tools import process
from ..tools.git_safety import ForgeAuth, forge_origin, run_git

__all__ = ["MANAGED", "MeshSource", "MeshTree"]

FETCH_TIMEOUT = 180.0
LOCAL_TIMEOUT = 60.0
MANAGED = ("houses/*.yaml", "configs/*.yaml")
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class MeshTree:
    """The installable files of one commit: ``files`` by path (``houses/x.yaml``), the pin file's text."""

    sha: str
    files: dict[str, bytes]
    pin_text: str | None


class MeshSource:
    """A bare cache of ``clone_url`` at ``cache``; ``token`` authenticates the fetch, offered only to the
    forge at ``forge_url`` (default: the host ``clone_url`` is on)."""

    def __init__(
        self, cache: Path, clone_url: str, *, token: str | None = None, pin_path: str, forge_url: str | None = None
    ) -> None:
        self.cache = cache
        self.clone_url = clone_url
        self.pin_path = pin_path
        self._auth = ForgeAuth(forge_url or forge_origin(clone_url), token or "")

    async def _git(
        self, *args: str, timeout: float = LOCAL_TIMEOUT, check: bool = True, url: str | None = None
    ) -> process.Completed:
        git_dir = self.cache if args[0] != "init" else None
        done = await run_git(
            *args, git_dir=git_dir, cwd=self.cache, timeout=timeout, max_output=20_000_000, auth=self._auth, url=url
        )
        if check and not done.ok:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise UpgradeError(f"git {args[0]} in {self.cache}: {tail[0][:300]}")
        return done

    async def fetch(self, branch: str) -> str:
        """Fetch ``branch`` into the cache; its tip sha."""
        if not (self.cache / "HEAD").is_file():
            self.cache.mkdir(parents=True, exist_ok=True)
            await self._git("init", "--bare", "-q", str(self.cache))
        ref = f"refs/mesh/{branch}"
        fetch = ("fetch", "-q", "--no-tags", "--no-write-fetch-head", self.clone_url, f"+refs/heads/{branch}:{ref}")
        await self._git(*fetch, timeout=FETCH_TIMEOUT, url=self.clone_url)
        return (await self._git("rev-parse", ref)).stdout.strip()

    async def first_parents(self, tip: str, limit: int = 2000) -> list[str]:
        """The shas of ``tip``'s first-parent history, oldest first (the order merges landed in)."""
        out = (await self._git("rev-list", "--first-parent", f"--max-count={limit}", tip)).stdout
        return list(reversed(out.split()))

    async def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether ``older`` is ``newer`` or one of its ancestors."""
        return (await self._git("merge-base", "--is-ancestor", older, newer, check=False)).ok

    async def read(self, sha: str) -> MeshTree:
        """The managed files and the pin of commit ``sha``; ``DeployFailed`` for an oversized file."""
        listed = (await self._git("ls-tree", "-r", "-z", "--long", sha, "--", "houses", "configs")).stdout
        files: dict[str, bytes] = {}
        for entry in filter(None, listed.split("\0")):
            meta, _, path = entry.partition("\t")
            kind, size = meta.split()[1], meta.split()[3]
            if kind != "blob" or not any(fnmatch.fnmatchcase(path, p) and path.count("/") == 1 for p in MANAGED):
                continue
            if int(size) > MAX_FILE_BYTES:
                raise DeployFailed(f"{path} at {sha[:12]} is {size} bytes, over {MAX_FILE_BYTES}")
            files[path] = await self._blob(sha, path)
        pin = await self._git("cat-file", "blob", f"{sha}:{self.pin_path}", check=False)
        return MeshTree(sha, files, pin.stdout if pin.ok else None)

    async def _blob(self, sha: str, path: str) -> bytes:
        done = await self._git("cat-file", "blob", f"{sha}:{path}")
        return done.stdout.encode()
