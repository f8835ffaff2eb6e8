"""The Now view's parts: claims still open from the event log, the houses' queues from the forge's labels, the
breakers not closed, the snapshot's JSON, and its terminal rendering (``houses --now``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from uni_wizard.assembly.now import breakers_of
from uni_wizard.cli.now_view import house_rows, lease_line, now_lines, peer_rows
from uni_wizard.dispatch.line_view import house_states
from uni_wizard.forge.models import Issue
from uni_wizard.observe.events import Event
from uni_wizard.observe.now import (
    BreakersNow,
    HouseNow,
    LeaseNow,
    NowSnapshot,
    PeerNow,
    QueueNow,
    StepNow,
    WorkNow,
    event_time,
    open_claims,
)

REPO = "mesh/work"
T0 = datetime(2026, 12, 8, 1, 0, tzinfo=UTC).timestamp()


def at(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(seq: int, kind: str, number: int, house: str, seconds: float, **data: Any) -> Event:
    return Event(seq, at(seconds), kind, f"k{seq}", "h", REPO, number, {"house": house, **data})


def issue(number: int, *labels: str, state: str = "open") -> Issue:
    data = {"id": number, "number": number, "title": f"t{number}", "state": state}
    return Issue.model_validate(data | {"labels": [{"id": i, "name": n} for i, n in enumerate(labels)]})


def test_event_time_reads_the_store_format_and_refuses_garbage() -> None:
    assert event_time(at(90.5)) == T0 + 90.5
    assert event_time("2026-12-08T01:00:00Z") == T0
    assert event_time("yesterday") is None


def test_a_claim_stays_open_until_its_house_finishes_that_issue() -> None:
    events = [
        event(1, "issue.claimed", 1, "bezalel", 0, ttl=60),
        event(2, "issue.claimed", 2, "bezalel", 5),
        event(3, "issue.claimed", 3, "ezra", 6),
        event(4, "work.finished", 1, "ezra", 7),  # another house's finish does not close bezalel's claim
        event(5, "work.finished", 2, "bezalel", 8),
        event(6, "issue.claimed", 2, "bezalel", 20),  # claimed again (a requeue): counts from the new claim
        Event(7, at(21), "issue.claimed", "k7", "h", REPO, 9, {}),  # no house: not a worker's claim
    ]
    claims = open_claims(events)
    assert [(c.house, c.number, c.since - T0, c.ttl) for c in claims] == [
        ("bezalel", 1, 0.0, 60.0),
        ("ezra", 3, 6.0, None),
        ("bezalel", 2, 20.0, None),
    ]
    assert claims[0].task == f"{REPO}#1"


def test_each_house_queue_counts_open_issues_by_status_and_names_those_in_progress() -> None:
    listed = [
        (REPO, issue(1, "status/routed", "house/bezalel")),
        (REPO, issue(2, "status/in-progress", "house/bezalel")),
        (REPO, issue(3, "status/blocked", "house/bezalel")),
        (REPO, issue(4, "status/review", "house/bezalel")),
        (REPO, issue(5, "status/review", "house/bezalel", state="closed")),  # closed: not in the queue
        (REPO, issue(6, "status/triage", "house/ezra")),  # waiting for routing: the line, not a queue
        (REPO, issue(7, "status/in-progress")),  # no house label
        ("mesh/other", issue(2, "status/in-progress", "house/ezra")),
    ]
    states, in_progress = house_states(listed)
    assert states == {
        "bezalel": {"routed": 1, "in-progress": 1, "blocked": 1, "review": 1},
        "ezra": {"routed": 0, "in-progress": 1, "blocked": 0, "review": 0},
    }
    assert in_progress == {"bezalel": {(REPO, 2)}, "ezra": {("mesh/other", 2)}}
    assert QueueNow.from_counts(states["bezalel"]) == QueueNow(1, 1, 1, 1)


def test_only_breakers_that_are_not_closed_are_listed() -> None:
    found = breakers_of(
        {"git": "closed", "network": "open", "gitea": "half-open"},
        [{"name": "ollama", "breaker": "open"}, {"name": "llama", "breaker": "closed"}, {"name": "x"}],
        "the daemon at http://127.0.0.1:8643",
    )
    assert found.known
    assert [(b.kind, b.name, b.state) for b in found.open] == [
        ("tools", "gitea", "half-open"),
        ("tools", "network", "open"),
        ("provider", "ollama", "open"),
    ]


def snapshot(**changes: Any) -> NowSnapshot:
    work = WorkNow(REPO, 12, T0, 125.0, 2, StepNow("file_write", "ok", T0 + 100, 31))
    values: dict[str, Any] = {
        "host": "vps-a",
        "generated_at": T0 + 125,
        "houses": (
            HouseNow("bezalel", 2, 1, (work,), QueueNow(0, 1, 2, 3)),
            HouseNow("ezra", 1, None, (), None),
        ),
        "lease": LeaseNow("vps-b", "allegro", 7, False, "the forge: mesh/mesh@mesh-state:leases/dispatcher.json"),
        "peers": (PeerNow("vps-b", "up", 2.25, "syncthing", False, lease_holder=True),),
        "breakers": breakers_of({"network": "open"}, [], "the daemon at http://127.0.0.1:8643"),
        "problems": ("the queue is unknown: the forge is away",),
    }
    return NowSnapshot(**(values | changes))


def test_the_snapshot_json_has_each_house_room_and_issue_reference() -> None:
    data = snapshot().as_dict()
    bezalel, ezra = data["houses"]
    assert bezalel["free"] == 1 and ezra["free"] is None  # ezra's room is unknown (the forge was not read)
    assert bezalel["work"][0]["issue"] == f"{REPO}#12" and bezalel["work"][0]["last_step"]["provenance_id"] == 31
    assert bezalel["queue"] == {"routed": 0, "in_progress": 1, "blocked": 2, "review": 3}
    assert data["lease"]["epoch"] == 7 and data["peers"][0]["heartbeat_age_seconds"] == 2.25
    assert data["breakers"]["open"] == [{"kind": "tools", "name": "network", "state": "open"}]


def test_the_terminal_rendering_names_the_work_the_step_and_the_room() -> None:
    snap = snapshot()
    assert house_rows(snap.houses) == [
        ("bezalel", f"{REPO}#12", "file_write ok (2 steps)", "2m", "0/1/2/3", "1/2 busy"),
        ("ezra", "idle", "-", "-", "-", "-"),
    ]
    lines = now_lines(snap)
    assert lines[0] == "now on vps-a, 01:02:05 UTC"
    assert lines[1].startswith("lease: vps-b (allegro), epoch 7 [the forge:")
    assert lines[2] == "breakers: tools network open (the daemon at http://127.0.0.1:8643)"
    assert lines[3] == "problem: the queue is unknown: the forge is away"
    assert peer_rows(snap.peers) == [("vps-b", "up", "2.2 s ago via syncthing", "holder")]


def test_a_second_issue_in_hand_gets_its_own_row_and_a_fresh_claim_has_no_step_yet() -> None:
    first = WorkNow(REPO, 1, T0, 30.0, 1, StepNow("git_status", "ok", T0, 1))
    second = WorkNow(REPO, 2, T0, 3.0)
    rows = house_rows([HouseNow("bezalel", 2, 2, (first, second), QueueNow(0, 2, 0, 0))])
    assert rows[1] == ("", f"{REPO}#2", "preparing (no step yet)", "3s", "", "")


def test_unknown_breakers_no_house_and_no_lease_each_say_so() -> None:
    snap = snapshot(houses=(), lease=None, breakers=BreakersNow(False, "no daemon answered at http://x"), problems=())
    lines = now_lines(snap)
    assert lines[1] == "lease: unknown (no forge configured: gitea_url and gitea_token)"
    assert lines[2] == "breakers: unknown (no daemon answered at http://x)"
    assert lines[3].startswith("no house works on this host")
    assert (
        lease_line(LeaseNow(None, None, None, None, "this host's store"))
        == "lease: nobody holds it [this host's store]"
    )
    assert lease_line(LeaseNow(None, None, None, None, "x", error="HTTP 500")) == "lease: unreadable (HTTP 500) [x]"
