"""The dispatcher (Allegro's lane) end to end, against a real devforge over loopback HTTP.

One devforge per module, bootstrapped from ``configs/forge-layout.example.yaml`` (users timmy, ezra,
bezalel and allegro with their tokens, org ``mesh``) plus ``mallory``, a forge user who is no house.
Every test gets a fresh repository of its own (created by the org owner; timmy admin, the houses
writers), a private runtime (store, metrics) and a dispatcher acting as allegro through a transport
that counts (and can fail) the writes it sends. Every test asserts what the forge shows through the
API: labels, assignees, comments and their bodies, ``updated_at``.

The burst size is ``DISPATCH_BURST`` (default 1000).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bootstrapped_forge import Mesh, mesh_fixture
from worlds import HOST, ORG, Clients, clients, create_repo, fresh_name, plain_runtime, triage_for

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.dispatch.audit import marker
from uni_wizard.dispatch.config import TriageConfig
from uni_wizard.dispatch.history import RoutingLedger
from uni_wizard.dispatch.lease import LocalLease
from uni_wizard.dispatch.loop import DispatchLoop, SweepReport
from uni_wizard.errors import LeaseLost
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.http import forge_breaker
from uni_wizard.forge.models import Comment, Issue
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.queue import WebhookIntake
from uni_wizard.observe.events import Event, EventLog
from uni_wizard.testing import FakeClock, ForgeLine, make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app

OUTSIDER = "mallory"  # a forge user who is not a house
SECRET = "dispatch-webhook-secret"
BURST = int(os.environ.get("DISPATCH_BURST", "1000"))
USERS = {"bezalel": "bezalel", "ezra": "ezra", "timmy": "timmy"}  # house -> forge user (houses/*.yaml)

# A varied set: what each issue must become.
CRASH = (
    "Server crashes on start with a traceback",
    "Steps to reproduce: run it.\n\nAcceptance criteria:\n- [ ] no crash",
)
ARCHITECTURE = ("Write the architecture document for the mesh", "## Acceptance criteria\n- [ ] a diagram")
PREFIX = ("Decide whether the latest capital plan is already in the prefix", "")  # the seed's false positive
SECURITY = ("Security: token leaked in logs", "data loss risk")
RESEARCH = ("Investigate the research on gossip protocols", "## Acceptance criteria\n- [ ] a short report")


# -- the forge and the dispatcher's way to it (a ``ForgeLine``) ----------------------------------------

mesh = mesh_fixture(extra_users=(OUTSIDER,))


class StandbyLease:
    """A lease someone else holds: ``acquire`` never succeeds."""

    name = "dispatcher"
    epoch = 0
    held = False

    def __init__(self) -> None:
        self.attempts = 0

    async def acquire(self) -> bool:
        self.attempts += 1
        return False

    async def renew(self) -> bool:
        return False

    async def release(self) -> None:
        return None

    def ensure(self) -> int:
        raise LeaseLost("standby: the dispatcher lease is held elsewhere")


# -- one test's world ---------------------------------------------------------------------------------


@dataclass
class World:
    mesh: Mesh
    repo: str
    runtime: Runtime
    config: TriageConfig
    line: ForgeLine
    allegro: GiteaClient  # the dispatcher's client (through ``line``)
    timmy: GiteaClient  # files the issues
    client: Clients
    servers: list[ThreadedServer] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def loop(self, runtime: Runtime | None = None, **kwargs: Any) -> DispatchLoop:
        runtime = runtime or self.runtime
        return build_dispatch_loop(runtime.settings, runtime, forge=self.allegro, config=self.config, **kwargs)

    def daemon(self) -> tuple[ThreadedServer, WebhookIntake]:
        """The daemon's app on this world's runtime, served over loopback, and the intake that fills the
        store's webhook queue (the one the dispatcher consumes)."""
        app = create_app(self.runtime, webhook_secret=SECRET)
        server = ThreadedServer(app, name="daemon").start()
        self.servers.append(server)
        return server, app.state.intake

    async def file(self, title: str, body: str = "") -> Issue:
        return await self.timmy.create_issue(ORG, self.name, title, body)

    async def issue(self, number: int) -> Issue:
        return await self.timmy.get_issue(ORG, self.name, number)

    async def comments(self, number: int) -> list[Comment]:
        return await self.timmy.list_comments(ORG, self.name, number)

    async def view(self, number: int) -> View:
        issue = await self.issue(number)
        return View(issue, await self.comments(number))

    def decisions(self, number: int, runtime: Runtime | None = None) -> list[dict[str, Any]]:
        return RoutingLedger((runtime or self.runtime).store).decisions(self.repo, number)

    def events(self, kind: str, runtime: Runtime | None = None) -> list[Event]:
        return EventLog((runtime or self.runtime).store, HOST).tail(0, 100_000, [kind])

    def cursor(self, runtime: Runtime | None = None) -> list[tuple[Any, ...]]:
        rows = (runtime or self.runtime).store.query("SELECT since, last_full FROM sweep_cursors")
        return [tuple(row) for row in rows]


