"""The forge lease against a real devforge over loopback HTTP.

Each test gets a fresh repository (alice's; bob writes too) and leases on it whose clocks are ``FakeClock``s:
the forge is real, time moves only when the test says so. Both hosts' monotonic clocks are moved together,
as real time would move them; their wall clocks may disagree (skew).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest_devforge import Forge, forge_fixture  # noqa: F401
from prometheus_client import CollectorRegistry
from worlds import Clients, clients

from uni_wizard.dispatch.forge_lease import ForgeLease, read_lease
from uni_wizard.dispatch.lease_record import LeaseRecord
from uni_wizard.errors import LeaseLost, MeshError
from uni_wizard.forge import GiteaClient
from uni_wizard.meshfile.schema import LeaseSettings
from uni_wizard.testing import FakeClock, ForgeLine

SETTINGS = LeaseSettings(ttl_seconds=6, renew_seconds=2, margin_seconds=2, max_clock_skew_seconds=1)
TAKEOVER_WAIT = SETTINGS.ttl_seconds + SETTINGS.max_clock_skew_seconds


class Events:
    """An ``EventSink`` that keeps what it is given."""

    def __init__(self) -> None:
        self.logged: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(self, kind: str, key: str, *, data: Any = None) -> int | None:
        if any(k == key for _, k, _ in self.logged):
            return None
        self.logged.append((kind, key, dict(data or {})))
        return len(self.logged)

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.logged]


@dataclass
class Host:
    lease: ForgeLease
    line: ForgeLine  # ``down``, ``lose_next_answer``, ``fail_reads``; ``applied``: the writes that landed
    mono: FakeClock
    wall: FakeClock
    events: Events
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, {"lease": "dispatcher", **labels})


@dataclass
class World:
    forge: Forge
    settings: LeaseSettings
    client: Clients
    hosts: list[Host] = field(default_factory=list)

    def host(self, name: str, *, user: str = "alice", wall_offset: float = 0.0) -> Host:
        line = ForgeLine()
        client = self.client(user, line, retries=0)
        mono = FakeClock(1000.0)
        wall = FakeClock(1_800_000_000.0 + wall_offset)
        events, registry = Events(), CollectorRegistry()
        lease = ForgeLease(
            client, self.settings, holder=name, house="allegro", events=events, registry=registry,
            wall=wall, monotonic=mono,
        )  # fmt: skip
        host = Host(lease, line, mono, wall, events, registry)
        self.hosts.append(host)
        return host

    def advance(self, seconds: float) -> None:
        """Real time passes: every host's clocks move."""
        for host in self.hosts:
            host.mono.advance(seconds)
            host.wall.advance(seconds)

    async def on_forge(self) -> tuple[LeaseRecord | None, str | None]:
        async with GiteaClient(self.forge.url, self.forge.alice.token, registry=CollectorRegistry()) as client:
            return await read_lease(client, self.settings)


@pytest.fixture
async def world(forge: Forge) -> AsyncIterator[World]:
    async with clients(forge) as client:
        yield World(forge, SETTINGS.model_copy(update={"repo": forge.new_repo()}), client)


async def test_the_first_acquire_creates_the_branch_and_the_record(world: World) -> None:
    a = world.host("host-a")
    assert not a.lease.held and a.metric("uniwizard_lease_held") == 0.0
    with pytest.raises(LeaseLost):
        a.lease.ensure()

    assert await a.lease.acquire() is True

    assert a.lease.held and a.lease.ensure() == 1
    record, sha = await world.on_forge()
    assert record == LeaseRecord("host-a", "allegro", 1, 1_800_000_000.0, 1_800_000_000.0, 1_800_000_006.0)
    assert sha == a.lease.sha
    branches = world.forge.alice.get(f"/repos/{world.settings.repo}/branches").json()
    assert {b["name"] for b in branches} == {"main", "mesh-state"}
    assert a.events.logged == [
        (
            "lease.acquired",
            "lease:dispatcher:1",
            {"lease": "dispatcher", "holder": "host-a", "epoch": 1, "how": "created"},
        )
    ]
    assert a.metric("uniwizard_lease_held") == 1.0
    assert a.metric("uniwizard_lease_epoch") == 1.0
    assert a.metric("uniwizard_lease_transitions_total", event="acquired") == 1.0
    assert a.metric("uniwizard_lease_transitions_total", event="taken_over") == 0.0


