"""``houses --now`` and the worker's metrics while a house works an issue: a real devforge over loopback, real
git, the real daemon app on loopback (its ``/ready`` gives the breakers, its ``/metrics`` the counters).

Bezalel's playbook writes a file, then fetches a URL of a loopback server that holds the answer until the test
lets it go: while it waits, the Now snapshot (and the CLI's ``houses --now --json``) must show bezalel on that
issue with the first step done; once the PR is open, the issue is in review and the counters have moved.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from bootstrapped_forge import Mesh, mesh_fixture
from loopback_http import LoopbackServer, Recorded, Reply, unused_port
from worlds import ORG, clients, create_repo, fresh_name, plain_runtime, triage_for

from uni_wizard.assembly.mesh import looked_at
from uni_wizard.assembly.now import breakers_from_daemon, take_now
from uni_wizard.assembly.worker import worker_on
from uni_wizard.cli import main
from uni_wizard.forge import GiteaClient
from uni_wizard.harness.runtime import Runtime
from uni_wizard.observe.events import EventLog
from uni_wizard.observe.now import NowSnapshot
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app

mesh = mesh_fixture()
HOUSE = "bezalel"
FILES = {
    "app.py": "def greet():\n    return 'hi'\n",
    "tests/__init__.py": "",
    "tests/test_app.py": (
        "import unittest\n\nfrom app import greet\n\n\nclass T(unittest.TestCase):\n"
        "    def test_greet(self):\n        self.assertEqual(greet(), 'hello')\n"
    ),
    ".uni-wizard.yaml": "test_command: [python3, -m, unittest, discover, -s, tests, -t, .]\n",
}


def playbook(hold_url: str) -> str:
    return (
        "Greet politely.\n\n```uni-wizard\ntitle: Greet politely\nsteps:\n"
        '  - tool: file_write\n    args:\n      path: "{worktree}/app.py"\n'
        "      content: |\n        def greet():\n            return 'hello'\n"
        "    expect:\n      - status: ok\n"
        f"  - tool: http_get\n    args: {{url: {hold_url!r}}}\n    expect:\n      - status: ok\n```\n"
    )


@dataclass
class World:
    mesh: Mesh
    repo: str
    runtime: Runtime
    timmy: GiteaClient
    bezalel: GiteaClient
    daemon: str
    config: Path


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    repo = await create_repo(mesh, fresh_name("now"))
    port = unused_port()
    (tmp_path / "bezalel.token").write_text(mesh.token(HOUSE) + "\n")
    settings = {
        "host": "test-host",
        "house": HOUSE,
        "data_dir": str(tmp_path / "data"),
        "workspace": str(tmp_path / "workspace"),
        "gitea_url": mesh.url,
        "gitea_token_file": str(tmp_path / "bezalel.token"),
        "worker_repos": [repo],
        "port": port,
    }
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    settings.pop("gitea_url")
    values = {k: v for k, v in settings.items() if k not in ("data_dir", "workspace", "gitea_token_file")}
    async with clients(mesh) as client:
        timmy = client("timmy")
        for path, content in FILES.items():
            await timmy.create_file(ORG, repo.split("/")[1], path, content.encode(), f"add {path}")
        with plain_runtime(tmp_path, mesh, gitea_token=mesh.token(HOUSE), **values) as runtime:
            for spec in triage_for(repo).labels(tuple(runtime.houses)):
                await timmy.ensure_label(
                    ORG, repo.split("/")[1], spec.name, spec.color, description=spec.description,
                    exclusive=spec.exclusive,
                )  # fmt: skip
            server = ThreadedServer(create_app(runtime), port=port, name="daemon").start()
            try:
                yield World(mesh, repo, runtime, timmy, client(HOUSE), server.url, tmp_path / "settings.yaml")
            finally:
                server.stop()


@pytest.fixture
def gate() -> Iterator[tuple[LoopbackServer, threading.Event]]:
    """A server whose ``/hold`` answers only once the event is set (at most 60 s)."""
    release = threading.Event()

    def hold(_req: Recorded) -> Reply:
        release.wait(60)
        return Reply(200, b"released", {"Content-Type": "text/plain"})

    with LoopbackServer() as server:
        server.route("GET", "/hold", hold)
        try:
            yield server, release
        finally:
            release.set()


async def look(world: World) -> NowSnapshot:
    settings = world.runtime.settings
    async with looked_at(settings, world.runtime) as node:
        breakers = await asyncio.to_thread(breakers_from_daemon, settings)
        return await take_now(settings, world.runtime, node=node, breakers=breakers)


def cli_now(world: World, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    code = main(["houses", "--now", "--json", "--config", str(world.config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


async def test_houses_now_shows_the_issue_in_hand_and_the_worker_counters_move(
    world: World, gate: tuple[LoopbackServer, threading.Event], capsys: pytest.CaptureFixture[str]
) -> None:
    server, release = gate
    metrics = f"{world.daemon}/metrics"
    name = world.repo.split("/")[1]
    issue = await world.timmy.create_issue(ORG, name, "Greet politely", playbook(f"{server.url}/hold"))
    labels = ["status/routed", f"house/{HOUSE}", "kind/task", "priority/P2"]
    await world.timmy.replace_labels(ORG, name, issue.number, labels)
    issue = await world.timmy.edit_issue(ORG, name, issue.number, assignees=[HOUSE])
    worker = worker_on(world.runtime, world.bezalel, house=HOUSE, repos=[world.repo], claim_ttl=60, host="test-host")
    before = httpx.get(metrics).text
    assert f'uniwizard_work_claims_total{{house="{HOUSE}"}} 0.0' in before

    task = asyncio.create_task(worker.work(world.repo, issue))
    for _ in range(600):  # the first step ran and the second waits on the gate
        if server.requests or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.requests and not task.done(), "the worker never reached the held step"

    snapshot = await look(world)
    (house,) = snapshot.houses
    assert house.house == HOUSE and house.capacity == 2 and house.busy == 1 and house.free == 1
    (work,) = house.work
    assert work.ref == f"{world.repo}#{issue.number}" and work.elapsed_seconds >= 0
    assert work.steps == 1 and work.last_step is not None
    assert (work.last_step.tool, work.last_step.status) == ("file_write", "ok")
    assert house.queue is not None and (house.queue.routed, house.queue.in_progress) == (0, 1)
    assert snapshot.lease is not None and snapshot.lease.source == "this host's store"
    assert snapshot.breakers.known and snapshot.breakers.open == () and world.daemon in snapshot.breakers.source
    assert snapshot.problems == ()

    seen = await asyncio.to_thread(cli_now, world, capsys)  # the CLI, in its own runtime on the same host
    (row,) = seen["houses"]
    assert row["house"] == HOUSE and [w["issue"] for w in row["work"]] == [f"{world.repo}#{issue.number}"]
    assert row["work"][0]["last_step"]["tool"] == "file_write" and row["queue"]["in_progress"] == 1

    release.set()
    report = await asyncio.wait_for(task, 120)
    assert report.status == "review", report.reason

    after = await look(world)
    (house,) = after.houses
    assert house.work == () and house.busy == 0
    assert house.queue is not None and (house.queue.in_progress, house.queue.review) == (0, 1)
    text = httpx.get(metrics).text
    for series in (
        f'uniwizard_work_claims_total{{house="{HOUSE}"}} 1.0',
        f'uniwizard_work_plans_total{{house="{HOUSE}",outcome="completed",source="playbook"}} 1.0',
        f'uniwizard_work_pulls_opened_total{{house="{HOUSE}"}} 1.0',
        f'uniwizard_work_proofs_total{{house="{HOUSE}",outcome="passed"}} 1.0',
        f'uniwizard_work_blocked_total{{house="{HOUSE}"}} 0.0',
    ):
        assert series in text


BREAK = (
    "Greet rudely.\n\n```uni-wizard\ntitle: Greet rudely\nsteps:\n"
    '  - tool: file_write\n    args:\n      path: "{worktree}/app.py"\n'
    "      content: |\n        def greet():\n            return 'bye'\n```\n"
)


async def test_a_failed_proof_counts_as_failed_and_blocked_and_the_table_shows_the_blocked_issue(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = world.repo.split("/")[1]
    issue = await world.timmy.create_issue(ORG, name, "Greet rudely", BREAK)
    await world.timmy.replace_labels(ORG, name, issue.number, ["status/routed", f"house/{HOUSE}", "kind/task"])
    issue = await world.timmy.edit_issue(ORG, name, issue.number, assignees=[HOUSE])
    worker = worker_on(world.runtime, world.bezalel, house=HOUSE, repos=[world.repo], claim_ttl=60, host="test-host")
    report = await worker.work(world.repo, issue)
    assert report.status == "blocked" and report.proof is not None and not report.proof.ok

    text = httpx.get(f"{world.daemon}/metrics").text
    for series in (
        f'uniwizard_work_proofs_total{{house="{HOUSE}",outcome="failed"}} 1.0',
        f'uniwizard_work_proofs_total{{house="{HOUSE}",outcome="passed"}} 0.0',
        f'uniwizard_work_blocked_total{{house="{HOUSE}"}} 1.0',
        f'uniwizard_work_plans_total{{house="{HOUSE}",outcome="completed",source="playbook"}} 1.0',
        f'uniwizard_work_pulls_opened_total{{house="{HOUSE}"}} 0.0',
    ):
        assert series in text

    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["houses", "--now", "--config", str(world.config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "now on test-host" in out and "lease: nobody holds it [this host's store]" in out
    assert f"breakers: none open (the daemon at {world.daemon})" in out
    row = next(line for line in out.splitlines() if f" {HOUSE} " in line)
    assert "idle" in row and "0/0/1/0" in row and "0/2 busy" in row


async def test_without_a_reachable_forge_the_snapshot_says_why_and_still_shows_the_claims(tmp_path: Path) -> None:
    away = f"http://127.0.0.1:{unused_port()}"  # nothing listens: the forge is away
    values = {"gitea_url": away, "gitea_token": "t", "worker_repos": ["mesh/w"], "port": unused_port()}
    with plain_runtime(tmp_path, house=HOUSE, **values) as runtime:  # and no daemon on its port
        EventLog(runtime.store, "test-host").emit_sync(  # the worker's claim, as it logs it
            "issue.claimed", "c-1", repository="mesh/w", number=4, data={"house": HOUSE, "ttl": 60}
        )
        snapshot = await take_now(runtime.settings, runtime, node=None, breakers=breakers_from_daemon(runtime.settings))
    (house,) = snapshot.houses
    assert house.busy is None and house.queue is None and house.free is None  # unknown, not zero
    assert [w.ref for w in house.work] == ["mesh/w#4"]  # the event log still says what it holds
    (problem,) = snapshot.problems
    assert problem.startswith("the queue is unknown: ") and "127.0.0.1" in problem
    assert not snapshot.breakers.known and "no daemon answered" in snapshot.breakers.source
    assert snapshot.lease is None and snapshot.peers == ()