@dataclass
class View:
    """An issue as the forge shows it, with its comments."""

    issue: Issue
    comments: list[Comment]

    @property
    def labels(self) -> set[str]:
        return {label.name for label in self.issue.labels}

    @property
    def assignees(self) -> list[str]:
        return [user.login for user in self.issue.assignees]

    @property
    def audits(self) -> list[Comment]:
        tag = marker("triage", self.issue.number)
        return [c for c in self.comments if tag in c.body and c.user is not None and c.user.login == "allegro"]

    def state(self) -> tuple[Any, ...]:
        """Everything a write would change."""
        return (
            self.issue.updated_at,
            self.issue.state,
            sorted(self.labels),
            self.assignees,
            [(c.id, c.user.login if c.user else None, c.body, c.updated_at) for c in self.comments],
        )


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    repo = await create_repo(mesh, fresh_name("t"), auto_init=False)
    line = ForgeLine()
    async with clients(mesh) as client:
        with plain_runtime(tmp_path, mesh) as runtime:
            breaker = forge_breaker(reset_timeout=0.1)
            allegro = client("allegro", line, registry=runtime.metrics.registry, breaker=breaker)
            world = World(mesh, repo, runtime, triage_for(repo), line, allegro, client("timmy"), client)
            try:
                yield world
            finally:
                for server in world.servers:
                    server.stop()


# -- helpers ------------------------------------------------------------------------------------------


def footer(epoch: int) -> str:
    return f"uni-wizard dispatcher on `{HOST}`, lease epoch {epoch}"


def repairs(reports: list[SweepReport]) -> list[tuple[int, str]]:
    return [(n, a.kind) for r in reports for n, a in r.actions if a.apply is not None]


def assert_routed(view: View, house: str, epoch: int = 1) -> None:
    """Triaged and routed to ``house`` exactly once: the labels, the one assignee, the one audit comment."""
    number = view.issue.number
    assert {"status/routed", f"house/{house}"} <= view.labels, (number, view.labels)
    assert len([n for n in view.labels if n.startswith("kind/")]) == 1, view.labels
    assert len([n for n in view.labels if n.startswith("priority/")]) == 1, view.labels
    assert view.assignees == [USERS[house]], (number, view.assignees)
    assert len(view.audits) == 1, [c.body for c in view.comments]
    body = view.audits[0].body
    assert body.startswith(marker("triage", number))
    assert f"**Routed to `{house}`** (assigned to @{USERS[house]})" in body
    assert footer(epoch) in body


async def wait_delivered(mesh: Mesh, hook_id: int, count: int) -> list[dict[str, Any]]:
    """The hook's deliveries, oldest first, once the forge attempted every queued one (at least ``count``)."""
    deadline = time.monotonic() + 20
    while True:
        await asyncio.to_thread(mesh.deliverer.wait_idle, 10.0)
        rows = mesh.deliverer.deliveries(hook_id)
        if len(rows) >= count and all(r["status_code"] is not None or r["error"] is not None for r in rows):
            return rows
        assert time.monotonic() < deadline, f"{len(rows)} of {count} deliveries attempted"
        await asyncio.sleep(0.02)


