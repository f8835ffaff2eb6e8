"""Escalations to the owner (``uni_wizard.attention.escalations``) on a real devforge over loopback: a simulated
month of owner behaviour (the owner comments on every upgrade escalation, never on a docs one) moves docs to the
digest and keeps upgrades immediate, the thresholds never leave their bounds, urgent escalations are never
batched (not even pinned or ignored), a window's batched escalations make one digest comment on the owner's
inbox issue, and the owner's pin wins over the threshold.

The desk's clock is simulated (a month ago, a day at a time); the owner's acts are real forge writes, made now,
so each comes after the escalation it answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bootstrapped_forge import Mesh, mesh_fixture
from prometheus_client import CollectorRegistry
from worlds import Clients, clients, create_repo, fresh_name, plain_runtime

from uni_wizard.attention import Calibration, Escalations
from uni_wizard.attention.escalations import INBOX_MARKER
from uni_wizard.attention.metrics import AttentionMetrics
from uni_wizard.attention.sources import follow_events
from uni_wizard.harness import Runtime
from uni_wizard.observe.events import EventKind, EventLog

mesh = mesh_fixture()
DAY = 86400.0
CALIBRATION = Calibration(low=0.2, high=0.8, urgent=frozenset({"upgrade.rolled_back", "peer"}))


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    repo: str
    runtime: Runtime
    client: Clients
    desk: Escalations
    clock: Clock
    registry: CollectorRegistry
    upgrade_issue: int
    docs_issue: int

    async def comments(self, number: int) -> list[str]:
        owner, name = self.repo.split("/")
        return [c.body for c in await self.client("timmy").list_comments(owner, name, number)]


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    repo = await create_repo(mesh, fresh_name("x"), members={"timmy": "admin", "allegro": "write", "owner": "write"})
    owner, name = repo.split("/")
    clock = Clock(time.time() - 40 * DAY)
    registry = CollectorRegistry()
    async with clients(mesh) as client:
        with plain_runtime(tmp_path / "host", mesh, host="vps-a") as runtime:
            upgrade = await client("timmy").create_issue(owner, name, "Upgrade to 1.4.0")
            docs = await client("timmy").create_issue(owner, name, "The README says 1.2")
            desk = Escalations(
                runtime.store, client("allegro"), repo=repo, owner="owner", calibration=CALIBRATION, host="vps-a",
                metrics=AttentionMetrics.for_registry(registry), clock=clock,
            )  # fmt: skip
            yield World(repo, runtime, client, desk, clock, registry, upgrade.number, docs.number)


async def test_a_month_of_the_owner_moves_docs_to_the_digest_and_keeps_upgrades_immediate(world: World) -> None:
    owner, name = world.repo.split("/")
    the_owner = world.client("owner")
    routes: dict[str, list[str]] = {"upgrade": [], "docs": []}
    for day in range(30):
        world.clock.now += DAY
        await world.desk.tick()  # the digest of yesterday's window; what the owner did with what was sent
        for state in world.desk.thresholds.all():
            assert CALIBRATION.low <= state.threshold <= CALIBRATION.high  # never out of bounds
        for category, number in (("upgrade", world.upgrade_issue), ("docs", world.docs_issue)):
            sent = await world.desk.escalate(
                category, f"{category}.waiting", f"{category} needs you (day {day})", key=f"{category}:{day}",
                repository=world.repo, number=number,
            )  # fmt: skip
            routes[category].append(sent.route)
        await the_owner.create_comment(owner, name, world.upgrade_issue, f"Looking at it (day {day}).")
    for _ in range(2):  # the month's last escalations: digested, then a day without the owner
        world.clock.now += DAY
        await world.desk.tick()

    assert set(routes["upgrade"]) == {"immediate"}
    assert routes["docs"][0] == "immediate" and set(routes["docs"][1:]) == {"digest"}  # one day ignored: batched
    upgrade, docs = world.desk.thresholds.state("upgrade"), world.desk.thresholds.state("docs")
    assert upgrade.threshold == CALIBRATION.low and docs.threshold == CALIBRATION.high
    assert (upgrade.acted, upgrade.ignored) == (30, 0) and (docs.acted, docs.ignored) == (0, 30)
    assert "acted on 0 of 30" in docs.why(CALIBRATION) and "upper bound" in docs.why(CALIBRATION)
    mentions = [b for b in await world.comments(world.upgrade_issue) if b.startswith("@owner ")]
    assert len(mentions) == 30  # every upgrade escalation mentioned the owner on its issue
    [docs_mention] = [b for b in await world.comments(world.docs_issue) if b.startswith("@owner ")]
    assert "docs needs you (day 0)" in docs_mention  # later ones went into the digests
    digests = await world.comments(await world.desk.inbox())
    assert len(digests) == 29 and all(d.startswith("**Digest for @owner**: 1 escalation ") for d in digests)
    sample = world.registry.get_sample_value
    assert sample("uniwizard_escalations_sent_total", {"category": "upgrade", "route": "immediate"}) == 30
    assert sample("uniwizard_escalation_engagement_total", {"category": "docs", "outcome": "ignored"}) == 30
    assert sample("uniwizard_escalation_threshold", {"category": "docs"}) == CALIBRATION.high


async def test_batched_escalations_make_one_digest_comment_per_window_on_the_inbox(world: World) -> None:
    for _ in range(3):
        world.desk.thresholds.learn("docs", acted=False)  # the owner ignores docs escalations
    for n in range(3):
        sent = await world.desk.escalate("docs", "docs.stale", f"stale page {n}", repository=world.repo,
                                         number=world.docs_issue)  # fmt: skip
        assert sent.route == "digest" and sent.sent_at is None
    assert await world.desk.flush() is None  # the window has not ended
    world.clock.now += CALIBRATION.window_seconds
    assert await world.desk.flush() is not None
    assert await world.desk.flush() is None  # sent once

    inbox = await world.desk.inbox()
    comments = await world.comments(inbox)
    assert len(comments) == 1 and comments[0].startswith("**Digest for @owner**: 3 escalations")
    assert all(f"stale page {n}" in comments[0] for n in range(3))
    owner, name = world.repo.split("/")
    assert INBOX_MARKER in (await world.client("timmy").get_issue(owner, name, inbox)).body
    other = Escalations(world.runtime.store, world.client("timmy"), repo=world.repo, owner="owner",
                        calibration=CALIBRATION, host="vps-b")  # fmt: skip
    assert await other.inbox() == inbox  # another host finds the same inbox by its marker


async def test_urgent_escalations_are_never_batched_and_a_pin_wins_over_the_threshold(world: World) -> None:
    for _ in range(10):
        world.desk.thresholds.learn("peer", acted=False)
        world.desk.thresholds.learn("upgrade", acted=False)
    world.desk.thresholds.pin("upgrade", "digest")
    down = await world.desk.escalate("peer", "peer.down", "vps-c stopped answering")
    rolled = await world.desk.escalate("upgrade", "upgrade.rolled_back", "1.4.0 rolled back on vps-b",
                                       repository=world.repo, number=world.upgrade_issue)  # fmt: skip
    plain = await world.desk.escalate("upgrade", "upgrade.waiting", "1.4.1 waits", repository=world.repo,
                                      number=world.upgrade_issue)  # fmt: skip
    world.desk.thresholds.pin("docs", "immediate")
    for _ in range(10):
        world.desk.thresholds.learn("docs", acted=False)
    pinned = await world.desk.escalate("docs", "docs.stale", "the README", repository=world.repo,
                                       number=world.docs_issue)  # fmt: skip

    assert (down.route, rolled.route) == ("immediate", "immediate") and "urgent" in down.why
    assert down.sent_at is not None and rolled.sent_at is not None
    assert plain.route == "digest" and "pinned" in plain.why
    assert pinned.route == "immediate" and world.desk.thresholds.state("docs").threshold == CALIBRATION.high
    inbox = await world.desk.inbox()  # an escalation without an item mentions the owner on the inbox
    assert any(b.startswith("@owner vps-c stopped answering") for b in await world.comments(inbox))
    again = await world.desk.escalate("peer", "peer.down", "vps-c stopped answering")
    assert again.id == down.id  # a repeat is a no-op


async def test_rollbacks_peers_down_and_p0_issues_escalate_at_once_from_the_event_log(world: World) -> None:
    events = EventLog(world.runtime.store, "vps-a")
    await events.emit(EventKind.PEER_LEFT, "peer.left:old", data={"peer": "vps-old"})  # before the start: the past

    async def followed(until: int, *emits: tuple[str, str, dict[str, Any], int | None]) -> list[Any]:
        """Start following (a daemon's start), log ``emits``, wait for ``until`` escalations, stop."""
        stop = asyncio.Event()
        task = asyncio.create_task(follow_events(world.desk, stop, poll=0.05))
        await asyncio.sleep(0.2)  # the follower has taken its cursor
        for kind, key, data, number in emits:
            await events.emit(kind, key, repository=world.repo if number else None, number=number, data=data)
        for _ in range(200):
            if len(world.desk.recent()) >= until:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
        return world.desk.recent()

    rows = await followed(
        3,
        ("deploy.failed", "deploy.failed:vps-b:abc", {"sha": "abc", "reason": "unhealthy; rolled back to 1.3.0"},
         world.upgrade_issue),
        (EventKind.PEER_LEFT, "peer.left:new", {"peer": "vps-c"}, None),
        (EventKind.ISSUE_ROUTED, "routed:p1", {"priority": "P1", "house": "ezra"}, world.docs_issue),
        (EventKind.ISSUE_ROUTED, "routed:p0", {"priority": "P0", "house": "ezra"}, world.docs_issue),
    )  # fmt: skip
    # a restart follows on from the last event escalated: nothing twice, the next one once
    again = await followed(4, (EventKind.PEER_LEFT, "peer.left:later", {"peer": "vps-d"}, None))

    assert sorted(r["kind"] for r in rows) == ["issue.p0", "peer.down", "upgrade.rolled_back"]
    assert all(r["route"] == "immediate" and r["sent_at"] is not None for r in rows)
    assert len(again) == 4 and again[0]["title"].startswith("peer vps-d stopped answering")
    upgrade_comments = await world.comments(world.upgrade_issue)
    assert any(c.startswith("@owner upgrade") and "rolled back to 1.3.0" in c for c in upgrade_comments)
    assert not any("vps-old" in r["title"] for r in rows)