async def test_renewing_writes_a_newer_record_under_the_same_epoch_and_not_too_often(world: World) -> None:
    a = world.host("host-a")
    assert await a.lease.acquire()
    first_sha = a.lease.sha
    writes = a.line.applied

    world.advance(0.5)
    assert await a.lease.renew() is True
    assert a.line.applied == writes  # renewed 0.5 s ago: nothing to write

    world.advance(1.5)
    assert await a.lease.renew() is True
    record, sha = await world.on_forge()
    assert record is not None and record.epoch == 1 and record.renewed == 1_800_000_002.0
    assert record.expires == 1_800_000_008.0 and record.acquired == 1_800_000_000.0
    assert sha != first_sha and a.line.applied == writes + 1
    assert a.metric("uniwizard_lease_transitions_total", event="renewed") == 1.0
    # renewals keep it held far beyond one ttl
    for _ in range(10):
        world.advance(2)
        assert await a.lease.renew()
    assert a.lease.held and a.lease.ensure() == 1


async def test_two_hosts_racing_for_a_new_lease_one_wins(world: World) -> None:
    a, b = world.host("host-a"), world.host("host-b", user="bob")
    results = await asyncio.gather(a.lease.acquire(), b.lease.acquire())
    assert sorted(results) == [False, True]
    winner, loser = (a, b) if results[0] else (b, a)
    record, _ = await world.on_forge()
    assert record is not None and record.holder == winner.lease.holder and record.epoch == 1
    assert not loser.lease.held and loser.lease.epoch == 0
    assert loser.events.logged == []


@pytest.mark.parametrize("lost_race", [0, 1])
async def test_two_standbys_racing_for_a_lapsed_lease_one_wins_with_the_next_epoch(
    world: World, forge: Forge, lost_race: int
) -> None:
    a, b, c = world.host("host-a"), world.host("host-b", user="bob"), world.host("host-c", user="bob")
    assert await a.lease.acquire()
    assert await b.lease.acquire() is False and await c.lease.acquire() is False  # both see epoch 1
    world.advance(TAKEOVER_WAIT)
    forge.faults.contents_lost_race = lost_race  # the forge answers 500 to the first write: re-read, decide
    try:
        results = await asyncio.gather(b.lease.acquire(), c.lease.acquire())
    finally:
        forge.faults.contents_lost_race = 0
    if lost_race:  # the 500 cost one host its try; the next poll settles it
        results = [r or await h.lease.acquire() for r, h in zip(results, (b, c), strict=True)]
    assert sorted(results) == [False, True]
    winner = b if results[0] else c
    record, _ = await world.on_forge()
    assert record is not None and record.holder == winner.lease.holder and record.epoch == 2
    assert winner.lease.ensure() == 2
    assert ("lease.acquired", "lease:dispatcher:2") in [(k, key) for k, key, _ in winner.events.logged]
    assert winner.events.logged[-1][2]["previous_holder"] == "host-a"
    assert winner.metric("uniwizard_lease_transitions_total", event="taken_over") == 1.0


async def test_a_standby_waits_ttl_plus_skew_on_its_own_clock_then_takes_over(world: World) -> None:
    a, b = world.host("host-a"), world.host("host-b", user="bob")
    assert await a.lease.acquire()
    assert await b.lease.acquire() is False  # first sight of A's record: B's watch starts
    world.advance(TAKEOVER_WAIT - 0.5)
    assert await b.lease.acquire() is False
    # A's own clock stopped it long before: it never renewed
    assert not a.lease.held
    with pytest.raises(LeaseLost):
        a.lease.ensure()
    world.advance(0.5)
    assert await b.lease.acquire() is True
    assert b.lease.ensure() == 2

    # A is deposed: it reports the loss once, reads B's record and stays a standby under no epoch
    assert await a.lease.renew() is False
    assert await a.lease.acquire() is False
    assert not a.lease.held and a.lease.epoch == 1
    lost = [e for e in a.events.logged if e[0] == "lease.lost"]
    assert len(lost) == 1 and lost[0][1] == "lease-lost:dispatcher:1" and "not renewed" in lost[0][2]["why"]
    assert a.metric("uniwizard_lease_transitions_total", event="lost") == 1.0
    assert a.metric("uniwizard_lease_held") == 0.0 and b.metric("uniwizard_lease_epoch") == 2.0