def signed(body: bytes, delivery: dict[str, Any], guid: str) -> dict[str, str]:
    """The headers the forge signs a delivery with (the ones the intake reads)."""
    return {
        "Content-Type": "application/json",
        "X-Gitea-Delivery": guid,
        "X-Gitea-Event": delivery["event"],
        "X-Gitea-Event-Type": delivery["event_type"],
        "X-Gitea-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }


# -- 1. triage and routing ----------------------------------------------------------------------------


async def test_a_varied_set_is_triaged_routed_and_explained(world: World) -> None:
    crash = await world.file(*CRASH)
    architecture = await world.file(*ARCHITECTURE)
    prefix = await world.file(*PREFIX)
    security = await world.file(*SECURITY)
    loop = world.loop()

    reports = await loop.run_once()

    assert [(r.repository, r.full, r.issues, r.failed) for r in reports] == [(world.repo, True, 4, [])]
    assert loop.dispatcher.lease.epoch == 1
    labels = {label.name: label for label in await world.timmy.list_labels(ORG, world.name)}
    assert {"status/routed", "house/bezalel", "priority/P0", "kind/bug", "needs-info"} <= set(labels)
    assert labels["status/routed"].exclusive and not labels["needs-info"].exclusive

    v = await world.view(crash.number)
    assert_routed(v, "bezalel")
    assert v.labels == {"status/routed", "house/bezalel", "kind/bug", "priority/P1"}
    v = await world.view(architecture.number)
    assert_routed(v, "ezra")
    assert v.labels == {"status/routed", "house/ezra", "kind/docs", "priority/P2"}
    v = await world.view(prefix.number)  # "prefix" is not "fix", "decide" is not "ci": no bug, not bezalel's
    assert "house/bezalel" not in v.labels and "kind/bug" not in v.labels
    assert v.assignees != ["bezalel"] and len(v.assignees) == 1
    assert "needs-info" in v.labels  # no acceptance criteria
    v = await world.view(security.number)
    assert "priority/P0" in v.labels and "status/routed" in v.labels
    assert 'priority P0 by rule "security or data loss"' in v.audits[0].body

    routed = {e.number: e for e in world.events("issue.routed")}
    assert set(routed) == {crash.number, architecture.number, prefix.number, security.number}
    for issue in (crash, architecture, prefix, security):
        v = await world.view(issue.number)
        house = next(n.split("/", 1)[1] for n in v.labels if n.startswith("house/"))
        (decision,) = world.decisions(issue.number)
        assert (decision["chosen"], decision["host"], decision["epoch"]) == (house, HOST, 1)
        assert {c["house"] for c in decision["candidates"]} == {"allegro", "bezalel", "ezra", "timmy"}
        eligible = {c["house"]: c["eligible"] for c in decision["candidates"]}
        assert eligible[house] and not eligible["allegro"]  # allegro may not take issues
        runner_up = decision["runner_up"]
        assert runner_up and runner_up != house
        body = v.audits[0].body
        assert f"runner-up `{runner_up}`" in body
        for candidate in decision["candidates"]:  # the table names every candidate with its total
            assert re.search(rf"^{candidate['house']}\s.*{candidate['total']:.3f}", body, re.MULTILINE), body
        event = routed[issue.number]
        assert (event.repository, event.data["house"], event.data["epoch"]) == (world.repo, house, 1)
        assert event.data["runner_up"] == runner_up
    (crash_decision,) = world.decisions(crash.number)
    assert crash_decision["kind"] == "bug" and crash_decision["runner_up"] == "ezra"


# -- 2. idempotency -----------------------------------------------------------------------------------


async def test_handling_an_issue_twice_writes_nothing_the_second_time(world: World) -> None:
    numbers = [(await world.file(*spec)).number for spec in (CRASH, ARCHITECTURE, PREFIX, SECURITY, RESEARCH)]
    # the houses are full now (bezalel 2, ezra 2, timmy 1): the next one is triaged but routed to nobody
    unrouted = (await world.file("Tidy the flaky integration tests", "- [ ] green twice")).number
    numbers.append(unrouted)
    loop = world.loop()
    first = await loop.run_once()
    assert not first[0].failed
    v = await world.view(unrouted)
    assert {"status/triage", "kind/test"} <= v.labels and v.assignees == []
    assert "**Not routed**" in v.audits[0].body
    before = {n: (await world.view(n)).state() for n in numbers}
    decisions = {n: len(world.decisions(n)) for n in numbers}
    assert set(decisions.values()) == {1}
    routed, repaired = len(world.events("issue.routed")), len(world.events("sweep.repaired"))
    writes = len(world.line.writes)
    await asyncio.sleep(1.05)  # the forge's times are whole seconds: a write now would move them

    for n in numbers:  # each issue as the forge shows it now, handled again
        actions = await loop.dispatcher.handle(world.repo, await world.issue(n))
        assert [a for a in actions if a.apply is not None] == [], (n, actions)
    second = await loop.run_once()  # a whole turn again: incremental sweep
    assert [(r.full, r.failed) for r in second] == [(False, [])]
    assert repairs(second) == []
    third = await loop.dispatcher.handle(world.repo, await world.issue(unrouted))  # and once more
    assert [a.kind for a in third if a.apply is not None] == []

    assert world.line.writes[writes:] == []
    reads = len(world.line.reads)
    full = await loop.sweep(world.repo, full=True)  # every house still full: the held issue costs nothing
    assert (full.issues, full.failed, repairs([full])) == (len(numbers), [], [])
    assert [r for r in world.line.reads[reads:] if "/comments" in r] == []
    assert {n: (await world.view(n)).state() for n in numbers} == before
    assert {n: len(world.decisions(n)) for n in numbers} == decisions
    assert (len(world.events("issue.routed")), len(world.events("sweep.repaired"))) == (routed, repaired)


# -- 3. a dropped webhook ------------------------------------------------------------------------------


async def test_a_dropped_webhook_is_repaired_by_the_next_incremental_sweep(world: World) -> None:
    daemon, intake = world.daemon()
    hook = await world.timmy.create_hook(ORG, world.name, f"{daemon.url}/hooks/gitea", SECRET)
    loop = world.loop(intake=intake)
    assert [(r.full, r.issues) for r in await loop.run_once()] == [(True, 0)]  # the labels; nothing to sweep

    heard = await world.file(*CRASH)  # delivered: the webhook queue names it
    (opened,) = await wait_delivered(world.mesh, hook.id, 1)
    assert (opened["event_type"], opened["status_code"]) == ("issues", 200)
    assert await loop.consume() == 1
    assert_routed(await world.view(heard.number), "bezalel")
    assert [(e.number, e.data["acted"]) for e in world.events("webhook.received")] == [(heard.number, True)]
    writes = len(world.line.writes)
    hints = await wait_delivered(world.mesh, hook.id, 2)  # the hints of our own writes: acted on, nothing to do
    assert {r["status_code"] for r in hints} == {200}
    assert await loop.consume() == len(hints) - 1
    assert world.line.writes[writes:] == [] and intake.depth() == 0

    daemon.stop()  # the daemon is down: the forge's one attempt fails, the delivery is lost
    dropped = await world.file(*ARCHITECTURE)
    rows = await wait_delivered(world.mesh, hook.id, len(hints) + 1)
    assert [(r["event_type"], r["status_code"], bool(r["error"])) for r in rows[len(hints) :]] == [
        ("issues", None, True)
    ]
    assert rows[-1]["payload"]["issue"]["number"] == dropped.number
    assert intake.depth() == 0 and await loop.consume() == 0
    v = await world.view(dropped.number)
    assert (v.labels, v.comments) == (set(), [])

    reports = await loop.run_once()  # the incremental sweep sees it anyway

    assert [(r.full, r.failed) for r in reports] == [(False, [])]
    assert dropped.number in {n for n, _ in repairs(reports)}
    assert_routed(await world.view(dropped.number), "ezra")
    assert_routed(await world.view(heard.number), "bezalel")  # still one comment
    assert len(world.decisions(dropped.number)) == len(world.decisions(heard.number)) == 1


# -- 4. duplicate deliveries ---------------------------------------------------------------------------


async def test_duplicate_deliveries_act_once(world: World) -> None:
    daemon, intake = world.daemon()
    hook = await world.timmy.create_hook(ORG, world.name, f"{daemon.url}/hooks/gitea", SECRET)
    loop = world.loop(intake=intake)
    await loop.run_once()  # takes the lease, makes the labels; the repository is empty

    issue = await world.file(*CRASH)
    (delivery,) = await wait_delivered(world.mesh, hook.id, 1)
    body = str(world.mesh.server.forge.db.scalar("SELECT payload FROM deliveries WHERE id = ?", (delivery["id"],)))
    raw = body.encode()
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        again = await http.post(
            f"{daemon.url}/hooks/gitea", content=raw, headers=signed(raw, delivery, delivery["uuid"])
        )
        assert again.json() == {"status": "duplicate"}
        other = await http.post(f"{daemon.url}/hooks/gitea", content=raw, headers=signed(raw, delivery, "replayed-1"))
        assert other.json() == {"status": "accepted", "delivery": "replayed-1"}
    direct = await intake.receive(signed(raw, delivery, delivery["uuid"]), raw)  # fed to the intake itself
    assert direct.outcome == "duplicate"
    assert intake.depth() == 2  # the delivery once, and the same event under another delivery id

    assert await loop.consume(limit=1) == 1  # one batch each: the second handles the issue afresh
    writes = len(world.line.writes)
    assert writes > 0
    assert await loop.consume(limit=1) == 1
    assert world.line.writes[writes:] == []
    hints = await wait_delivered(world.mesh, hook.id, 2)  # the hints of our own writes (comment, labels...)
    assert await loop.consume() == len(hints) - 1
    assert world.line.writes[writes:] == []
    assert intake.depth() == 0

    assert_routed(await world.view(issue.number), "bezalel")
    assert len(world.decisions(issue.number)) == 1
    assert len(world.events("issue.routed")) == 1
    received = [e for e in world.events("webhook.received") if e.number == issue.number]
    assert {e.key for e in received} >= {f"webhook:{delivery['uuid']}", "webhook:replayed-1"}
    assert len({e.key for e in received}) == len(received)


# -- 5. a burst ----------------------------------------------------------------------------------------

TEMPLATES = (
    "Crash in the {} parser when the input is empty",
    "Document the {} settings in the operations guide",
    "Investigate why {} replication is slow",
    "Add an option to disable {} retries",
    "Flaky test in the {} suite",
    "Refactor the {} module into smaller parts",
    "Review the {} policy before the release",
    "Deploy the {} service on the second host",
)
WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "sigma")


