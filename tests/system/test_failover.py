"""Dispatcher failover with real OS processes: three ``uni-wizard serve`` daemons with the dispatcher role, one
forge lease, a devforge on loopback (``benchmarks/failover_cluster.py`` sets it all up).

Needs only Python and the devforge. Time bounds are generous upper bounds to wait within, never assertions of
speed (``benchmarks/failover.py`` measures that).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from failover_cluster import Audit, Cluster, Daemon

from uni_wizard.meshfile.schema import LeaseSettings

LEASE = LeaseSettings()  # the shipped defaults: ttl 6 s, renew 2 s, margin 2 s, skew 1 s, standby poll 1 s
WAIT = 60.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path, lease=LEASE, poll_seconds=2.0) as started:
        yield started


@pytest.fixture
def partitioned(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path, hosts=("host-a", "host-b"), lease=LEASE, poll_seconds=2.0, proxied={"host-a"}) as started:
        yield started


async def start_first(cluster: Cluster, name: str) -> Daemon:
    """Start ``name`` alone and wait until it holds the lease, then start the others as standbys."""
    first = cluster.daemons[name]
    first.start()
    await first.wait_healthy()
    record = await cluster.wait_holder(timeout=WAIT)
    assert record.holder == name and record.epoch == 1
    for other in cluster.daemons.values():
        if other is not first:
            other.start()
    for other in cluster.daemons.values():
        await other.wait_healthy()
    return first


async def logged(daemon: Daemon, kind: str) -> list[dict[str, Any]]:
    """The daemon's events of ``kind``, once there is one (an event is logged just after the write it tells of)."""
    deadline = time.monotonic() + WAIT
    while not (events := await daemon.events(kind)):
        assert time.monotonic() < deadline, f"no {kind} event on {daemon.name}"
        await asyncio.sleep(0.1)
    return events


async def triage(cluster: Cluster, n: int) -> tuple[int, Audit]:
    """File issue ``n`` and wait until it is triaged and routed (all the dispatcher writes for it)."""
    number = await cluster.file_issue(n)
    audit = await cluster.wait_triaged(number, timeout=WAIT)
    await cluster.wait_settled(number, timeout=WAIT)
    return number, audit


async def assert_each_routed_once(cluster: Cluster, numbers: list[int]) -> list[Audit]:
    """One audit comment and at most one assignee per issue; the epochs of the audits never go down."""
    audits = []
    for number in numbers:
        found = await cluster.audits(number)
        assert len(found) == 1, (number, found)
        assert len(await cluster.assignees(number)) <= 1
        audits.append(found[0])
    epochs = [a.epoch for a in audits]
    assert epochs == sorted(epochs), audits
    return audits


async def test_kill_9_the_holder_another_takes_over_and_the_old_one_comes_back_as_a_standby(
    cluster: Cluster,
) -> None:
    a = await start_first(cluster, "host-a")
    first, audit = await triage(cluster, 1)
    assert (audit.host, audit.epoch) == ("host-a", 1)

    a.kill()
    killed = time.monotonic()
    second = await cluster.file_issue(2)
    record = await cluster.wait_holder(other_than="host-a", timeout=WAIT)
    assert record.holder in ("host-b", "host-c") and record.epoch == 2
    assert time.monotonic() - killed >= LEASE.ttl_seconds - LEASE.renew_seconds  # it waited for the lapse
    audit = await cluster.wait_triaged(second, timeout=WAIT)
    assert (audit.host, audit.epoch) == (record.holder, 2)
    new_holder = cluster.daemons[record.holder]
    acquired = await logged(new_holder, "lease.acquired")
    assert [(e["data"]["epoch"], e["data"]["previous_holder"]) for e in acquired] == [(2, "host-a")]

    # the old holder, restarted, is a standby: its record of epoch 1 is history, it never writes under it
    a.start()
    await a.wait_healthy()
    await asyncio.sleep(LEASE.ttl_seconds + LEASE.max_clock_skew_seconds + 2 * LEASE.standby_poll_seconds)
    third, audit = await triage(cluster, 3)
    assert (audit.host, audit.epoch) == (record.holder, 2)
    assert not await a.lease_held()
    assert await a.forge_writes(lease=True) == 0 and await a.forge_writes(lease=False) == 0
    # its event log (kept across the restart) shows epoch 1 acquired, and nothing since
    assert [e["data"]["epoch"] for e in await a.events("lease.acquired")] == [1]
    now = await cluster.lease_record()
    assert now is not None and (now.holder, now.epoch) == (record.holder, 2)

    audits = await assert_each_routed_once(cluster, [first, second, third])
    assert [(x.host, x.epoch) for x in audits] == [("host-a", 1), (record.holder, 2), (record.holder, 2)]


