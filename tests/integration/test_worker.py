"""The house worker end to end: a real devforge over loopback HTTP, real git clones and pushes, real
SQLite (provenance), real test runs.

One devforge per module, bootstrapped from ``configs/forge-layout.example.yaml`` (timmy, ezra, bezalel
and allegro with their tokens, org ``mesh``). Every test gets a repository of its own holding a tiny
Python project (``app.py``, a unittest of it, ``.uni-wizard.yaml`` naming the test command, ``docs/notes.md``),
the dispatcher's labels, and a private runtime; issues are filed by timmy and routed (labels and
assignee) as the dispatcher would. Everything is asserted on what the forge shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bootstrapped_forge import Mesh, mesh_fixture
from worlds import HOST, ORG, Clients, clients, create_repo, fresh_name, plain_runtime, triage_for

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.assembly.worker import build_worker, worker_on
from uni_wizard.dispatch.config import TriageConfig, default_triage_path
from uni_wizard.dispatch.state import CLAIM_MARKER, latest_claim
from uni_wizard.errors import ConfigError, ToolExecutionError
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.models import Comment, Issue, PullRequest
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.hints import QueueHint
from uni_wizard.testing import FakeClock, ForgeLine, make_runtime
from uni_wizard.work.claims import ClaimKeeper, claim
from uni_wizard.work.publish import PROOF_CONTEXT
from uni_wizard.work.repo import IssueWorktree
from uni_wizard.work.report import report_marker
from uni_wizard.work.worker import Worker

TTL = 60.0

APP = "def greet():\n    return 'hi'\n"
FIXED_APP = "def greet():\n    return 'hello'\n"
TEST = (
    "import unittest\n\nfrom app import greet\n\n\n"
    "class GreetTest(unittest.TestCase):\n    def test_greet(self):\n        self.assertEqual(greet(), 'hello')\n"
)
CONFIG = f"test_command: [{sys.executable!r}, -m, unittest, discover, -s, tests, -t, .]\n"
NOTES = "# Notes\n\nThe mesh has four houses.\n"
FILES = {
    "app.py": APP,
    "tests/__init__.py": "",
    "tests/test_app.py": TEST,
    ".uni-wizard.yaml": CONFIG,
    ".gitignore": "__pycache__/\n",
    "docs/notes.md": NOTES,
}


def playbook(text: str) -> str:
    return f"Please do this.\n\n```uni-wizard\n{text.strip()}\n```\n"


FIX = playbook(
    """
title: Greet politely
steps:
  - name: fix the greeting
    tool: file_write
    args:
      path: "{worktree}/app.py"
      content: |
        def greet():
            return 'hello'
    expect:
      - status: ok
  - tool: run_tests
    args: {workspace: "{worktree}"}
    expect:
      - output.failed: 0
"""
)
BREAK = playbook(
    """
title: Greet rudely
steps:
  - tool: file_write
    args:
      path: "{worktree}/app.py"
      content: |
        def greet():
            return 'bye'
"""
)
BAD = playbook(
    """
steps:
  - tool: file_read
    args: {path: "{worktree}/docs/notes.md"}
  - tool: file_write
    args:
      path: "{worktree}/docs/notes.md"
      contnt: oops
"""
)
BLIND_WRITE = playbook(
    """
title: Rewrite the notes
steps:
  - tool: file_write
    args: {path: "{worktree}/docs/notes.md", content: "# Notes\\n\\nRewritten without reading.\\n"}
"""
)
READ_THEN_WRITE = playbook(
    """
title: Analyse the notes
steps:
  - name: read the notes
    tool: file_read
    args: {path: "{worktree}/docs/notes.md"}
    expect:
      - {path: output.content, op: contains, value: four houses}
  - name: write the analysis
    tool: file_write
    args: {path: "{worktree}/docs/notes.md", content: "# Notes\\n\\nThe mesh has four houses.\\n\\n## Analysis\\n\\nFour is enough.\\n"}
"""
)
READ_ONLY = playbook(
    """