async def test_a_burst_of_new_issues_is_triaged_with_no_duplicate_comment_or_assignment(
    world: World, tmp_path: Path
) -> None:
    # capacity for many: routing stops assigning a house once it holds max_concurrency (at most 64) issues
    houses = {name: p.model_copy(update={"max_concurrency": 64}) for name, p in world.runtime.houses.items()}
    capacity = sum(p.max_concurrency for p in houses.values() if p.rules.may_take_issues)
    runtime = make_runtime(tmp_path / "burst", gitea_url=world.mesh.url, houses=houses)
    try:
        loop = world.loop(runtime)
        gate = asyncio.Semaphore(8)

        async def open_one(i: int) -> int:
            title = TEMPLATES[i % len(TEMPLATES)].format(WORDS[i % len(WORDS)]) + f" ({i})"
            async with gate:
                return (await world.file(title, f"Seen on host {i % 7}.\n\n- [ ] fixed")).number

        started = time.perf_counter()
        numbers = sorted(await asyncio.gather(*(open_one(i) for i in range(BURST))))
        filed = time.perf_counter() - started
        assert numbers == list(range(1, BURST + 1))

        turns: list[list[SweepReport]] = []
        while len(turns) < 6:  # turn until a turn finds nothing to repair
            turns.append(await loop.run_once())
            if not repairs(turns[-1]) and not any(r.failed for r in turns[-1]):
                break
        swept = time.perf_counter() - started - filed
        print(f"\nburst of {BURST}: filed in {filed:.1f} s, triaged by {len(turns)} turns in {swept:.1f} s")
        assert [(r.full, r.issues, r.failed) for r in turns[0]] == [(True, BURST, [])]
        assert not repairs(turns[-1]) and len(turns) <= 3

        # every write the dispatcher sent, per issue: one comment, one relabel, at most one assignment
        per_issue: Counter[tuple[int, str]] = Counter()
        for write in world.line.writes:
            found = re.fullmatch(rf"(\w+) /api/v1/repos/{world.repo}/issues/(\d+)(/\w+)?", write)
            if found:
                per_issue[(int(found[2]), f"{found[1]} {found[3] or ''}")] += 1
        assert max(per_issue.values()) == 1, per_issue.most_common(3)
        assert {n for n, what in per_issue if what == "POST /comments"} == set(numbers)

        # what the forge shows: every issue triaged, one audit comment, one assignee or none
        issues = {i.number: i for i in await world.timmy.list_issues(ORG, world.name, state="all")}
        assert sorted(issues) == numbers
        comments: Counter[int] = Counter()
        async with httpx.AsyncClient(
            base_url=world.mesh.server.api, headers={"Authorization": f"token {world.mesh.token('timmy')}"}
        ) as http:
            page = 1
            while True:
                got = await http.get(f"/repos/{world.repo}/issues/comments", params={"page": page, "limit": 50})
                items = got.json()
                if not items:
                    break
                for item in items:
                    number = int(item["issue_url"].rsplit("/", 1)[1])
                    assert item["user"]["login"] == "allegro"
                    assert item["body"].startswith(marker("triage", number))
                    comments[number] += 1
                page += 1
        assert sorted(comments) == numbers and set(comments.values()) == {1}
        load: Counter[str] = Counter()
        for number, issue in issues.items():
            names = {label.name for label in issue.labels}
            assignees = [u.login for u in issue.assignees]
            house = next((n.split("/", 1)[1] for n in names if n.startswith("house/")), None)
            if house is not None:
                assert "status/routed" in names and assignees == [USERS[house]], (number, names, assignees)
                load[house] += 1
            else:
                assert "status/triage" in names and assignees == [], (number, names, assignees)
        assert sum(load.values()) == min(BURST, capacity)
        assert all(load[h] <= houses[h].max_concurrency for h in load)
        decided = runtime.store.query("SELECT count(*), count(DISTINCT number) FROM routing_decisions")[0]
        assert tuple(decided) == (BURST, BURST)
        assert len(world.events("issue.routed", runtime)) == BURST
    finally:
        runtime.close()


