"""The worker's clones from a per-repository bare mirror, end to end: a real devforge over loopback HTTP, real git.

What is observed: the git commands the clone makes (``run_git`` recorded where ``work.mirror`` and
``work.repo`` call it), the mirror's directory, and what the forge shows. Never timing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import test_worker
from test_worker import FIX, ORG, World, claims_of, proofs_of, reports_of

from uni_wizard.assembly.worker import WORKER_HINTS, mirrors_of
from uni_wizard.intake.hints import QueueHint
from uni_wizard.tools import git as git_tools
from uni_wizard.tools.git_safety import run_git
from uni_wizard.work import mirror as mirror_module
from uni_wizard.work import repo as repo_module
from uni_wizard.work.mirror import Mirrors
from uni_wizard.work.publish import PROOF_CONTEXT
from uni_wizard.work.repo import IssueWorktree

mesh = test_worker.mesh  # the devforge of this module
world = test_worker.world  # a repository of its own per test


class GitLog:
    """Every git command the clone's code runs: ``(args, url)`` in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[tuple[str, ...], str | None]] = []

        async def recorded(*args: str, **kwargs: Any) -> Any:
            self.calls.append((args, kwargs.get("url")))
            return await run_git(*args, **kwargs)

        for module in (mirror_module, repo_module):
            monkeypatch.setattr(module, "run_git", recorded)

    def commands(self) -> list[str]:
        return [args[0] for args, _ in self.calls]

    def forge_clones(self) -> int:
        return sum(1 for args, url in self.calls if args[0] == "clone" and url is not None)

    def local_clones(self) -> list[str]:
        return [args[-2] for args, url in self.calls if args[0] == "clone" and url is None]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def gitlog(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitLog]:
    yield GitLog(monkeypatch)


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


async def forge_head(world: World, branch: str = "main") -> str:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{world.mesh.url}api/v1/repos/{world.repo}/branches/{branch}",
            headers={"Authorization": f"token {world.mesh.token('timmy')}"},
        )
    answer.raise_for_status()
    return str(answer.json()["commit"]["id"])


async def prepare(world: World, number: int, mirrors: Mirrors | None, workspace: Path) -> IssueWorktree:
    return await IssueWorktree.prepare(
        world.client("bezalel"), world.repo, number, "bezalel", workspace=workspace,
        token=world.mesh.token("bezalel"), name="bezalel", email="b@x.invalid", mirrors=mirrors,
    )  # fmt: skip


