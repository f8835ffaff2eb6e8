"""The reviewer's pool, its locks by key and across processes, and the proven trees in the host's store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from uni_wizard.errors import ConfigError, ToolExecutionError
from uni_wizard.review import ReviewConfig
from uni_wizard.review.concurrency import KeyedLocks, ReviewPool, default_concurrency
from uni_wizard.review.proven import ProvenTrees, rerun_policy
from uni_wizard.store import Store
from uni_wizard.tools.filelock import file_lock


async def test_the_pool_keeps_the_order_and_the_limit_and_one_failure_cancels_nothing() -> None:
    pool = ReviewPool(2)
    release = asyncio.Event()
    finished: list[int] = []

    def job(i: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            if pool.in_flight == 2:
                release.set()
            await release.wait()
            if i == 1:
                raise ValueError("one review's bug")
            finished.append(i)
            return i * 10

        return run

    with pytest.raises(ValueError, match="one review's bug"):
        await pool.run([job(i) for i in range(5)])
    assert sorted(finished) == [0, 2, 3, 4] and pool.peak == 2 and pool.in_flight == 0

    assert await ReviewPool(3).run([job(i) for i in (0, 2, 4)]) == [0, 20, 40]
    assert await pool.run([]) == []
    with pytest.raises(ValueError):
        ReviewPool(0)
    assert default_concurrency() == max(1, os.cpu_count() or 1)


async def test_keyed_locks_serialize_one_key_and_forget_it_afterwards() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside: list[str] = []

    async def hold(key: str, tag: str) -> None:
        async with locks.hold(key):
            inside.append(f"{tag}+")
            await asyncio.sleep(0)
            inside.append(f"{tag}-")

    await asyncio.gather(hold("a", "1"), hold("a", "2"), hold("b", "3"))
    assert inside.index("1-") < inside.index("2+")  # the same key: one after the other
    assert inside.index("3+") < inside.index("1-")  # another key: side by side
    assert len(locks) == 0


async def test_a_file_lock_held_elsewhere_times_out_and_is_free_once_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cache.git.lock"
    async with file_lock(path, timeout=1):
        with pytest.raises(ToolExecutionError, match="stayed locked by another process"):
            async with file_lock(path, timeout=0.05):  # another open file description: as another process
                pass
    async with file_lock(path, timeout=0.05):
        pass


async def test_proven_trees_survive_in_the_store_by_tree_and_policy(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        policy = rerun_policy(600)
        said = "tests re-run in a clean worktree of `abc`: 3 passed, 0 failed, 0 errors; they agree with the proof"
        await ProvenTrees(store).remember(
            "t" * 40, policy, passed=True, sentence=said, repository="mesh/work", number=7, head="h" * 40
        )
        found = await ProvenTrees(store).find("t" * 40, policy)  # another reviewer, same host
        assert found is not None and found.passed and found.number == 7
        text = found.reused("mesh/work")
        assert text.startswith("tests not re-run: tree `tttttttttttt` proven on 20") and "for PR #7: " in text
        assert "for PR mesh/work#7" in found.reused("mesh/other")
        assert await ProvenTrees(store).find("t" * 40, rerun_policy(300)) is None  # another policy runs again
        assert await ProvenTrees(store).find("u" * 40, policy) is None
    finally:
        store.close()
    memory = ProvenTrees()
    await memory.remember("t", "p", passed=False, sentence="fails", repository="a/b", number=1, head="h")
    found = await memory.find("t", "p")
    assert found is not None and "failed its re-run" in found.reused("a/b")


def test_the_review_file_takes_a_concurrency_and_the_reuse_of_proven_trees() -> None:
    config = ReviewConfig.model_validate({"concurrency": 3, "reuse_proven_trees": False})
    assert (config.concurrency, config.reuse_proven_trees) == (3, False)
    default = ReviewConfig()
    assert (default.concurrency, default.reuse_proven_trees) == (None, True)
    with pytest.raises((ConfigError, ValueError)):
        ReviewConfig.model_validate({"concurrency": 0})