# -- 6. a crash in the middle of a sweep ---------------------------------------------------------------


async def test_a_sweep_that_fails_midway_loses_nothing_and_the_next_sweep_finishes(world: World) -> None:
    loop = world.loop()
    await loop.run_once()  # the labels, and a first (empty) full sweep: from now on, incremental ones
    cursor = world.cursor()
    numbers = [(await world.file(*spec)).number for spec in (CRASH, ARCHITECTURE, PREFIX, SECURITY, RESEARCH)]
    world.line.fail_writes_after = len(world.line.writes) + 4  # the first issue's three writes, the second's comment

    report = await loop.sweep(world.repo, full=False)

    assert report.issues == 5
    assert [n for n, _ in report.failed] == numbers[1:]
    assert world.line.refused >= 1
    assert world.cursor() == cursor  # the window did not move
    views = [await world.view(n) for n in numbers]
    assert_routed(views[0], "bezalel")
    assert len(views[1].audits) == 1 and views[1].labels == set() and views[1].assignees == []
    half = views[1].audits[0]
    for v in views[2:]:
        assert (v.labels, v.assignees, v.comments) == (set(), [], [])

    world.line.fail_writes_after = None  # the forge is back
    await asyncio.sleep(0.15)  # and the client's breaker admits a trial call
    report = await loop.sweep(world.repo, full=False)

    assert report.failed == []
    assert world.cursor() != cursor
    views = [await world.view(n) for n in numbers]
    houses = [next(n.split("/", 1)[1] for n in v.labels if n.startswith("house/")) for v in views]
    for v, house in zip(views, houses, strict=True):
        assert_routed(v, house)
    assert houses[0] == "bezalel"
    assert views[1].audits[0].id == half.id  # the half-done issue's comment was found again, not duplicated
    assert [len(world.decisions(n)) for n in numbers] == [1] * 5
    assert repairs([await loop.sweep(world.repo, full=False)]) == []


