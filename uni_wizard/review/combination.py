"""What the merge queue tests: the base with pull requests merged into it, one after another, made in the
reviewer's bare cache without a working tree (``git merge-tree --write-tree`` then ``git commit-tree``).

The forge merges the same heads into the same base in the same order, so the tree of the combination is the
tree the base has once the batch is merged (for ``merge``; ``squash`` and the rebase styles give the same
tree when nothing conflicts). A head that conflicts with the base and the heads before it is left out of
the combination (the forge will not merge it either until its author resolves it); a head the forge no
longer has (its branch moved) is left out too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..tools.git_output import git_error
from .worktree import Worktrees

__all__ = ["Combination", "combine"]

# commit-tree needs an identity; these commits never leave the cache (nothing pushes them)
IDENTITY = {
    "GIT_AUTHOR_NAME": "uni-wizard merge queue",
    "GIT_AUTHOR_EMAIL": "merge-queue@uni-wizard.invalid",
    "GIT_COMMITTER_NAME": "uni-wizard merge queue",
    "GIT_COMMITTER_EMAIL": "merge-queue@uni-wizard.invalid",
}


@dataclass(frozen=True)
class Combination:
    """``base`` with the heads of ``merged`` merged into it in order: ``commit`` and its ``tree``."""

    cache: Path
    base: str
    commit: str
    tree: str
    merged: tuple[int, ...]
    conflicted: tuple[int, ...] = ()
    moved: tuple[int, ...] = ()
    paths: dict[int, tuple[str, ...]] = field(default_factory=dict)  # what each merged head changes
    current: frozenset[int] = frozenset()  # heads that contain the base already

    def changed(self) -> list[str]:
        """Every path a merged head changes."""
        return sorted({path for number in self.merged for path in self.paths.get(number, ())})


async def combine(
    worktrees: Worktrees, clone_url: str, owner: str, name: str, base_ref: str, pulls: Sequence[tuple[int, str]]
) -> Combination:
    """Fetch the base and the heads of ``pulls`` (number, head) and merge the heads into the base in order."""
    cache, base, moved = await worktrees.fetch_pulls(clone_url, owner, name, base_ref, pulls)
    commit, merged, conflicted, current = base, [], [], set()
    paths: dict[int, tuple[str, ...]] = {}
    for number, head in pulls:
        if number in moved:
            continue
        if await _contains(worktrees, cache, head, base):
            current.add(number)
        if await _contains(worktrees, cache, head, commit):  # nothing to merge: the head is ahead of it all
            commit = head
        else:
            made = await _merge(worktrees, cache, commit, head, number)
            if made is None:
                conflicted.append(number)
                continue
            commit = made
        merged.append(number)
        since = (await worktrees.git(cache, "merge-base", base, head)).strip()
        listed = await worktrees.git(cache, "diff", "--name-only", "-z", "--no-renames", since, head, "--")
        paths[number] = tuple(p for p in listed.split("\0") if p)
    tree = (await worktrees.git(cache, "rev-parse", "--verify", "-q", f"{commit}^{{tree}}")).strip()
    return Combination(
        cache, base, commit, tree, tuple(merged), tuple(conflicted), tuple(sorted(moved)), paths, frozenset(current)
    )


async def _contains(worktrees: Worktrees, cache: Path, commit: str, ancestor: str) -> bool:
    done = await worktrees.try_git(cache, "merge-base", "--is-ancestor", ancestor, commit)
    return done.ok


async def _merge(worktrees: Worktrees, cache: Path, onto: str, head: str, number: int) -> str | None:
    """The merge commit of ``head`` into ``onto``, or None when they conflict."""
    done = await worktrees.try_git(cache, "merge-tree", "--write-tree", "--no-messages", onto, head)
    if not done.ok:
        if done.returncode == 1:  # conflicts
            return None
        raise git_error(str(cache), "merge-tree", f"{done.stderr}\n{done.stdout}", done.returncode)
    tree = done.stdout.splitlines()[0].strip()
    message = f"merge queue: #{number} ({head[:12]}) onto {onto[:12]}"
    made = await worktrees.git(cache, "commit-tree", tree, "-p", onto, "-p", head, "-m", message, env=IDENTITY)
    return made.strip()