steps:
  - tool: file_read
    args: {path: "{worktree}/docs/notes.md"}
"""
)


# -- one test's world ---------------------------------------------------------------------------------

mesh = mesh_fixture()


@dataclass
class World:
    mesh: Mesh
    repo: str
    runtime: Runtime
    config: TriageConfig
    timmy: GiteaClient
    client: Clients

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def worker(self, house: str, forge: GiteaClient | None = None, **kwargs: Any) -> Worker:
        return worker_on(
            self.runtime,
            forge or self.client(house),
            house=house,
            repos=[self.repo],
            claim_ttl=TTL,
            host=HOST,
            token=self.mesh.token(house),
            **kwargs,
        )

    async def route(self, house: str, title: str, body: str) -> Issue:
        """File an issue and route it to ``house`` the way the dispatcher does (labels, then the assignee)."""
        issue = await self.timmy.create_issue(ORG, self.name, title, body)
        labels = ["status/routed", f"house/{house}", "kind/task", "priority/P2"]
        await self.timmy.replace_labels(ORG, self.name, issue.number, labels)
        return await self.timmy.edit_issue(ORG, self.name, issue.number, assignees=[house])

    async def issue(self, number: int) -> Issue:
        return await self.timmy.get_issue(ORG, self.name, number)

    async def labels(self, number: int) -> set[str]:
        return set((await self.issue(number)).label_names)

    async def comments(self, number: int, by: str | None = None) -> list[Comment]:
        comments = await self.timmy.list_comments(ORG, self.name, number)
        return [c for c in comments if by is None or (c.user is not None and c.user.login == by)]

    async def pulls(self) -> list[PullRequest]:
        return await self.timmy.list_pulls(ORG, self.name, state="all")

    def clone(self, into: Path) -> Path:
        subprocess.run(
            ["git", "clone", "--quiet", f"{self.mesh.url}{self.repo}.git", str(into)],
            check=True,
            timeout=60,
            capture_output=True,
        )
        return into


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    name = fresh_name("w")
    config = triage_for(await create_repo(mesh, name))
    async with clients(mesh) as client:
        timmy = client("timmy")
        for path, content in FILES.items():
            await timmy.create_file(ORG, name, path, content.encode(), f"add {path}")
        with plain_runtime(tmp_path, mesh) as runtime:
            for spec in config.labels(tuple(runtime.houses)):
                await timmy.ensure_label(
                    ORG, name, spec.name, spec.color, description=spec.description, exclusive=spec.exclusive
                )
            yield World(mesh, f"{ORG}/{name}", runtime, config, timmy, client)


def reports_of(comments: list[Comment], house: str, number: int) -> list[Comment]:
    return [c for c in comments if report_marker(house, number) in c.body]


def claims_of(comments: list[Comment]) -> list[Comment]:
    return [c for c in comments if CLAIM_MARKER.search(c.body)]


def proofs_of(comments: list[Comment]) -> list[Comment]:
    return [c for c in comments if "<!-- uni-wizard:proof " in c.body]


# -- bezalel: a change with proof ---------------------------------------------------------------------


async def test_bezalel_fixes_an_issue_with_proof_and_asks_for_review(world: World, tmp_path: Path) -> None:
    issue = await world.route("bezalel", "Greet with hello", FIX)
    worker = world.worker("bezalel")

    (report,) = await worker.poll_once()

    n = issue.number
    assert (report.number, report.status) == (n, "review"), report.reason
    assert await world.labels(n) == {"status/review", "house/bezalel", "kind/task", "priority/P2"}
    (pull,) = await world.pulls()
    assert pull.head_ref == f"bezalel/issue-{n}" and pull.base_ref == "main" and pull.state == "open"
    assert pull.title == "Greet politely"
    assert pull.body.startswith(f"Closes #{n}")
    assert "status/review" in {label.name for label in pull.labels}
    assert report.head_sha == pull.head_sha and report.pr_url == pull.html_url

    # the proof: a success status on the head sha with the counts, and a proof comment
    statuses = await world.timmy.list_statuses(ORG, world.name, pull.head_sha)
    (proof,) = [s for s in statuses if s.context == PROOF_CONTEXT]
    assert (proof.status, proof.description) == ("success", "1 passed, 0 failed")
    (proof_comment,) = proofs_of(await world.comments(n, by="bezalel"))
    assert pull.head_sha in proof_comment.body and "passed" in proof_comment.body

    # every call is in the provenance log under the issue's task, and the report and PR name them
    outcomes = world.runtime.store.query("SELECT house, kind, outcome FROM house_outcomes WHERE number = ?", (n,))
    assert [tuple(row) for row in outcomes] == [("bezalel", "task", "success")]  # what routing learns from
    (event,) = worker.events.tail(kinds=["house.outcome"])  # and what the other hosts import from telemetry
    assert (event.host, event.repository, event.number) == (worker.host, world.repo, n)
    assert event.key.startswith(f"outcome:{world.repo}#{n}:bezalel:")
    assert {k: v for k, v in event.data.items() if k != "duration"} == {
        "house": "bezalel", "kind": "task", "repository": world.repo, "number": n, "outcome": "success"
    }  # fmt: skip
    assert event.data["duration"] >= 0
    records = world.runtime.provenance.tail(100, task=f"{world.repo}#{n}")
    assert [r.tool for r in records] == ["file_write", "run_tests", "git_commit", "run_tests", "git_push"]
    assert {r.house for r in records} == {"bezalel"} and {r.status for r in records} == {"ok"}
    (comment,) = reports_of(await world.comments(n, by="bezalel"), "bezalel", n)
    for record in records:
        assert f"#{record.id}" in comment.body
        assert f"#{record.id}" in pull.body
    assert "**review**" in comment.body and pull.html_url in comment.body
    (claim,) = claims_of(await world.comments(n, by="bezalel"))
    assert "house=bezalel" in claim.body

    # the commit on the branch references the issue and is the house's
    clone = world.clone(tmp_path / "check")
    log = subprocess.run(
        ["git", "-C", str(clone), "log", "-1", "--format=%s|%an", f"origin/bezalel/issue-{n}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    assert log == f"Greet politely (#{n})|bezalel"
    assert (clone / "app.py").read_text() == APP  # main is untouched: the change waits in the PR


async def test_a_failing_suite_posts_a_failed_proof_and_never_asks_for_review(world: World) -> None:
    issue = await world.route("bezalel", "Greet differently", BREAK)
    (report,) = await world.worker("bezalel").poll_once()

    n = issue.number
    assert report.status == "blocked" and "proof failed" in report.reason
    assert await world.labels(n) == {"status/blocked", "house/bezalel", "kind/task", "priority/P2"}
    assert await world.pulls() == []  # no review requested
    assert report.head_sha is not None
    statuses = await world.timmy.list_statuses(ORG, world.name, report.head_sha)
    (proof,) = [s for s in statuses if s.context == PROOF_CONTEXT]
    assert (proof.status, proof.description) == ("failure", "0 passed, 1 failed")
    assert len(proofs_of(await world.comments(n, by="bezalel"))) == 1
    (comment,) = reports_of(await world.comments(n, by="bezalel"), "bezalel", n)
    assert "**blocked**" in comment.body and "no review is requested" in comment.body


# -- plans that cannot run ----------------------------------------------------------------------------


async def test_a_bad_playbook_blocks_with_the_line(world: World) -> None:
    issue = await world.route("bezalel", "Edit the notes", BAD)
    (report,) = await world.worker("bezalel").poll_once()

    n = issue.number
    line = next(i for i, text in enumerate(BAD.splitlines(), 1) if "contnt" in text)
    assert report.status == "blocked"
    assert await world.labels(n) == {"status/blocked", "house/bezalel", "kind/task", "priority/P2"}
    (comment,) = reports_of(await world.comments(n, by="bezalel"), "bezalel", n)
    assert "contnt" in comment.body and f"line {line}" in comment.body, comment.body
    assert await world.pulls() == []
    assert world.runtime.provenance.tail(10, task=f"{world.repo}#{n}") == []  # nothing ran

    # working it again (requeued, say) edits the same comment
    await world.timmy.replace_labels(ORG, world.name, n, ["status/routed", "house/bezalel"])
    await world.worker("bezalel").poll_once()
    assert len(reports_of(await world.comments(n), "bezalel", n)) == 1
    assert len(claims_of(await world.comments(n))) == 1


async def test_no_playbook_and_no_planner_asks_for_one(world: World) -> None:
    issue = await world.route("bezalel", "Make it faster", "It is slow. Please make it faster.")
    (report,) = await world.worker("bezalel").poll_once()

    assert report.status == "blocked"
    assert "status/blocked" in await world.labels(issue.number)
    (comment,) = reports_of(await world.comments(issue.number, by="bezalel"), "bezalel", issue.number)
    assert "needs a playbook or a configured model" in comment.body


# -- ezra: read before write --------------------------------------------------------------------------


async def test_ezra_may_not_write_a_file_it_has_not_read(world: World) -> None:
    issue = await world.route("ezra", "Rewrite the notes", BLIND_WRITE)
    (report,) = await world.worker("ezra").poll_once()

    n = issue.number
    assert report.status == "blocked" and "read_before_write" in report.reason
    (outcome,) = report.outcomes
    assert (str(outcome.result.status), outcome.result.rule) == ("denied", "read_before_write")
    assert await world.labels(n) == {"status/blocked", "house/ezra", "kind/task", "priority/P2"}
    (comment,) = reports_of(await world.comments(n, by="ezra"), "ezra", n)
    assert "denied" in comment.body and "read_before_write" in comment.body
    (record,) = world.runtime.provenance.tail(10, task=f"{world.repo}#{n}")
    assert (record.tool, record.status) == ("file_write", "denied")
    assert await world.pulls() == []


async def test_ezra_reads_then_writes_and_opens_a_pull_request(world: World) -> None:
    app = await world.timmy.get_contents(ORG, world.name, "app.py")  # main green first: ezra's proof runs its tests
    await world.timmy.update_file(ORG, world.name, "app.py", FIXED_APP.encode(), app.sha, "greet with hello")
    issue = await world.route("ezra", "Analyse the notes", READ_THEN_WRITE)
    (report,) = await world.worker("ezra").poll_once()

    n = issue.number
    assert report.status == "review", report.reason
    assert "status/review" in await world.labels(n)
    (pull,) = await world.pulls()
    assert pull.head_ref == f"ezra/issue-{n}" and pull.body.startswith(f"Closes #{n}")
    # ezra's PRs carry proof too (Timmy merges nothing without it): the tests ran on the head it pushed
    (proof,) = [
        s for s in await world.timmy.list_statuses(ORG, world.name, pull.head_sha) if s.context == PROOF_CONTEXT
    ]
    assert proof.status == "success"
    assert len(proofs_of(await world.comments(n, by="ezra"))) == 1
    tools = [r.tool for r in world.runtime.provenance.tail(10, task=f"{world.repo}#{n}")]
    assert tools == ["file_read", "file_write", "git_commit", "run_tests", "git_push"]


async def test_a_plan_that_changes_nothing_is_done(world: World) -> None:
    issue = await world.route("ezra", "Look at the notes", READ_ONLY)
    (report,) = await world.worker("ezra").poll_once()

    assert report.status == "done" and report.pr_url is None
    assert "status/done" in await world.labels(issue.number)
    (comment,) = reports_of(await world.comments(issue.number, by="ezra"), "ezra", issue.number)
    assert "four houses" in comment.body  # a short output, verbatim
    assert await world.pulls() == []


# -- a worker killed mid-task -------------------------------------------------------------------------


async def test_a_killed_worker_loses_its_claim_and_the_next_one_finishes_without_duplicates(world: World) -> None:
    issue = await world.route("bezalel", "Greet with hello", FIX)
    n = issue.number
    task: asyncio.Task[Any] | None = None

    def kill_after_the_pull_request(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/pulls") and task is not None:
            task.cancel()

    first = world.worker("bezalel", world.client("bezalel", ForgeLine(after_write=kill_after_the_pull_request)))
    task = asyncio.create_task(first.poll_once())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert first.active == frozenset()

    # killed: the PR is open, the issue in progress under a claim, no report yet
    assert "status/in-progress" in await world.labels(n)
    (pull,) = await world.pulls()
    assert reports_of(await world.comments(n), "bezalel", n) == []
    assert len(claims_of(await world.comments(n))) == 1

    # nobody renews the claim: the dispatcher's sweep (its clock an hour on) requeues the issue
    loop = build_dispatch_loop(
        world.runtime.settings,
        world.runtime,
        forge=world.client("allegro"),
        config=world.config,
        clock=lambda: time.time() + 3600,
    )
    await loop.run_once()
    assert "status/routed" in await world.labels(n)

    # a new worker finishes the task: one PR, one claim, one proof (comment and status), one report
    (report,) = await world.worker("bezalel").poll_once()
    assert report.status == "review", report.reason
    (again,) = await world.pulls()
    assert (again.number, again.head_sha) == (pull.number, pull.head_sha)
    assert "status/review" in await world.labels(n)
    comments = await world.comments(n)
    assert len(claims_of(comments)) == 1
    assert len(proofs_of(comments)) == 1
    assert len(reports_of(comments, "bezalel", n)) == 1
    statuses = await world.timmy.list_statuses(ORG, world.name, again.head_sha)
    assert [(s.status, s.description) for s in statuses if s.context == PROOF_CONTEXT] == [
        ("success", "1 passed, 0 failed")
    ]
    # and the PR's body names the provenance of the run that finished
    last = world.runtime.provenance.tail(1, task=f"{world.repo}#{n}")[0]
    assert f"#{last.id}" in (await world.timmy.get_pull(ORG, world.name, pull.number)).body


# -- concurrency ------------------------------------------------------------------------------------


async def test_max_concurrency_is_respected_oldest_first(world: World) -> None:
    numbers = [(await world.route("bezalel", f"Look {i}", READ_ONLY)).number for i in range(5)]
    other = await world.route("ezra", "Not bezalel's", READ_ONLY)
    worker = world.worker("bezalel", poll_seconds=0.05)
    assert worker.max_concurrency == 2

    reports = await worker.poll_once()
    assert sorted(r.number for r in reports) == numbers[:2]
    assert {r.status for r in reports} == {"done"}
    assert "status/routed" in await world.labels(numbers[2])

    running, peak = 0, 0
    do = worker._do

    async def counted(repo: str, issue: Issue) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(0.2)  # let the others start if they may
            return await do(repo, issue)
        finally:
            running -= 1

    worker._do = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + 60
    while not all(["status/done" in await world.labels(number) for number in numbers]):
        assert time.monotonic() < deadline, "the worker did not finish"
        await asyncio.sleep(0.1)
    stop.set()
    await runner
    assert peak == 2
    assert "status/routed" in await world.labels(other.number)  # ezra's issue is left alone


# -- the clone ------------------------------------------------------------------------------------------


async def test_the_clone_holds_no_token_anywhere(world: World, tmp_path: Path) -> None:
    """Anything that reads the clone (a file tool, a pull request's tests) must not find the house's token:
    it went to git through the environment of the clone's git process only."""
    token = world.mesh.token("bezalel")
    bezalel = world.client("bezalel")
    tree = await IssueWorktree.prepare(
        bezalel, world.repo, 7, "bezalel", workspace=tmp_path / "ws", token=token, name="bezalel", email="b@x.invalid"
    )
    assert tree.path == tmp_path / "ws" / "worktrees" / f"mesh-{world.name}-7"
    assert (tree.branch, tree.base, tree.resumed) == ("bezalel/issue-7", "main", False)
    url = subprocess.run(
        ["git", "-C", str(tree.path), "remote", "get-url", "origin"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert url == f"{world.mesh.url}{world.repo}.git"
    holding = [p for p in tree.path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert holding == []
    config = (tree.path / ".git" / "config").read_text()
    assert "extraheader" not in config.lower() and "authorization" not in config.lower()
    assert not await tree.changed()
    (tree.path / "new.txt").write_text("x\n")
    assert await tree.dirty() and await tree.changed()
    await tree.remove()
    assert not tree.path.exists()


async def test_a_symlink_planted_in_the_workspace_does_not_move_the_clone(world: World, tmp_path: Path) -> None:
    """Houses write in the workspace: a link at ``worktrees`` must not make the worker delete or clone elsewhere."""
    elsewhere = tmp_path / "elsewhere"
    victim = elsewhere / f"mesh-{world.name}-8"
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("not the worker's\n")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "worktrees").symlink_to(elsewhere)
    with pytest.raises(ToolExecutionError, match="a symlink on the way leads elsewhere"):
        await IssueWorktree.prepare(
            world.client("bezalel"), world.repo, 8, "bezalel", workspace=tmp_path / "ws",
            token=world.mesh.token("bezalel"), name="bezalel", email="b@x.invalid",
        )  # fmt: skip
    assert (victim / "keep.txt").read_text() == "not the worker's\n"


# -- claims, the webhook hint, the wiring -----------------------------------------------------------------


async def test_a_claim_is_renewed_while_the_work_runs_and_claiming_again_edits_it(world: World) -> None:
    issue = await world.route("bezalel", "Hold it", READ_ONLY)
    bezalel = world.client("bezalel")
    clock = FakeClock(time.time())

    comment = await claim(bezalel, world.repo, issue, "bezalel", TTL, login="bezalel", clock=clock)
    assert await world.labels(issue.number) == {"status/in-progress", "house/bezalel", "kind/task", "priority/P2"}
    first = latest_claim(await world.comments(issue.number), ["bezalel"])
    assert first is not None and first.comment_id == comment.id and first.house == "bezalel"
    assert first.expires.timestamp() == int(clock() + TTL)

    async with ClaimKeeper(bezalel, world.repo, comment.id, "bezalel", TTL, clock=clock, interval=0.05) as keeper:
        clock.advance(3600)
        deadline = time.monotonic() + 10
        while keeper.renewals == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    renewed = latest_claim(await world.comments(issue.number), ["bezalel"])
    assert renewed is not None and renewed.expires.timestamp() == int(clock() + TTL)

    again = await claim(bezalel, world.repo, await world.issue(issue.number), "bezalel", TTL, login="bezalel")
    assert again.id == comment.id and len(claims_of(await world.comments(issue.number))) == 1


async def test_a_queued_webhook_for_its_repository_wakes_the_worker(world: World) -> None:
    worker = world.worker("bezalel")
    hint = QueueHint(world.runtime.store, worker.repos, worker.hint)
    assert hint.check() is False  # the first look only notes where the queue stands

    def queue(repository: str) -> None:
        with world.runtime.store.transaction() as db:
            db.execute(
                "INSERT INTO event_queue (delivery, event_type, kind, repository, number, payload_json, received_at)"
                " VALUES (?, 'issues', 'issue', ?, 1, '{}', '2026-01-01T00:00:00Z')",
                (uuid.uuid4().hex, repository),
            )

    queue("mesh/elsewhere")
    assert hint.check() is False and not worker._wake.is_set()
    queue(world.repo)
    assert hint.check() is True and worker._wake.is_set()
    assert hint.check() is False


async def test_the_worker_is_built_from_settings(world: World, tmp_path: Path) -> None:
    data = yaml.safe_load(default_triage_path().read_text())
    data.setdefault("dispatcher", {}).update({"repos": [world.repo], "claim_ttl_minutes": 7, "poll_seconds": 2})
    triage = tmp_path / "triage.yaml"
    triage.write_text(yaml.safe_dump(data))
    token_file = tmp_path / "ezra.token"
    token_file.write_text(world.mesh.token("ezra") + "\n")
    base: dict[str, Any] = {"gitea_url": world.mesh.url, "gitea_token_file": token_file, "triage_config": triage}
    runtime = make_runtime(tmp_path / "w", roles=("worker",), house="ezra", **base)
    try:
        worker = build_worker(runtime.settings, runtime)
        assert (worker.house, worker.login, worker.repos) == ("ezra", "ezra", (world.repo,))
        assert (worker.claim_ttl, worker.poll_seconds, worker.max_concurrency) == (420.0, 2.0, 2)
        assert (await worker.forge.me()).login == "ezra"
        await worker.forge.aclose()
        for house, key in ((None, "house"), ("allegro", "house"), ("nobody", "house")):
            other = make_runtime(tmp_path / f"x-{house}", house=house, **base)
            with pytest.raises(ConfigError) as caught:
                build_worker(other.settings, other)
            assert caught.value.key == key
            other.close()
    finally:
        runtime.close()


KILLED_WORKER = """
import asyncio, sys
from pathlib import Path

from uni_wizard.assembly.worker import worker_on
from uni_wizard.forge import GiteaClient
from uni_wizard.testing import make_runtime

data, workspace, url, token, repo, ttl, host = sys.argv[1:8]


async def main() -> None:
    runtime = make_runtime(Path(data).parent, data_dir=Path(data), workspace=Path(workspace), gitea_url=url)
    async with GiteaClient(url, token) as forge:
        worker = worker_on(runtime, forge, house="bezalel", repos=[repo], claim_ttl=float(ttl), host=host, token=token)
        await worker.poll_once()


asyncio.run(main())
"""


async def test_a_worker_process_killed_9_mid_push_leaves_nothing_duplicated_or_wedged(world: World) -> None:
    """A real worker process (the host's store and workspace) ``kill -9``ed while its push is on the wire (the
    forge holds it): no PR, the issue in progress under its claim; once the claim lapses and the dispatcher
    requeues it, the next worker finishes it with one branch, one PR, one claim, one proof, one report."""
    issue = await world.route("bezalel", "Greet with hello", FIX)
    n = issue.number
    faults = world.mesh.server.forge.faults
    settings = world.runtime.settings
    argv = [str(settings.data_dir), str(settings.workspace), world.mesh.url, world.mesh.token("bezalel"), world.repo]
    faults.push_arrived.clear()
    faults.pushes_held = True
    try:
        process = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, *argv, str(TTL), HOST], start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while not faults.push_arrived.is_set():
                assert process.poll() is None, "the worker ended before it pushed"
                assert time.monotonic() < deadline, "the worker never pushed"
                await asyncio.sleep(0.02)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    finally:
        faults.pushes_held = False
    assert process.returncode == -signal.SIGKILL

    # killed mid-push: claimed and in progress, no PR, no report
    assert "status/in-progress" in await world.labels(n)
    assert await world.pulls() == []
    comments = await world.comments(n)
    assert len(claims_of(comments)) == 1 and reports_of(comments, "bezalel", n) == []

    # nobody renews the claim: the dispatcher's sweep (its clock an hour on) requeues the issue
    loop = build_dispatch_loop(
        world.runtime.settings, world.runtime, forge=world.client("allegro"), config=world.config,
        clock=lambda: time.time() + 3600,
    )  # fmt: skip
    await loop.run_once()
    assert "status/routed" in await world.labels(n)

    (report,) = await world.worker("bezalel").poll_once()

    assert report.status == "review", report.reason
    (pull,) = await world.pulls()
    assert pull.head_ref == f"bezalel/issue-{n}"
    branches = [b.name for b in await world.timmy.list_branches(ORG, world.name)]
    assert [b for b in branches if b.startswith("bezalel/")] == [f"bezalel/issue-{n}"]
    comments = await world.comments(n)
    assert len(claims_of(comments)) == 1
    assert len(proofs_of(comments)) == 1
    assert len(reports_of(comments, "bezalel", n)) == 1
    statuses = await world.timmy.list_statuses(ORG, world.name, pull.head_sha)
    assert [s.status for s in statuses if s.context == PROOF_CONTEXT] == ["success"]