# -- 7. the lease ----------------------------------------------------------------------------------------


async def test_nothing_is_written_without_the_lease(world: World) -> None:
    issue = await world.file(*CRASH)
    untouched = (await world.view(issue.number)).state()

    never = world.loop()  # a LocalLease never acquired
    with pytest.raises(LeaseLost):
        await never.ensure_labels(world.repo)
    with pytest.raises(LeaseLost):
        await never.dispatcher.handle(world.repo, issue)
    with pytest.raises(LeaseLost):
        await never.sweep(world.repo, full=True)

    clock = FakeClock()
    lease = LocalLease(clock=clock)
    expired = world.loop(lease=lease)
    assert await lease.acquire()
    clock.advance(lease.ttl)  # not renewed in time
    with pytest.raises(LeaseLost):
        await expired.dispatcher.handle(world.repo, issue)
    assert await lease.acquire() and lease.epoch == 2
    await lease.release()
    with pytest.raises(LeaseLost):
        await expired.sweep(world.repo, full=False)

    standby = StandbyLease()
    assert await world.loop(lease=standby).run_once() == []
    assert standby.attempts == 1

    assert world.line.writes == []
    assert await world.timmy.list_labels(ORG, world.name) == []
    assert (await world.view(issue.number)).state() == untouched
    assert world.decisions(issue.number) == [] and world.events("lease.acquired") == []


