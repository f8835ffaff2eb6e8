"""The reviewer reviews several pull requests at once: within its limit, each in its own worktree, the shared bare
cache intact, a tree re-run once, one review's failure its own, and a review killed mid re-run leaving nothing
wedged.

A real devforge over loopback, real git, the sandbox: the world of test_review.py (its fixtures). What runs at
once is observed through seams (a wrapped checkout, a wrapped Harness), never by timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from test_review import CALC, ORG, World, approvals, mesh, world  # noqa: F401 - fixtures of test_review's world

from uni_wizard.errors import ToolExecutionError
from uni_wizard.forge.models import PullRequest
from uni_wizard.review import Reviewer, Worktrees
from uni_wizard.review.render import VERDICT, marker

LIVENESS = 120.0  # a guard against a hang, not a measurement: the seams below wait for each other


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> World:
    """test_review's world (a fresh repository on the module's devforge)."""
    found: World = request.getfixturevalue("world")
    return found


def reruns(lab: World) -> int:
    """The sandboxed re-runs of the tests this host made (one ``run_tests`` record each)."""
    return sum(1 for r in lab.runtime.provenance.tail(500) if r.tool == "run_tests")


def cache_of(lab: World) -> Path:
    return lab.runtime.settings.data_dir / "cache" / "review" / ORG / f"{lab.name}.git"


def git_in(cache: Path, *args: str) -> str:
    done = subprocess.run(["git", f"--git-dir={cache}", *args], capture_output=True, text=True, check=True)
    return done.stdout


def module(i: int) -> dict[str, str]:
    return {f"mod_{i}.py": f"def value():\n    return {i}\n"}


class Gate:
    """A seam around ``Worktrees.checkout``: counts the checkouts alive; each waits until ``width`` are (or the
    last ones are all that is left), so the reviews provably overlap."""

    def __init__(self, trees: Worktrees, width: int, total: int) -> None:
        self.trees, self.width, self.total = trees, width, total
        self.alive = self.peak = self.entered = 0
        self.full = asyncio.Event()
        self.inner = trees.checkout

    @contextlib.asynccontextmanager
    async def checkout(self, *args: Any) -> AsyncIterator[Any]:
        async with self.inner(*args) as co:
            self.alive += 1
            self.entered += 1
            self.peak = max(self.peak, self.alive)
            if self.alive >= self.width or self.entered >= self.total:
                self.full.set()
            try:
                await asyncio.wait_for(self.full.wait(), LIVENESS)
                yield co
            finally:
                self.alive -= 1


async def open_prs(lab: World, count: int) -> list[PullRequest]:
    return [(await lab.open_pr(module(i)))[1] for i in range(count)]


async def test_several_prs_are_reviewed_at_once_within_the_limit_each_in_its_own_worktree(lab: World) -> None:
    prs = await open_prs(lab, 4)
    reviewer = lab.reviewer(concurrency=2)
    gate = Gate(reviewer.worktrees, width=2, total=4)
    reviewer.worktrees.checkout = gate.checkout  # type: ignore[method-assign]

    listed = [pr.number for pr, _ in await reviewer.waiting(lab.repo)]  # the forge's order: the reports keep it

    reports = await reviewer.review_once()

    assert sorted(listed) == sorted(pr.number for pr in prs)
    assert [(r.number, r.verdict) for r in reports] == [(n, "approved") for n in listed], reports
    assert gate.peak == 2 and reviewer.pool.peak == 2  # overlapped, and never more than the limit
    assert reruns(lab) == 4
    for pr in prs:
        (approval,) = approvals(await lab.reviews(pr.number), "timmy")
        assert approval.commit_id == pr.head_sha and f"mod_{prs.index(pr)}.py" not in approval.body
    cache = cache_of(lab)
    git_in(cache, "fsck", "--no-progress", "--no-dangling")  # the shared cache is whole
    for pr in prs:
        assert git_in(cache, "rev-parse", f"refs/review/pull/{pr.number}").strip() == pr.head_sha
    assert git_in(cache, "worktree", "list", "--porcelain").count("worktree ") == 1  # the bare one only
    assert not list((lab.runtime.settings.workspace / "review" / "worktrees").rglob("mod_*.py"))


async def test_fetches_into_one_cache_from_two_reviewers_at_once_do_not_collide(lab: World) -> None:
    """Two ``Worktrees`` on one cache (two processes, say: the daemon's reviewer and ``review once``) and four
    fetches each, all at once: without the cache's lock, git's ref locks fail the second fetch of a ref."""
    prs = await open_prs(lab, 4)
    settings = lab.runtime.settings
    cache_root = settings.data_dir / "cache" / "review"
    made = [
        Worktrees(
            settings.workspace / "review", cache=cache_root, token=lab.mesh.token("timmy"), forge_url=lab.mesh.url
        )
        for _ in range(2)
    ]
    url = f"{lab.mesh.url}{lab.repo}.git"

    caches = await asyncio.gather(
        *(trees.fetch(url, ORG, lab.name, pr.number, pr.head_sha, "main") for trees in made for pr in prs)
    )

    assert set(caches) == {cache_of(lab)}
    git_in(cache_of(lab), "fsck", "--no-progress", "--no-dangling")
    main = git_in(cache_of(lab), "rev-parse", "refs/review/base").strip()
    assert all(git_in(cache_of(lab), "merge-base", main, pr.head_sha).strip() == main for pr in prs)

    async def twice(pr: PullRequest) -> None:  # one PR at one head, checked out twice at once: they take turns
        async with made[0].checkout(url, ORG, lab.name, pr.number, pr.head_sha, "main") as co:
            assert (co.path / f"mod_{prs.index(pr)}.py").is_file()

    await asyncio.gather(twice(prs[0]), twice(prs[0]), twice(prs[1]))
    assert git_in(cache_of(lab), "worktree", "list", "--porcelain").count("worktree ") == 1


async def test_a_tree_proven_by_a_rerun_is_not_rerun_for_another_head_unless_the_policy_says_so(lab: World) -> None:
    change = {"calc.py": CALC + "\n\ndef mul(a, b):\n    return a * b\n"}
    _, first = await lab.open_pr(change)
    (report,) = await lab.reviewer().review_once()
    assert report.verdict == "approved" and reruns(lab) == 1

    _, second = await lab.open_pr(change)  # another commit (another issue, another message), the same tree
    assert second.head_sha != first.head_sha
    reports = await lab.reviewer().review_once()  # a new reviewer: what was proven is in the host's store

    (again,) = [r for r in reports if r.number == second.number]
    assert again.verdict == "approved" and reruns(lab) == 1, again
    reused = next(n for n in again.notes if n.startswith("tests not re-run: tree `"))
    assert "proven on 20" in reused and f"for PR #{first.number}" in reused and "1 passed" in reused
    (approval,) = approvals(await lab.reviews(second.number), "timmy")
    assert f"for PR #{first.number}" in approval.body

    _, third = await lab.open_pr(change)
    reports = await lab.reviewer(reuse_proven_trees=False).review_once()
    (always,) = [r for r in reports if r.number == third.number]
    assert always.verdict == "approved" and reruns(lab) == 2
    assert any("tests re-run in a clean worktree" in n for n in always.notes), always.notes


async def test_a_failing_review_does_not_affect_the_others(lab: World, monkeypatch: pytest.MonkeyPatch) -> None:
    prs = await open_prs(lab, 3)
    reviewer = lab.reviewer(concurrency=3)
    broken = prs[1].head_sha
    tree = reviewer.worktrees.tree

    async def failing(co: Any) -> str:
        if co.head == broken:
            raise ToolExecutionError("the cache went away")
        return await tree(co)

    monkeypatch.setattr(reviewer.worktrees, "tree", failing)

    listed = [pr.number for pr, _ in await reviewer.waiting(lab.repo)]

    reports = await reviewer.review_once()

    verdicts = {p.number: "approved" for p in prs} | {prs[1].number: "error"}
    assert [(r.number, r.verdict) for r in reports] == [(n, verdicts[n]) for n in listed], reports
    assert "the cache went away" in next(r for r in reports if r.verdict == "error").reasons[-1]
    assert approvals(await lab.reviews(prs[1].number), "timmy") == []

    async def bug(co: Any) -> str:  # not a UniWizardError: raised again, but only once the others finished
        if co.head == prs[1].head_sha:
            raise RuntimeError("a bug")
        return await tree(co)

    monkeypatch.setattr(reviewer.worktrees, "tree", bug)
    more = await open_prs(lab, 1)
    with pytest.raises(RuntimeError, match="a bug"):
        await reviewer.review_once()
    (approval,) = approvals(await lab.reviews(more[0].number), "timmy")
    assert approval.commit_id == more[0].head_sha


class Blocking:
    """A seam around the reviewer's Harness factory: ``started`` is set as a re-run of the tests begins."""

    def __init__(self, reviewer: Reviewer) -> None:
        self.started = asyncio.Event()
        self.inner: Callable[[str], Any] = reviewer.harness
        reviewer.harness = self.harness  # type: ignore[method-assign]

    def harness(self, task: str) -> Any:
        made = self.inner(task)
        run = made.aexecute

        async def aexecute(tool: str, **args: Any) -> Any:
            if tool == "run_tests":
                self.started.set()
            return await run(tool, **args)

        made.aexecute = aexecute
        return made


async def test_a_review_killed_mid_rerun_leaves_nothing_wedged_and_no_second_verdict(lab: World) -> None:
    slow = "import time\n\ntime.sleep(5)\n" + (lab.work / "check.py").read_text()
    _, pr = await lab.open_pr({"check.py": slow, "calc.py": CALC + "# slow\n"})
    first = lab.reviewer()
    seam = Blocking(first)

    task = asyncio.create_task(first.review_once())
    await asyncio.wait_for(seam.started.wait(), LIVENESS)
    task.cancel()  # as a kill would stop it: in the middle of the sandboxed re-run
    with contextlib.suppress(asyncio.CancelledError):
        await task
    cache = cache_of(lab)
    # what a kill -9 leaves that a cancellation cleans up: git's ref locks (a fetch killed before it wrote the ref)
    # and the worktree's directory
    git_in(cache, "update-ref", "-d", "refs/review/base")
    (cache / "refs" / "review" / "base.lock").write_text("stale\n")
    (cache / "refs" / "review" / "pull" / f"{pr.number}.lock").write_text("stale\n")
    left = (
        lab.runtime.settings.workspace / "review" / "worktrees" / ORG / lab.name / f"pr-{pr.number}-{pr.head_sha[:12]}"
    )
    left.mkdir(parents=True, exist_ok=True)
    (left / "half-copied.py").write_text("x = 1\n")
    assert approvals(await lab.reviews(pr.number), "timmy") == []

    (report,) = await lab.reviewer().review_once()  # the next pass (a new process would build a new reviewer)

    assert (report.number, report.verdict) == (pr.number, "approved"), report
    (approval,) = approvals(await lab.reviews(pr.number), "timmy")
    assert approval.body.startswith(marker(VERDICT, pr.number, pr.head_sha))
    assert [r.verdict for r in await lab.reviewer().review_once()] == ["reviewed_already"]
    verdicts = [c for c in await lab.comments_by(pr.number, "timmy") if marker(VERDICT, pr.number, pr.head_sha) in c]
    assert verdicts == [] and len(approvals(await lab.reviews(pr.number), "timmy")) == 1
    assert not left.exists() and not list(cache.rglob("*.lock"))
    git_in(cache, "fsck", "--no-progress", "--no-dangling")


KILLED_REVIEWER = """
import asyncio, sys
from pathlib import Path

from uni_wizard.assembly.reviewer import reviewer_on
from uni_wizard.forge import GiteaClient
from uni_wizard.review import ReviewConfig
from uni_wizard.testing import make_runtime

data, workspace, url, token, repo = sys.argv[1:6]


async def main() -> None:
    runtime = make_runtime(Path(data).parent, data_dir=Path(data), workspace=Path(workspace), gitea_url=url,
                           gitea_token=token)
    async with GiteaClient(url, token) as forge:
        await reviewer_on(runtime, forge, config=ReviewConfig(auto_approve=True), repos=[repo]).review_once()


asyncio.run(main())
"""


async def test_a_reviewer_process_killed_9_mid_rerun_leaves_nothing_duplicated_or_wedged(lab: World) -> None:
    """A real reviewer process (same store, workspace and caches as the host's), ``kill -9``ed while the sandboxed
    re-run of a PR's tests is running: no verdict was written; the next pass reviews it once, approves it once,
    leaves no worktree or lock behind, and the merge that follows happens once."""
    # the check waits until a moment ~15 s from now: the killed run is in it, the next pass waits what is left
    until = f"import time\n\ntime.sleep(max(0.0, {time.time() + 15.0!r} - time.time()))\n"
    _, pr = await lab.open_pr({"check.py": until + (lab.work / "check.py").read_text(), "calc.py": CALC + "# slow\n"})
    settings = lab.runtime.settings
    argv = [str(settings.data_dir), str(settings.workspace), lab.mesh.url, lab.mesh.token("timmy"), lab.repo]
    worktree = settings.workspace / "review" / "worktrees" / ORG / lab.name / f"pr-{pr.number}-{pr.head_sha[:12]}"
    process = subprocess.Popen([sys.executable, "-c", KILLED_REVIEWER, *argv], start_new_session=True)
    try:
        deadline = time.monotonic() + LIVENESS
        while not (worktree / "check.py").is_file() or not _running_in(worktree):
            assert process.poll() is None, "the reviewer process ended before its re-run started"
            assert time.monotonic() < deadline, "the re-run never started"
            await asyncio.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert approvals(await lab.reviews(pr.number), "timmy") == []
    for _ in range(100):  # the sandbox dies with its parent (bwrap --die-with-parent): no orphaned test run
        if not _running_in(worktree):
            break
        await asyncio.sleep(0.05)
    assert not _running_in(worktree), "the killed reviewer's test run is still running"

    reviewer = lab.reviewer(test_timeout=120)
    (report,) = await reviewer.review_once()

    assert (report.number, report.verdict) == (pr.number, "approved"), report
    assert len(approvals(await lab.reviews(pr.number), "timmy")) == 1
    assert [r.verdict for r in await lab.reviewer().review_once()] == ["reviewed_already"]
    assert [(m.number, m.outcome) for m in await lab.reviewer().merge_once()] == [(pr.number, "merged")]
    assert await lab.reviewer().merge_once() == []  # nothing left: merged once
    cache = cache_of(lab)
    assert not worktree.exists() and not list(cache.rglob("*.lock"))
    git_in(cache, "fsck", "--no-progress", "--no-dangling")


def _running_in(worktree: Path) -> bool:
    """Whether a process (the re-run's sandbox, bound to the worktree) names ``worktree`` on its command line."""
    found = subprocess.run(["pgrep", "-f", str(worktree)], capture_output=True, check=False)
    return found.returncode == 0
