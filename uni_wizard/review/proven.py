"""Trees whose tests the reviewer re-ran already: the verdict of each re-run, kept by tree and policy.

A re-run of the tests (``checks.py``) runs on the head's **tree**: every file, ``.uni-wizard.yaml`` and the
build files that choose the test command among them. Another head with the same tree (a rebase that changed
nothing, a PR re-opened, the same change pushed again) would run exactly the same command on exactly the same
files, so its verdict is reused instead of run again, and the review says so ("tests not re-run: tree ... proven
on ... for PR #n"). The key also holds the re-run's ``policy`` (``rerun_policy``: the reviewer's test timeout
and what it reads of the output): a different policy runs again. ``reuse_proven_trees: false`` in
``configs/review.yaml`` re-runs every head (and still records).

Only a re-run that ran is recorded, passed or failed; one that could not run (the sandbox refused, the
runner is missing, the timeout passed) is not, and the next review tries again. The verdicts live in the
host's store (table ``review_proven_trees``, migration 7), so they survive a restart; without a store (a
reviewer built by hand) they are kept in memory. Two reviews of the same tree at once take turns
(``claim``): the second finds the first's verdict.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..store import Store, utc_now
from .concurrency import KeyedLocks
from .gate import short

__all__ = ["ProvenTree", "ProvenTrees", "rerun_policy"]

RERUN_VERSION = 1  # raise when what a re-run runs or how its output is judged changes
TAIL_LINES = 15  # the lines of the output a failed re-run quotes


def rerun_policy(test_timeout: int) -> str:
    """The fingerprint of how the reviewer re-runs tests (part of the key of a proven tree)."""
    text = json.dumps({"version": RERUN_VERSION, "tool": "run_tests", "timeout": test_timeout, "tail": TAIL_LINES})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ProvenTree:
    """The re-run of the tests of ``tree`` under ``policy``: ``passed`` and the ``sentence`` that said so, for
    ``repository#number`` at ``head``, ``at`` (the store's UTC text)."""

    tree: str
    policy: str
    passed: bool
    sentence: str
    repository: str
    number: int
    head: str
    at: str

    def reused(self, repository: str) -> str:
        """What a review of another head with this tree says instead of re-running."""
        where = f"#{self.number}" if repository == self.repository else f"{self.repository}#{self.number}"
        said = "proven" if self.passed else "failed its re-run"
        return f"tests not re-run: tree `{short(self.tree)}` {said} on {self.at[:10]} for PR {where}: {self.sentence}"


class ProvenTrees:
    """The proven trees in ``store`` (None: in memory, for this process only)."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self._memory: dict[tuple[str, str], ProvenTree] = {}
        self._claims: KeyedLocks[tuple[str, str]] = KeyedLocks()

    @asynccontextmanager
    async def claim(self, tree: str, policy: str) -> AsyncIterator[None]:
        """Look up, re-run and record ``tree`` alone in this process."""
        async with self._claims.hold((tree, policy)):
            yield

    async def find(self, tree: str, policy: str) -> ProvenTree | None:
        if self.store is None:
            return self._memory.get((tree, policy))
        rows = await asyncio.to_thread(
            self.store.query,
            "SELECT tree, policy, passed, sentence, repository, number, head, at FROM review_proven_trees "
            "WHERE tree = ? AND policy = ?",
            (tree, policy),
        )
        if not rows:
            return None
        row = rows[0]
        return ProvenTree(
            row["tree"], row["policy"], bool(row["passed"]), row["sentence"], row["repository"], row["number"],
            row["head"], row["at"],
        )  # fmt: skip

    async def remember(
        self, tree: str, policy: str, *, passed: bool, sentence: str, repository: str, number: int, head: str
    ) -> ProvenTree:
        """Record (or replace) the verdict of a re-run of ``tree``."""
        proven = ProvenTree(tree, policy, passed, sentence, repository, number, head, utc_now())
        if self.store is None:
            self._memory[(tree, policy)] = proven
            return proven

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO review_proven_trees "
                "(tree, policy, passed, sentence, repository, number, head, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (tree, policy, int(passed), sentence, repository, number, head, proven.at),
            )

        await self.store.asubmit(write)
        return proven