async def test_a_lease_lost_midway_stops_the_writes_and_the_next_holder_finishes_under_its_epoch(
    world: World,
) -> None:
    clock = FakeClock()
    lease = LocalLease(clock=clock)
    loop = world.loop(lease=lease)
    await loop.run_once()  # epoch 1: the labels, an empty full sweep
    first = await world.file(*CRASH)
    second = await world.file(*ARCHITECTURE)
    writes = len(world.line.writes)
    world.line.after_write = lambda _: clock.advance(lease.ttl)  # deposed right after the first write

    assert await loop.run_once() == []  # the turn ended: lease lost

    assert world.line.writes[writes:] == [f"POST /api/v1/repos/{world.repo}/issues/{first.number}/comments"]
    v = await world.view(first.number)
    assert len(v.audits) == 1 and footer(1) in v.audits[0].body
    assert v.labels == set() and v.assignees == []
    assert (await world.view(second.number)).comments == []
    assert [e.data["epoch"] for e in world.events("lease.lost")] == [1]

    world.line.after_write = None
    reports = await loop.run_once()  # re-elected: epoch 2, an incremental sweep over the same window

    assert lease.epoch == 2
    assert [(r.full, r.failed) for r in reports] == [(False, [])]
    assert [e.data["epoch"] for e in world.events("lease.acquired")] == [1, 2]
    for number, house in ((first.number, "bezalel"), (second.number, "ezra")):
        v = await world.view(number)
        assert_routed(v, house, epoch=2)  # the half-written comment was edited: it names the new epoch
        assert [d["epoch"] for d in world.decisions(number)] == [2]
        assert [e.data["epoch"] for e in world.events("issue.routed") if e.number == number] == [2]


async def test_a_long_sweep_renews_the_lease_instead_of_outliving_it(world: World) -> None:
    clock = FakeClock()
    lease = LocalLease(clock=clock)  # 15 s, usable for 12: shorter than this sweep
    dispatcher = world.config.dispatcher.model_copy(update={"poll_seconds": 1e-6})  # renew before every issue
    world.config = world.config.model_copy(update={"dispatcher": dispatcher})
    loop = world.loop(lease=lease)
    await loop.run_once()  # the labels
    numbers = [(await world.file(*spec)).number for spec in (CRASH, ARCHITECTURE, PREFIX, SECURITY, RESEARCH)]
    world.line.after_write = lambda _: clock.advance(2.0)  # a slow forge: 6 s per issue, 30 s for the sweep

    reports = await loop.run_once()

    assert [(r.full, r.issues, r.failed) for r in reports] == [(False, 5, [])]
    assert clock.now - FakeClock().now > lease.ttl
    assert lease.epoch == 1 and world.events("lease.lost") == []
    for number in numbers:
        v = await world.view(number)
        assert len(v.assignees) == 1 and footer(1) in v.audits[0].body


async def test_a_listing_longer_than_the_lease_renews_it_between_pages(world: World) -> None:
    clock = FakeClock()
    lease = LocalLease(clock=clock)  # 15 s, usable for 12
    dispatcher = world.config.dispatcher.model_copy(update={"poll_seconds": 1e-6})
    world.config = world.config.model_copy(update={"dispatcher": dispatcher})
    loop = world.loop(lease=lease)
    await loop.run_once()  # the labels, and the cursor
    limit = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with limit:
            await world.file(f"Write the runbook page {i}", "## Acceptance criteria\n- [ ] a page")

    await asyncio.gather(*(one(i) for i in range(101)))  # three pages of 50
    world.line.after_listing = lambda _: clock.advance(7.0)  # 21 s to list: longer than the lease lives

    (report,) = await loop.run_once()

    assert (report.issues, report.failed) == (101, [])
    assert lease.epoch == 1 and world.events("lease.lost") == []


# -- 8. dry run ----------------------------------------------------------------------------------------