def digest(root: Path) -> str:
    """Every file under ``root`` (paths, modes and contents), as one hash."""
    sha = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith(".lock"):
            sha.update(f"{path.relative_to(root)}:{path.stat().st_mode}".encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()


# -- fetch, not clone -----------------------------------------------------------------------------------------


async def test_the_second_issue_of_a_repository_fetches_instead_of_cloning(
    world: World, gitlog: GitLog, tmp_path: Path
) -> None:
    worker = world.worker("bezalel")
    assert worker.mirrors is not None
    mirror = worker.mirrors.path(world.repo)
    data = world.runtime.settings.data_dir
    assert mirror == data / "cache" / "work" / "bezalel" / "mesh" / f"{world.name}.git"
    assert worker.mirrors.exposed() is None  # out of every house's write roots (the workspace)

    first = await world.route("bezalel", "Greet with hello", FIX)
    (report,) = await worker.poll_once()
    assert report.status == "review", report.reason
    assert mirror.is_dir() and git("rev-parse", "--is-bare-repository", cwd=mirror) == "true"
    assert gitlog.forge_clones() == 0  # even the first clone is made from the (new) mirror
    assert gitlog.commands().count("init") == 1 and "fetch" in gitlog.commands()

    # main moves on the forge: the next issue's mirror fetches it, and its clone is made locally from it
    await world.timmy.create_file(ORG, world.name, "docs/more.md", b"more\n", "more docs")
    main = await forge_head(world)
    gitlog.clear()
    second = await world.route("bezalel", "Greet with hello again", FIX.replace("Greet politely", "Greet again"))
    (report,) = await worker.poll_once()
    assert report.status == "review", report.reason
    commands = gitlog.commands()
    assert "init" not in commands and gitlog.forge_clones() == 0
    assert "fetch" in commands and "ls-remote" in commands
    assert gitlog.local_clones() == [mirror.resolve().as_uri()]
    # the PR's branch starts from the forge's main of the moment, and the clone pushed to the forge
    pulls = {p.head_ref: p for p in await world.pulls()}
    assert set(pulls) == {f"bezalel/issue-{first.number}", f"bezalel/issue-{second.number}"}
    check = world.clone(tmp_path / "check")
    assert git("merge-base", "origin/main", f"origin/bezalel/issue-{second.number}", cwd=check) == main


async def test_an_unchanged_repository_is_not_even_fetched(world: World, gitlog: GitLog, tmp_path: Path) -> None:
    mirrors = Mirrors(tmp_path / "mirrors")
    first = await prepare(world, 1, mirrors, tmp_path / "ws")
    gitlog.clear()
    second = await prepare(world, 2, mirrors, tmp_path / "ws")
    assert "fetch" not in gitlog.commands() and gitlog.forge_clones() == 0  # the forge said: nothing moved
    main = await forge_head(world)
    for tree in (first, second):
        assert git("rev-parse", "origin/main", cwd=tree.path) == main == git("rev-parse", "HEAD", cwd=tree.path)
        assert git("remote", "get-url", "origin", cwd=tree.path) == f"{world.mesh.url}{world.repo}.git"


# -- a damaged mirror -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["missing", "objects", "config", "not a repository"])
async def test_a_missing_or_damaged_mirror_is_made_again_from_the_forge(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    mirrors = Mirrors(tmp_path / "mirrors")
    await prepare(world, 1, mirrors, tmp_path / "ws")
    mirror = mirrors.path(world.repo)
    if damage == "missing":
        subprocess.run(["rm", "-rf", str(mirror)], check=True)
    elif damage == "objects":  # every object gone: the refs still say where main is
        for path in (mirror / "objects").rglob("*"):
            if path.is_file() and path.parent.name not in ("info",):
                path.unlink()
    elif damage == "config":  # a key git must not run with: refused, so the mirror is made again
        with (mirror / "config").open("a") as config:
            config.write("[core]\n\tfsmonitor = touch /nonexistent/owned\n")
    else:
        (mirror / "HEAD").unlink()
    caplog.set_level(logging.INFO, logger="uni_wizard.work.mirror")

    tree = await prepare(world, 2, mirrors, tmp_path / "ws")

    assert git("rev-parse", "origin/main", cwd=tree.path) == await forge_head(world)
    assert git("rev-parse", "--is-bare-repository", cwd=mirror) == "true"
    said = caplog.text
    assert ("no mirror of" in said) if damage == "missing" else ("damaged" in said and "again" in said)


async def test_a_mirror_that_lies_about_main_never_gives_a_wrong_base(world: World, tmp_path: Path) -> None:
    """A mirror whose main points elsewhere (an old commit) is fetched back to the forge's main, and the clone's
    base is the forge's."""
    mirrors = Mirrors(tmp_path / "mirrors")
    await prepare(world, 1, mirrors, tmp_path / "ws")
    mirror = mirrors.path(world.repo)
    old = git("rev-list", "--max-parents=0", "refs/heads/main", cwd=mirror)  # the first commit
    git("update-ref", "refs/heads/main", old, cwd=mirror)
    tree = await prepare(world, 2, mirrors, tmp_path / "ws")
    main = await forge_head(world)
    assert old != main and git("rev-parse", "origin/main", cwd=tree.path) == main
    assert git("rev-parse", "HEAD", cwd=tree.path) == main


async def test_a_mirror_a_house_could_write_in_is_never_used(world: World, gitlog: GitLog, tmp_path: Path) -> None:
    workspace = world.runtime.settings.workspace
    mirrors = Mirrors(workspace / "mirrors", write_roots=lambda: [str(workspace)])
    assert mirrors.exposed() == os.path.realpath(workspace)
    tree = await prepare(world, 1, mirrors, tmp_path / "ws")
    assert gitlog.forge_clones() == 1 and not (workspace / "mirrors").exists()
    assert git("rev-parse", "origin/main", cwd=tree.path) == await forge_head(world)
    # the daemon's: every house's write roots, as the policies in force say
    assert mirrors_of(world.runtime, "bezalel").exposed() is None


# -- what a house writes in its clone -------------------------------------------------------------------------


async def test_a_house_writing_into_its_clones_git_cannot_reach_the_mirror_or_another_clone(
    world: World, tmp_path: Path
) -> None:
    mirrors = Mirrors(tmp_path / "mirrors")
    first = await prepare(world, 1, mirrors, tmp_path / "ws")
    mirror = mirrors.path(world.repo)
    # the clone owns its objects: a pack of its own, no hardlink into the mirror, nothing borrowed
    dot_git = first.path / ".git"
    assert not (dot_git / "objects" / "info" / "alternates").exists()
    mirror_inodes = {p.stat().st_ino for p in mirror.rglob("*") if p.is_file()}
    for path in dot_git.rglob("*"):
        if path.is_file():
            assert path.stat().st_nlink == 1 and path.stat().st_ino not in mirror_inodes, path
    before = digest(mirror)

    # the house rewrites everything it can in its clone's .git
    canary = tmp_path / "owned"
    with (dot_git / "config").open("a") as config:
        config.write(f'[core]\n\tfsmonitor = touch {canary}\n[url "{mirror}"]\n\tinsteadOf = {world.mesh.url}\n')
    (dot_git / "hooks").mkdir(exist_ok=True)
    (dot_git / "hooks" / "post-checkout").write_text(f"#!/bin/sh\ntouch {canary}\n")
    (dot_git / "hooks" / "post-checkout").chmod(0o755)
    for path in (dot_git / "objects").rglob("*"):
        if path.is_file():
            path.chmod(0o644)
            path.write_bytes(b"garbage")
    (dot_git / "objects" / "info").mkdir(parents=True, exist_ok=True)
    (dot_git / "objects" / "info" / "alternates").write_text(f"{mirror}/objects\n")

    second = await prepare(world, 2, mirrors, tmp_path / "ws")
    assert digest(mirror) == before  # no git call on the mirror read or wrote anything of the clone
    assert not canary.exists()
    assert git("fsck", "--no-dangling", cwd=second.path) == ""
    assert git("rev-parse", "origin/main", cwd=second.path) == await forge_head(world)
    assert "fsmonitor" not in (second.path / ".git" / "config").read_text()


# -- concurrency ----------------------------------------------------------------------------------------------


async def test_issues_of_one_repository_prepared_at_once_share_one_mirror_without_colliding(
    world: World, gitlog: GitLog, tmp_path: Path
) -> None:
    mirrors = Mirrors(tmp_path / "mirrors")
    trees = await asyncio.gather(*(prepare(world, n, mirrors, tmp_path / "ws") for n in range(1, 5)))
    assert gitlog.commands().count("init") == 1 and gitlog.forge_clones() == 0  # one mirror, made once
    assert len({tree.path for tree in trees}) == 4
    main = await forge_head(world)
    for n, tree in enumerate(trees, 1):
        assert git("branch", "--show-current", cwd=tree.path) == f"bezalel/issue-{n}"
        assert git("rev-parse", "HEAD", cwd=tree.path) == main


async def test_two_issues_worked_concurrently_each_get_one_pull_request(world: World) -> None:
    numbers = [
        (await world.route("bezalel", f"Greet {i}", FIX.replace("Greet politely", f"Greet {i}"))).number
        for i in range(2)
    ]
    worker = world.worker("bezalel")
    assert worker.max_concurrency == 2
    reports = await worker.poll_once()
    assert sorted((r.number, r.status) for r in reports) == [(n, "review") for n in numbers], reports
    pulls = await world.pulls()
    assert sorted(p.head_ref for p in pulls) == [f"bezalel/issue-{n}" for n in numbers]
    for pull in pulls:
        statuses = await world.timmy.list_statuses(ORG, world.name, pull.head_sha)
        assert [s.status for s in statuses if s.context == PROOF_CONTEXT] == ["success"]
        assert "status/review" in {label.name for label in pull.labels}


# -- a worker killed right after its push ---------------------------------------------------------------------


async def test_a_worker_killed_right_after_its_push_leaves_nothing_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push landed, then the worker died (before the proof and the PR): the next worker takes the pushed branch
    (resumed), so it lists what is there before writing, and everything exists once."""
    issue = await world.route("bezalel", "Greet with hello", FIX)
    n = issue.number
    task: asyncio.Task[Any] | None = None

    async def push_then_die(*args: str, **kwargs: Any) -> Any:
        done = await run_git(*args, **kwargs)
        if args[0] == "push" and task is not None:
            task.cancel()
            raise asyncio.CancelledError
        return done

    monkeypatch.setattr(git_tools, "run_git", push_then_die)
    task = asyncio.create_task(world.worker("bezalel").poll_once())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await world.pulls() == [] and await forge_head(world, f"bezalel/issue-{n}")
    monkeypatch.setattr(git_tools, "run_git", run_git)

    # requeued as the dispatcher's sweep would, then worked again
    await world.timmy.replace_labels(ORG, world.name, n, ["status/routed", "house/bezalel", "kind/task", "priority/P2"])
    (report,) = await world.worker("bezalel").poll_once()
    assert report.status == "review", report.reason
    (pull,) = await world.pulls()
    statuses = await world.timmy.list_statuses(ORG, world.name, pull.head_sha)
    assert [(s.status, s.description) for s in statuses if s.context == PROOF_CONTEXT] == [
        ("success", "1 passed, 0 failed")
    ]
    comments = await world.comments(n)
    assert len(claims_of(comments)) == 1 and len(proofs_of(comments)) == 1
    assert len(reports_of(comments, "bezalel", n)) == 1


# -- the webhooks that wake a worker ---------------------------------------------------------------------------


async def test_only_the_webhooks_that_can_hand_it_an_issue_wake_the_worker(world: World) -> None:
    worker = world.worker("bezalel")
    hint = QueueHint(world.runtime.store, worker.repos, worker.hint, event_types=WORKER_HINTS)
    assert hint.check() is False

    def queue(event_type: str) -> bool:
        worker._wake.clear()
        with world.runtime.store.transaction() as db:
            db.execute(
                "INSERT INTO event_queue (delivery, event_type, kind, repository, number, payload_json, received_at)"
                " VALUES (?, ?, 'issue', ?, 1, '{}', '2026-01-01T00:00:00Z')",
                (uuid.uuid4().hex, event_type, world.repo),
            )
        return hint.check() and worker._wake.is_set()

    for event_type in ("pull_request", "pull_request_sync", "status", "push", "issue_comment"):
        assert queue(event_type) is False, event_type  # the reviewer's, the reconciler's: not the worker's
    for event_type in ("issue_assign", "issue_label", "issues"):
        assert queue(event_type) is True, event_type
