"""The state of an upgrade mirrored on its pull request: the plain ``upgrade`` label plus exactly one
exclusive scoped label ``upgrade/<state>``; every other label stays.

    >>> mirrored(["upgrade", "upgrade/proposed", "hold"], State.APPROVED, "upgrade")
    ['hold', 'upgrade', 'upgrade/approved']
"""

from __future__ import annotations

from collections.abc import Iterable

from ..reporef import RepoRef
from .forge_api import LabelWriter
from .states import COLORS, LABEL_PREFIX, State, state_label

__all__ = ["LabelMirror", "LabelWriter", "mirrored"]


def mirrored(current: Iterable[str], state: State, plain: str) -> list[str]:
    """``current`` with every ``upgrade/*`` label replaced by ``state``'s, and ``plain`` kept or added."""
    kept = {label for label in current if not label.startswith(LABEL_PREFIX)}
    return sorted(kept | {plain, state_label(state)})


class LabelMirror:
    """Writes ``mirrored`` labels through ``forge``; creates the state labels of a repository on first use."""

    def __init__(self, forge: LabelWriter, *, plain: str = "upgrade") -> None:
        self.forge = forge
        self.plain = plain
        self._ready: set[str] = set()

    async def ensure_labels(self, repo: str) -> None:
        if repo in self._ready:
            return
        owner, name = RepoRef.parse(repo)
        await self.forge.ensure_label(owner, name, self.plain, "#1d76db", description="a change to the mesh itself")
        for state in State:
            await self.forge.ensure_label(
                owner, name, state_label(state), COLORS[state], description=f"upgrade {state.value}", exclusive=True
            )
        self._ready.add(repo)

    async def mirror(self, repo: str, number: int, state: State) -> bool:
        """Make the PR's labels say ``state``; False when they did already (nothing written)."""
        owner, name = RepoRef.parse(repo)
        current = (await self.forge.get_issue(owner, name, number)).label_names
        wanted = mirrored(current, state, self.plain)
        if sorted(current) == wanted:
            return False
        await self.ensure_labels(repo)
        await self.forge.replace_labels(owner, name, number, wanted)
        return True