async def test_a_deposed_holder_learns_it_from_the_file_at_its_next_renewal(world: World) -> None:
    a, b = world.host("host-a"), world.host("host-b", user="bob")
    assert await a.lease.acquire()
    assert await b.lease.acquire() is False
    a.line.down = True  # A cannot reach the forge: its renewals do not land
    world.advance(TAKEOVER_WAIT)
    assert await b.lease.acquire() is True
    a.line.down = False
    assert await a.lease.acquire() is False  # reads B's record
    record, _ = await world.on_forge()
    assert record is not None and record.holder == "host-b" and record.epoch == 2


@pytest.mark.parametrize("skew", [-3600.0, 3600.0, -40.0, 40.0])
async def test_the_holders_wall_clock_far_off_does_not_matter(world: World, skew: float) -> None:
    a = world.host("host-a", wall_offset=skew)
    b = world.host("host-b", user="bob")
    assert await a.lease.acquire()
    for _ in range(12):  # 24 s of renewals: a standby never takes over a lease that keeps changing
        assert await b.lease.acquire() is False
        world.advance(SETTINGS.renew_seconds)
        assert await a.lease.renew() is True
    assert a.lease.ensure() == 1
    record, _ = await world.on_forge()
    assert record is not None and record.holder == "host-a"
    # A stops renewing: B takes over after ttl + skew of its own time, whatever A's clock wrote
    assert await b.lease.acquire() is False
    world.advance(TAKEOVER_WAIT)
    assert await b.lease.acquire() is True and b.lease.epoch == 2


async def test_the_holder_stops_before_expiry_when_the_forge_is_unreachable(world: World) -> None:
    a, b = world.host("host-a"), world.host("host-b", user="bob")
    assert await a.lease.acquire()
    assert await b.lease.acquire() is False
    a.line.down = True

    world.advance(SETTINGS.renew_seconds)
    assert await a.lease.renew() is True  # not renewed, but still within ttl - margin: safe to act
    assert a.lease.ensure() == 1
    assert a.metric("uniwizard_lease_transitions_total", event="renew_failed") == 1.0

    world.advance(SETTINGS.ttl_seconds - SETTINGS.margin_seconds - SETTINGS.renew_seconds)
    assert not a.lease.held  # its own clock ended it: ttl - margin after its last confirmed write
    with pytest.raises(LeaseLost):
        a.lease.ensure()
    assert await a.lease.renew() is False
    # ... while the file still names it and no standby may take it yet: the margin is real
    record, _ = await world.on_forge()
    assert record is not None and record.holder == "host-a" and record.expires > a.wall()
    assert await b.lease.acquire() is False
    assert [e[0] for e in a.events.logged] == ["lease.acquired", "lease.lost"]

    # the forge is back before anyone took over: A takes its own unchanged record again, under a new epoch
    a.line.down = False
    assert await a.lease.acquire() is True
    assert a.lease.ensure() == 2
    assert a.events.logged[-1][2]["how"] == "resumed after its own lapse"


async def test_release_lets_a_standby_take_over_at_once(world: World) -> None:
    a, b = world.host("host-a"), world.host("host-b", user="bob")
    assert await a.lease.acquire()
    assert await b.lease.acquire() is False

    await a.lease.release()

    assert not a.lease.held
    with pytest.raises(LeaseLost):
        a.lease.ensure()
    record, _ = await world.on_forge()
    assert record is not None and record.holder == "host-a" and record.expires <= record.renewed
    assert a.metric("uniwizard_lease_transitions_total", event="released") == 1.0
    assert a.events.kinds() == ["lease.acquired", "lease.released"]
    assert await b.lease.acquire() is True  # no waiting: the record says it was given up
    assert b.lease.epoch == 2 and b.events.logged[-1][2]["how"] == "released by host-a"
    await a.lease.release()  # nothing to release any more: no write
    record, _ = await world.on_forge()
    assert record is not None and record.holder == "host-b"


