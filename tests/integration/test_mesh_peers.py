"""Peer probes over real loopback HTTP: a real daemon app that is up, a port nobody listens on, a slow
server, a server answering as another host; and the peer metrics read at scrape time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_http import LoopbackServer, json_reply, slow_reply, unused_port
from prometheus_client import CollectorRegistry

from uni_wizard.mesh.peers import PeerCollector, PeerProber, heartbeat_age
from uni_wizard.mesh.spool_reader import PeerHeartbeat
from uni_wizard.meshfile.schema import HostEntry, PeerSettings
from uni_wizard.testing import FakeClock, make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app


@pytest.fixture
def daemon_up(tmp_path: Path) -> Iterator[str]:
    runtime = make_runtime(tmp_path, host="peer-up")
    with ThreadedServer(create_app(runtime), name="peer-up") as server:
        yield server.url
    runtime.close()


async def test_one_up_one_down_one_slow_one_impostor(daemon_up: str) -> None:
    with LoopbackServer() as slow, LoopbackServer() as impostor:
        slow.route("GET", "/health", slow_reply(2.0, '{"status": "ok", "host": "peer-slow"}'))
        impostor.route("GET", "/health", json_reply({"status": "ok", "host": "somebody-else"}))
        peers = (
            HostEntry(name="peer-up", url=daemon_up),
            HostEntry(name="peer-down", url=f"http://127.0.0.1:{unused_port()}"),
            HostEntry(name="peer-slow", url=slow.url),
            HostEntry(name="peer-impostor", url=impostor.url),
        )
        clock = FakeClock()
        prober = PeerProber(peers, PeerSettings(probe_seconds=1, timeout_seconds=0.3), clock=clock)
        try:
            results = await prober.probe_once()
        finally:
            await prober.aclose()
    up, down, late, wrong = (results[p.name] for p in peers)
    assert up.up is True and up.status == 200 and up.last_up_at == clock() and up.version
    assert down.up is False and "unreachable" in (down.error or "") and down.last_up_at is None
    assert late.up is False and "no answer within 0.3 s" in (late.error or "")
    assert wrong.up is False and "answers as host 'somebody-else'" in (wrong.error or "")


async def test_a_peer_that_goes_down_keeps_its_last_up_time_and_the_metrics_follow(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, host="peer-a")
    server = ThreadedServer(create_app(runtime), name="peer-a").start()
    clock = FakeClock()
    prober = PeerProber((HostEntry(name="peer-a", url=server.url),), PeerSettings(timeout_seconds=1), clock=clock)
    registry = CollectorRegistry()
    beats: dict[str, PeerHeartbeat] = {}
    registry.register(PeerCollector(prober, lambda: beats, clock=clock))
    try:
        assert registry.get_sample_value("uniwizard_peer_up", {"peer": "peer-a"}) is None  # not probed yet
        await prober.probe_once()
        first_up = clock()
        assert registry.get_sample_value("uniwizard_peer_up", {"peer": "peer-a"}) == 1.0
        server.stop()
        clock.advance(7)
        await prober.probe_once()
    finally:
        await prober.aclose()
        runtime.close()
    health = prober.results["peer-a"]
    assert health.up is False and health.last_up_at == first_up
    assert registry.get_sample_value("uniwizard_peer_up", {"peer": "peer-a"}) == 0.0
    # without a Syncthing heartbeat, the last ok /health is the heartbeat
    assert registry.get_sample_value("uniwizard_peer_heartbeat_age_seconds", {"peer": "peer-a"}) == 7.0
    beats["peer-a"] = PeerHeartbeat("peer-a", clock() - 2.5, 9, clock(), {})
    assert registry.get_sample_value("uniwizard_peer_heartbeat_age_seconds", {"peer": "peer-a"}) == 2.5


def test_heartbeat_age_prefers_syncthing_and_never_goes_negative() -> None:
    beat = PeerHeartbeat("p", time=110.0, seq=1, seen_at=100.0, data={})
    assert heartbeat_age(100.0, beat, None) == (0.0, "syncthing")  # the peer's clock runs ahead
    assert heartbeat_age(130.0, beat, None) == (20.0, "syncthing")
    assert heartbeat_age(130.0, None, None) == (None, None)


async def test_run_probes_every_interval_until_stopped(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/health", json_reply({"status": "ok", "host": "peer"}))
    prober = PeerProber((HostEntry(name="peer", url=loopback.url),), PeerSettings(probe_seconds=0.05))
    stop = asyncio.Event()
    task = asyncio.create_task(prober.run(stop))
    try:
        while len(loopback.requests) < 3:
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await prober.aclose()
    assert prober.results["peer"].up is True
