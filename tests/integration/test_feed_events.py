"""The events the live feed gained: ``tool.called`` (every recorded Harness call), ``peer.joined`` /
``peer.left`` (a real peer daemon on loopback going away and coming back); and the feed's filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from uni_wizard import Harness, Mode
from uni_wizard.mesh.peers import PeerProber, peer_events
from uni_wizard.meshfile.schema import HostEntry, PeerSettings
from uni_wizard.observe.events import Event, EventLog
from uni_wizard.testing import FakeClock, make_harness, make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app
from uni_wizard.web.broadcast import FeedFilter


async def test_every_recorded_call_is_a_tool_called_event_with_its_record(tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    secret = tmp_path / "workspace" / "notes.txt"
    secret.write_text("the output is never in the event\n")
    harness = Harness("timmy", Mode.INTELLIGENT, runtime=make_runtime(tmp_path), task="org/repo#12")
    log = EventLog(harness.runtime.store, harness.runtime.host)
    ok = await harness.aexecute("file_read", path=str(secret))
    denied = await harness.aexecute("file_write", path="/etc/passwd", content="x")
    (first, second) = log.tail(kinds=["tool.called"])
    assert (first.repository, first.number) == ("org/repo", 12)
    assert first.data["provenance_id"] == ok.provenance_id and second.data["provenance_id"] == denied.provenance_id
    assert (first.data["tool"], first.data["status"], first.data["house"]) == ("file_read", "ok", "timmy")
    assert (second.data["status"], second.data["mode"]) == ("denied", "intelligent")
    assert first.data["duration"] >= 0 and first.data["task"] == "org/repo#12"
    assert "never in the event" not in str(first.data) and "passwd" not in str(second.data)
    harness.runtime.close()


async def test_simple_mode_and_the_setting_log_no_call(tmp_path: Path) -> None:
    simple = make_harness(tmp_path / "simple", "timmy", Mode.SIMPLE)
    await simple.aexecute("file_read", path=str(tmp_path / "missing"))
    quiet = make_harness(tmp_path / "off", "timmy", Mode.INTELLIGENT, tool_call_events=False)
    result = await quiet.aexecute("file_read", path=str(tmp_path / "missing"))
    assert result.provenance_id is not None  # the record is kept, only the event is off
    for harness in (simple, quiet):
        assert EventLog(harness.runtime.store, harness.runtime.host).tail(kinds=["tool.called"]) == []
        harness.runtime.close()


async def test_a_peer_that_leaves_and_comes_back_is_two_events(tmp_path: Path) -> None:
    peer_runtime = make_runtime(tmp_path / "peer", host="peer-b")
    me = make_runtime(tmp_path / "me", host="host-a")
    server = ThreadedServer(create_app(peer_runtime), name="peer-b").start()
    port = server.port
    log = EventLog(me.store, "host-a")
    clock = FakeClock()
    prober = PeerProber(
        (HostEntry(name="peer-b", url=server.url),),
        PeerSettings(probe_seconds=1, timeout_seconds=2),
        clock=clock,
        on_change=peer_events(lambda: log, clock=clock),
    )
    try:
        await prober.probe_once()  # unknown → up: joined
        await prober.probe_once()  # still up: nothing
        server.stop()
        clock.advance(1)
        await prober.probe_once()  # up → down: left
        await prober.probe_once()  # still down: nothing
        server = ThreadedServer(create_app(peer_runtime), port=port, name="peer-b").start()
        clock.advance(1)
        await prober.probe_once()  # down → up: joined again
    finally:
        server.stop()
        await prober.aclose()
        peer_runtime.close()
    events = log.tail(kinds=["peer.joined", "peer.left"])
    assert [(e.kind, e.data["peer"]) for e in events] == [
        ("peer.joined", "peer-b"),
        ("peer.left", "peer-b"),
        ("peer.joined", "peer-b"),
    ]
    assert events[1].data["error"] and events[0].data["status"] == 200
    me.close()


def event(
    kind: str = "issue.routed", repository: str | None = "org/repo", number: int | None = 12, **data: object
) -> Event:
    return Event(1, "2026-12-08T00:00:00.000000Z", kind, "k", "h", repository, number, dict(data))


@pytest.mark.parametrize(
    ("query", "matching", "other"),
    [
        ({"issue": "org/repo#12"}, event(), event(number=13)),
        ({"issue": "org/repo"}, event(number=99), event(repository="org/other")),
        ({"issue": "12"}, event(repository="org/other"), event(number=1)),
        ({"house": "ezra"}, event(house="ezra"), event(house="bezalel")),
        ({"kinds": ["pull.merged", "issue.routed"]}, event(), event(kind="issue.claimed")),
        ({}, event(repository=None, number=None), None),
    ],
)
def test_the_feed_filters(query: dict[str, object], matching: Event, other: Event | None) -> None:
    feed_filter = FeedFilter.of(**query)  # type: ignore[arg-type]
    assert feed_filter.matches(matching)
    assert other is None or not feed_filter.matches(other)