async def test_dry_run_lists_the_actions_and_writes_nothing(world: World) -> None:
    crash = await world.file(*CRASH)
    doc = await world.file(*ARCHITECTURE)
    before = {n: (await world.view(n)).state() for n in (crash.number, doc.number)}
    loop = world.loop(dry_run=True)

    reports = await loop.run_once()

    assert [(r.full, r.issues, r.failed) for r in reports] == [(True, 2, [])]
    planned = {n: {a.kind: a for a in actions} for n, actions in _by_issue(reports).items()}
    for number in (crash.number, doc.number):
        assert set(planned[number]) == {"comment", "relabel", "assign", "triage"}
        assert all(a.apply is not None for a in planned[number].values())
    assert planned[crash.number]["assign"].description == "assign to bezalel (@bezalel)"
    assert planned[doc.number]["assign"].description == "assign to ezra (@ezra)"
    assert "status/routed" in planned[crash.number]["relabel"].description

    assert world.line.writes == []
    assert await world.timmy.list_labels(ORG, world.name) == []  # not even the labels were made
    assert {n: (await world.view(n)).state() for n in before} == before
    assert world.decisions(crash.number) == [] and world.events("issue.routed") == []
    assert world.cursor() == []
    assert world.runtime.store.query("SELECT count(*) FROM issue_states")[0][0] == 0


def _by_issue(reports: list[SweepReport]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for report in reports:
        for number, action in report.actions:
            out.setdefault(number, []).append(action)
    return out


# -- 9. claims -----------------------------------------------------------------------------------------


def claim(house: str, expires: datetime) -> str:
    return f"Working on it.\n<!-- uni-wizard:claim house={house} expires={expires:%Y-%m-%dT%H:%M:%S}Z -->"


async def test_an_expired_claim_is_requeued_a_live_one_is_left_and_a_strangers_is_ignored(world: World) -> None:
    # the dispatcher's clock runs an hour ahead: every issue here was last touched longer than the claim TTL ago
    loop = world.loop(clock=lambda: time.time() + 3600)
    await loop.run_once()  # the labels
    now = datetime.now(UTC).replace(microsecond=0)
    bezalel, mallory = world.client("bezalel"), world.client(OUTSIDER)
    issues = {}
    for key, author, expires in (
        ("expired", bezalel, now - timedelta(minutes=5)),
        ("live", bezalel, now + timedelta(days=1)),
        ("stranger", mallory, now + timedelta(days=1)),
    ):
        issue = await world.file(f"Fix the {key} bug in the build", "- [ ] done")
        await world.timmy.replace_labels(
            ORG, world.name, issue.number, ["status/in-progress", "house/bezalel", "kind/bug", "priority/P2"]
        )
        await world.timmy.edit_issue(ORG, world.name, issue.number, assignees=["bezalel"])
        await author.create_comment(ORG, world.name, issue.number, claim("bezalel", expires))
        issues[key] = issue.number
    live_before = (await world.view(issues["live"])).state()

    reports = await loop.run_once()
    assert [r.failed for r in reports] == [[]]

    stamp = f"{now - timedelta(minutes=5):%Y-%m-%dT%H:%M:%S}Z"
    for key, expired in (("expired", stamp), ("stranger", "unknown")):
        v = await world.view(issues[key])
        assert v.labels == {"status/routed", "house/bezalel", "kind/bug", "priority/P2"}, key
        assert v.assignees == ["bezalel"]
        requeues = [c for c in v.comments if c.user is not None and c.user.login == "allegro"]
        assert len(requeues) == 1 and len(v.comments) == 2, key
        assert requeues[0].body.startswith(marker(f"requeue-{expired}", issues[key]))
        assert f"expired at {expired}" in requeues[0].body and footer(1) in requeues[0].body
    assert (await world.view(issues["live"])).state() == live_before

    writes = len(world.line.writes)
    assert repairs(await loop.run_once()) == []  # back in status/routed, assigned: nothing more to do
    assert world.line.writes[writes:] == []


# -- 10. closed ----------------------------------------------------------------------------------------


async def test_a_closed_routed_issue_becomes_done(world: World) -> None:
    loop = world.loop()
    issue = await world.file(*CRASH)
    await loop.run_once()
    assert_routed(await world.view(issue.number), "bezalel")

    await world.timmy.edit_issue(ORG, world.name, issue.number, state="closed")
    reports = await loop.run_once()

    assert repairs(reports) == [(issue.number, "relabel")]
    v = await world.view(issue.number)
    assert v.issue.state == "closed"
    assert v.labels == {"status/done", "house/bezalel", "kind/bug", "priority/P1"}
    assert len(v.comments) == 1
    assert [tuple(r) for r in world.runtime.store.query("SELECT status, house FROM issue_states")] == [
        ("done", "bezalel")
    ]
    writes = len(world.line.writes)
    assert repairs(await loop.run_once()) == []
    assert world.line.writes[writes:] == []