async def test_a_write_whose_answer_is_lost_is_settled_by_reading_the_file(world: World) -> None:
    a = world.host("host-a")
    assert await a.lease.acquire()
    world.advance(SETTINGS.renew_seconds)
    a.line.lose_next_answer = True
    assert await a.lease.renew() is True  # the PUT landed; the re-read shows the very record it sent
    record, sha = await world.on_forge()
    assert record is not None and record.renewed == a.wall() and sha == a.lease.sha
    assert a.metric("uniwizard_lease_transitions_total", event="renewed") == 1.0
    world.advance(SETTINGS.renew_seconds)
    assert await a.lease.renew() is True  # and renewing goes on from the new sha
    assert a.lease.ensure() == 1


async def test_a_lost_race_500_on_renewal_is_read_again_and_the_next_renewal_lands(world: World, forge: Forge) -> None:
    a = world.host("host-a")
    assert await a.lease.acquire()
    world.advance(SETTINGS.renew_seconds)
    forge.faults.contents_lost_race = 1
    try:
        assert await a.lease.renew() is True  # nothing committed, still within its time: held
    finally:
        forge.faults.contents_lost_race = 0
    assert a.metric("uniwizard_lease_transitions_total", event="renew_failed") == 1.0
    assert a.lease.next_renewal() == pytest.approx(SETTINGS.renew_seconds / 4)  # overdue: retried soon
    world.advance(SETTINGS.renew_seconds / 4)
    assert await a.lease.renew() is True
    assert a.lease.next_renewal() == pytest.approx(SETTINGS.renew_seconds)
    record, _ = await world.on_forge()
    assert record is not None and record.renewed == a.wall()


async def test_a_damaged_lease_file_is_a_clear_mesh_error_and_nothing_is_written(world: World) -> None:
    owner, name = world.settings.repo.split("/")
    async with GiteaClient(world.forge.url, world.forge.alice.token, registry=CollectorRegistry()) as alice:
        await alice.create_file(owner, name, SETTINGS.path, b'{"holder": "x"', "by hand", new_branch="mesh-state")
    a = world.host("host-a")
    with pytest.raises(MeshError, match=r"leases/dispatcher.json is damaged .*replace it with a valid record"):
        await a.lease.acquire()
    assert a.line.applied == 0 and not a.lease.held
    with pytest.raises(MeshError, match="damaged"):
        await world.on_forge()


async def test_a_lease_file_removed_by_hand_is_created_again_above_every_epoch_seen(world: World) -> None:
    a = world.host("host-a")
    assert await a.lease.acquire()
    await a.lease.release()
    assert await a.lease.acquire() and a.lease.epoch == 2
    owner, name = world.settings.repo.split("/")
    async with GiteaClient(world.forge.url, world.forge.alice.token, registry=CollectorRegistry()) as alice:
        await alice.delete_file(owner, name, SETTINGS.path, a.lease.sha or "", "by hand", branch="mesh-state")
    world.advance(SETTINGS.renew_seconds)
    assert await a.lease.renew() is False  # 404 on the PUT: read again, the file is gone: deposed
    assert await a.lease.acquire() is True
    assert a.lease.epoch == 3


async def test_a_release_after_a_renewal_left_unsettled_reads_the_file_and_still_releases(world: World) -> None:
    a, b = world.host("host-a"), world.host("host-b", user="bob")
    assert await a.lease.acquire()
    assert await b.lease.acquire() is False
    world.advance(SETTINGS.renew_seconds)
    a.line.lose_next_answer, a.line.fail_reads = True, 1  # the renewal lands; neither its answer nor a re-read come
    assert await a.lease.renew() is True  # unsettled, but still within its time
    landed, _ = await world.on_forge()

    await a.lease.release()  # its sha is stale: 422, read again (the renewal landed), release with the new sha

    record, _ = await world.on_forge()
    assert landed is not None and record is not None and record.epoch == 1 and record != landed
    assert record.expires <= record.renewed and not a.lease.held
    assert a.events.kinds() == ["lease.acquired", "lease.released"]
    assert await b.lease.acquire() is True and b.lease.epoch == 2