async def test_a_partitioned_holder_stops_before_its_lease_expires_and_never_writes_after(
    partitioned: Cluster,
) -> None:
    cluster = partitioned
    a = await start_first(cluster, "host-a")
    b = cluster.daemons["host-b"]
    assert a.proxy is not None
    first, audit = await triage(cluster, 1)
    assert (audit.host, audit.epoch) == ("host-a", 1)
    await asyncio.sleep(cluster.poll_seconds * 2)  # settled: a quiet moment, only lease renewals go on
    dispatch_writes = await a.forge_writes(lease=False)

    a.proxy.cut()
    # A's own clock ends its lease: it reports so while the file still names it with a future expiry,
    # and before anyone else could take over
    deadline = time.monotonic() + WAIT
    while await a.lease_held():
        assert time.monotonic() < deadline, "the partitioned holder kept acting"
        await asyncio.sleep(0.1)
    stopped_wall = time.time()
    record = await cluster.lease_record()
    assert record is not None and record.holder == "host-a" and record.epoch == 1
    assert stopped_wall < record.expires, "A stopped acting only after its recorded expiry"
    lease_writes = await a.forge_writes(lease=True)
    lost = await logged(a, "lease.lost")  # at the keeper's next tick (its renewal may still hang in the partition)
    assert [e["data"]["epoch"] for e in lost] == [1] and "not renewed" in lost[0]["data"]["why"]

    second = await cluster.file_issue(2)
    record = await cluster.wait_holder(other_than="host-a", timeout=WAIT)
    assert (record.holder, record.epoch) == ("host-b", 2)
    audit = await cluster.wait_triaged(second, timeout=WAIT)
    assert (audit.host, audit.epoch) == ("host-b", 2)

    # the partition heals: A reads B's record and stays a standby; nothing is written under epoch 1
    a.proxy.heal()
    await asyncio.sleep(LEASE.ttl_seconds + 2 * LEASE.standby_poll_seconds)
    third, audit = await triage(cluster, 3)
    assert (audit.host, audit.epoch) == ("host-b", 2)
    assert not await a.lease_held() and await b.lease_held()
    assert await a.forge_writes(lease=False) == dispatch_writes
    assert await a.forge_writes(lease=True) == lease_writes
    assert [e["data"]["epoch"] for e in await a.events("lease.acquired")] == [1]
    await assert_each_routed_once(cluster, [first, second, third])


async def test_a_graceful_stop_releases_the_lease_and_a_standby_takes_over_at_once(cluster: Cluster) -> None:
    a = await start_first(cluster, "host-a")
    assert a.terminate() == 0
    record = await cluster.wait_holder(other_than="host-a", timeout=WAIT)
    assert record.epoch == 2
    acquired = await logged(cluster.daemons[record.holder], "lease.acquired")
    assert [(e["data"]["epoch"], e["data"]["how"]) for e in acquired] == [(2, "released by host-a")]
    released = a.events_from_store("lease.released")
    assert [e["data"]["epoch"] for e in released] == [1]
