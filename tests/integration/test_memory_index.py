"""The memory of the forge end to end, against a real devforge over loopback HTTP: indexing a repository of
many issues (``MEMORY_ISSUES``, default 2000), a restart that resumes from the cursor, the webhook that updates
it, a missed webhook repaired by the sweep, a deleted issue removed (by its webhook and by a full sweep), and
triage naming the duplicates the memory found."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from bootstrapped_forge import ADMIN, Mesh, mesh_fixture
from worlds import ORG, clients, create_repo, fresh_name, plain_runtime, triage_for

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.dispatch.audit import marker
from uni_wizard.dispatch.loop import DispatchLoop
from uni_wizard.forge import GiteaClient
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.queue import WebhookIntake
from uni_wizard.memory import MemoryIndex, MemorySync
from uni_wizard.store import Store
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app

mesh = mesh_fixture()
SECRET = "memory-webhook-secret"
MANY = int(os.environ.get("MEMORY_ISSUES", "2000"))
TOPICS = ("dashboard", "webhook", "sandbox", "cascade", "syncthing", "lease", "planner", "proof")


@dataclass
class World:
    mesh: Mesh
    repo: str
    runtime: Runtime
    timmy: GiteaClient
    allegro: GiteaClient
    servers: list[ThreadedServer] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def daemon(self) -> tuple[ThreadedServer, WebhookIntake]:
        app = create_app(self.runtime, webhook_secret=SECRET)
        server = ThreadedServer(app, name="daemon").start()
        self.servers.append(server)
        return server, app.state.intake

    def loop(self, intake: WebhookIntake | None = None) -> DispatchLoop:
        settings = self.runtime.settings
        return build_dispatch_loop(
            settings, self.runtime, forge=self.allegro, config=triage_for(self.repo), intake=intake
        )

    async def delete(self, number: int) -> None:
        async with httpx.AsyncClient(base_url=self.mesh.url, auth=ADMIN) as admin:
            answer = await admin.delete(f"/api/v1/repos/{self.repo}/issues/{number}")
        assert answer.status_code == 204, answer.text


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    repo = await create_repo(mesh, fresh_name("mem"), auto_init=False)
    async with clients(mesh) as client:
        with plain_runtime(tmp_path, mesh) as runtime:
            world = World(mesh, repo, runtime, client("timmy"), client("allegro", registry=runtime.metrics.registry))
            try:
                yield world
            finally:
                for server in world.servers:
                    server.stop()


async def wait_until(check: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_repository_of_many_issues_is_indexed_once_and_a_restart_resumes_from_the_cursor(
    world: World, tmp_path: Path
) -> None:
    limit = asyncio.Semaphore(8)

    async def file(i: int) -> None:
        topic = TOPICS[i % len(TOPICS)]
        async with limit:
            await world.timmy.create_issue(
                ORG, world.name, f"{topic} problem number {i}", f"token-{i} about the {topic}"
            )

    await asyncio.gather(*(file(i) for i in range(MANY)))
    await asyncio.sleep(1.1)  # the forge's times are whole seconds: the newest change gets a second of its own
    await world.timmy.edit_issue(ORG, world.name, 1, title="the newest change before the first sweep")
    db = tmp_path / "memory.db"
    store = Store(db)
    sync = MemorySync(MemoryIndex(store), world.allegro)

    first = await sync.sweep(world.repo)
    assert (first.listed, first.written, sync.index.count(world.repo)) == (MANY, MANY, MANY)
    (hit,) = sync.index.search(f"token-{MANY - 1}", repo=world.repo, limit=1)
    assert hit.title.endswith(f"problem number {MANY - 1}") and hit.kind == "issue"
    assert hit.url.endswith(f"/{world.repo}/issues/{hit.number}") and hit.url.startswith("http")
    again = await sync.sweep(world.repo)  # the inclusive window reads the newest second again: nothing changes
    assert again.written == 0
    store.close()

    await asyncio.sleep(1.1)  # the forge's times are whole seconds: the edit is past the cursor's second
    edited = 7
    await world.timmy.edit_issue(ORG, world.name, edited, body="now about a flaky merge queue")
    restarted = MemorySync(MemoryIndex(Store(db)), world.allegro)  # a new process on the same file
    resumed = await restarted.sweep(world.repo)
    # from the cursor (inclusive): the newest change of the last sweep again, and the edit; only the edit is written
    assert (resumed.listed, resumed.written) == (2, 1)
    assert [h.number for h in restarted.index.search("flaky merge queue", repo=world.repo)] == [edited]
    assert restarted.index.count(world.repo) == MANY


async def test_webhooks_update_the_memory_a_missed_one_is_repaired_and_deleted_issues_leave_it(world: World) -> None:
    daemon, intake = world.daemon()
    hook = await world.timmy.create_hook(ORG, world.name, f"{daemon.url}/hooks/gitea", SECRET)
    loop = world.loop(intake=intake)
    assert loop.memory is not None and loop.dispatcher.memory is not None
    memory = loop.memory.index
    original = await world.timmy.create_issue(
        ORG,
        world.name,
        "Dispatcher crashes when an issue has an empty body",
        "Triage raises on issues without a description.",
    )
    await loop.run_once()  # the first sweep: the memory holds the issue
    assert memory.get(f"{world.repo}#{original.number}") is not None

    heard = await world.timmy.create_issue(
        ORG,
        world.name,
        "Exception in triage for an issue with an empty body",
        "The dispatcher crashes on an empty description.",
    )

    async def consumed(key: str, present: bool = True) -> bool:
        await loop.consume()  # the webhook queue alone, no sweep
        return (memory.get(key) is not None) == present

    await wait_until(lambda: consumed(f"{world.repo}#{heard.number}"), "the webhook put the new issue in the memory")
    comments = await world.timmy.list_comments(ORG, world.name, heard.number)
    (audit,) = [c.body for c in comments if marker("triage", heard.number) in c.body]
    assert f"possible duplicates: #{original.number} (" in audit
    assert "found by the memory (FTS5 BM25)" in audit

    await world.timmy.delete_hook(ORG, world.name, hook.id)  # webhooks stop: the next change is missed
    missed = await world.timmy.create_issue(ORG, world.name, "Syncthing folder stuck after a reboot", "shared state")
    assert memory.get(f"{world.repo}#{missed.number}") is None
    await loop.sweep(world.repo, full=False)  # the incremental sweep repairs it
    assert [h.number for h in memory.search("syncthing reboot", repo=world.repo)] == [missed.number]

    hook = await world.timmy.create_hook(ORG, world.name, f"{daemon.url}/hooks/gitea", SECRET)
    await world.delete(heard.number)  # the "deleted" webhook names it: the memory drops it
    await wait_until(lambda: consumed(f"{world.repo}#{heard.number}", False), "the deletion's webhook removed it")

    await world.timmy.delete_hook(ORG, world.name, hook.id)
    await world.delete(missed.number)  # no webhook: a full sweep finds it gone, when a reconcile is due
    await loop.sweep(world.repo, full=True)  # the first full sweep of this process reconciled: not due yet
    assert memory.get(f"{world.repo}#{missed.number}") is not None
    loop.memory.reconcile_seconds = 0
    await loop.sweep(world.repo, full=True)
    assert memory.get(f"{world.repo}#{missed.number}") is None
    assert memory.get(f"{world.repo}#{original.number}") is not None
