"""The event log (``observe/events.py``) on a real SQLite store: cursor, idempotency, replay, follow."""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from uni_wizard.errors import EventRejected
from uni_wizard.observe.events import Event, EventKind, EventLog, check_kind
from uni_wizard.store import Store

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "uni-wizard.db")
    yield s
    s.close()


@pytest.fixture
def log(store: Store) -> EventLog:
    return EventLog(store, "test-host")


def rows(store: Store) -> list[dict[str, object]]:
    return [dict(r) for r in store.query("SELECT * FROM events ORDER BY seq")]


async def collect(log: EventLog, since: int, stop: asyncio.Event, got: list[Event], **kwargs: object) -> None:
    async for event in log.follow(since, poll=0.02, stop=stop, **kwargs):  # type: ignore[arg-type]
        got.append(event)


async def until(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


# -- writing -------------------------------------------------------------------------


async def test_emit_returns_monotonic_seq_and_stores_the_event(log: EventLog, store: Store) -> None:
    first = await log.emit(EventKind.ISSUE_TRIAGED, "k1", repository="org/repo", number=7, data={"kind": "bug"})
    second = await log.emit("issue.routed", "k2", data={"house": "ezra"})
    third = await log.emit(EventKind.SWEEP_STARTED, "k3")
    assert first is not None and second is not None and third is not None
    assert first < second < third
    stored = rows(store)
    assert [r["seq"] for r in stored] == [first, second, third]
    assert stored[0] == {
        "seq": first,
        "at": stored[0]["at"],
        "kind": "issue.triaged",
        "key": "k1",
        "host": "test-host",
        "repository": "org/repo",
        "number": 7,
        "data_json": '{"kind":"bug"}',
    }
    assert all(TIMESTAMP.match(str(r["at"])) for r in stored)
    assert stored[2]["repository"] is None and stored[2]["number"] is None and stored[2]["data_json"] == "{}"


async def test_concurrent_emits_get_distinct_increasing_seqs_in_commit_order(log: EventLog) -> None:
    seqs = await asyncio.gather(*(log.emit("issue.commented", f"c{i}", data={"i": i}) for i in range(60)))
    assert None not in seqs
    assert len(set(seqs)) == 60
    events = log.tail(0, 1000)
    assert [e.seq for e in events] == sorted(seqs)  # type: ignore[type-var]
    assert [e.at for e in events] == sorted(e.at for e in events)  # stamped in the writer, in seq order
    assert log.last_seq() == max(seqs)  # type: ignore[type-var]


async def test_the_same_key_twice_returns_none_and_writes_nothing(log: EventLog, store: Store) -> None:
    seq = await log.emit("issue.assigned", "assign:org/repo#3:ezra", data={"house": "ezra"})
    assert seq == 1
    again = await log.emit("issue.assigned", "assign:org/repo#3:ezra", data={"house": "bezalel"})
    assert again is None
    other_kind = await log.emit("issue.requeued", "assign:org/repo#3:ezra")  # the key alone decides
    assert other_kind is None
    assert len(rows(store)) == 1
    assert rows(store)[0]["data_json"] == '{"house":"ezra"}'
    assert await log.emit("issue.assigned", "assign:org/repo#3:bezalel") == 2


def test_emit_sync_from_threads(log: EventLog, store: Store) -> None:
    results: list[int | None] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(10):
            seq = log.emit_sync("sweep.repaired", f"t{n}-{i}")
            with lock:
                results.append(seq)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 41))  # type: ignore[type-var]
    assert log.emit_sync("sweep.repaired", "t0-0") is None
    assert len(rows(store)) == 40


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["issue", "Issue.Triaged", "issue.triaged.extra", "", "issue.", ".triaged", "1ssue.triaged", "issue triaged",
     "issue-x.triaged", "a." + "b" * 80],
)  # fmt: skip
async def test_a_bad_kind_is_rejected_with_a_clear_error(log: EventLog, store: Store, kind: str) -> None:
    with pytest.raises(EventRejected, match=r"is not <word>\.<word>"):
        await log.emit(kind, "key")
    with pytest.raises(EventRejected, match=r"is not <word>\.<word>"):
        log.emit_sync(kind, "key")
    assert rows(store) == []


def test_a_bad_kind_is_a_value_error_and_known_kinds_are_valid() -> None:
    with pytest.raises(ValueError, match="e.g. 'issue.triaged'"):
        check_kind("Bad")
    with pytest.raises(EventRejected, match="string"):
        check_kind(3)  # type: ignore[arg-type]
    for kind in EventKind:
        assert check_kind(kind) == kind.value
        assert type(check_kind(kind)) is str
    assert check_kind("deploy.rolled_back") == "deploy.rolled_back"  # room for more kinds


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"key": ""}, "key"),
        ({"key": "k" * 513}, "key"),
        ({"data": {"when": {1, 2}}}, "not JSON"),
        ({"data": {"x": math.nan}}, "not JSON"),
        ({"data": ["a", "list"]}, "mapping"),
        ({"data": {"blob": "x" * 70_000}}, "bytes"),
        ({"number": "12"}, "integer"),
        ({"number": True}, "integer"),
        ({"repository": ""}, "repository"),
    ],
)
async def test_bad_key_data_or_issue_is_rejected(
    log: EventLog, store: Store, kwargs: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {"key": "k"} | kwargs
    key = args.pop("key")
    with pytest.raises(EventRejected, match=match):
        await log.emit("issue.commented", key, **args)  # type: ignore[arg-type]
    assert rows(store) == []


def test_the_log_needs_a_host(store: Store) -> None:
    with pytest.raises(EventRejected, match="host"):
        EventLog(store, "")


# -- reading ---------------------------------------------------------------------------


def seed(log: EventLog, count: int = 10) -> None:
    for i in range(1, count + 1):
        kind = EventKind.ISSUE_TRIAGED if i % 2 else EventKind.ISSUE_ROUTED
        log.emit_sync(kind, f"e{i}", repository="org/repo", number=i, data={"i": i})


def test_tail_since_limit_and_kinds(log: EventLog) -> None:
    assert log.tail() == [] and log.last_seq() == 0
    seed(log)
    assert [e.seq for e in log.tail()] == list(range(1, 11))
    assert [e.seq for e in log.tail(since=7)] == [8, 9, 10]
    assert [e.seq for e in log.tail(since=2, limit=3)] == [3, 4, 5]
    assert log.tail(since=10) == [] and log.tail(limit=0) == []
    assert [e.seq for e in log.tail(kinds=["issue.routed"])] == [2, 4, 6, 8, 10]
    assert [e.seq for e in log.tail(since=4, limit=2, kinds=[EventKind.ISSUE_TRIAGED])] == [5, 7]
    assert [e.seq for e in log.tail(kinds=["issue.routed", "issue.triaged"], limit=4)] == [1, 2, 3, 4]
    assert log.tail(kinds=["lease.lost"]) == []
    assert len(log.tail(kinds=[])) == 10  # empty: every kind
    assert [e.seq for e in log.tail(since=3, until=6)] == [4, 5, 6]
    with pytest.raises(EventRejected):
        log.tail(kinds=["Not A Kind"])
    event = log.tail(since=2, limit=1)[0]
    assert event == Event(3, event.at, "issue.triaged", "e3", "test-host", "org/repo", 3, {"i": 3})
    assert event.as_dict() == {
        "seq": 3, "at": event.at, "kind": "issue.triaged", "key": "e3", "host": "test-host",
        "repository": "org/repo", "number": 3, "data": {"i": 3},
    }  # fmt: skip


def test_recent_and_page(log: EventLog) -> None:
    seed(log)
    assert [e.seq for e in log.recent(3)] == [8, 9, 10]
    assert [e.seq for e in log.recent(2, kinds=["issue.triaged"])] == [7, 9]
    assert [e.seq for e in log.recent(2, until=5)] == [4, 5]
    page = log.page(since=4, limit=3)
    assert [e.seq for e in page.events] == [5, 6, 7] and page.last_seq == 10
    filtered = log.page(since=0, limit=100, kinds=["issue.routed"])
    assert [e.seq for e in filtered.events] == [2, 4, 6, 8, 10]
    assert log.page(since=0, limit=5000).as_dict()["last_seq"] == 10
    assert len(log.page(since=0, limit=5000).events) == 10


def test_the_log_survives_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    first = Store(path)
    log = EventLog(first, "host-a")
    assert log.emit_sync("lease.acquired", "lease:1", data={"epoch": 1}) == 1
    assert log.emit_sync("lease.lost", "lease-lost:1") == 2
    first.close()

    second = Store(path)
    try:
        again = EventLog(second, "host-b")
        assert again.last_seq() == 2
        assert [e.key for e in again.tail()] == ["lease:1", "lease-lost:1"]
        assert again.emit_sync("lease.acquired", "lease:1") is None  # the key is remembered across restarts
        # AUTOINCREMENT: a seq is never reused, even when the newest row is gone
        second.submit(lambda db: db.execute("DELETE FROM events WHERE seq = 2")).result()
        assert again.emit_sync("lease.acquired", "lease:2") == 3
        assert [(e.seq, e.host) for e in again.tail()] == [(1, "host-a"), (3, "host-b")]
    finally:
        second.close()


# -- following ------------------------------------------------------------------------


async def test_follow_replays_then_receives_new_events_and_stops_on_stop(log: EventLog) -> None:
    await log.emit("sweep.started", "before-1")
    await log.emit("sweep.finished", "before-2")
    stop = asyncio.Event()
    got: list[Event] = []
    follower = asyncio.create_task(collect(log, 1, stop, got))
    await until(lambda: len(got) == 1)  # the replay of what came after the cursor
    await log.emit("issue.triaged", "after-1", number=1)
    log.emit_sync("issue.routed", "after-2", number=1)
    assert await log.emit("issue.routed", "after-2") is None  # a duplicate: nothing new to follow
    await until(lambda: len(got) == 3)
    stop.set()
    await asyncio.wait_for(follower, 5)
    assert [e.key for e in got] == ["before-2", "after-1", "after-2"]
    assert [e.seq for e in got] == [2, 3, 4]
    await log.emit("issue.routed", "after-stop")
    assert len(got) == 3


async def test_follow_is_woken_by_an_emit_without_waiting_for_the_poll(log: EventLog) -> None:
    stop = asyncio.Event()
    got: list[Event] = []

    async def follow() -> None:
        async for event in log.follow(0, poll=30, stop=stop):
            got.append(event)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    await asyncio.to_thread(log.emit_sync, "lease.acquired", "from-a-thread")
    await until(lambda: len(got) == 1, timeout=3)  # far below the 30 s poll
    stop.set()
    await asyncio.wait_for(task, 3)  # stop interrupts the wait too
    assert got[0].key == "from-a-thread"


async def test_follow_sees_events_from_another_store_on_the_same_file(store: Store, tmp_path: Path) -> None:
    other_store = Store(store.path)
    try:
        writer = EventLog(other_store, "other-host")
        reader = EventLog(store, "test-host")
        stop = asyncio.Event()
        got: list[Event] = []
        follower = asyncio.create_task(collect(reader, 0, stop, got, kinds=["issue.claimed"]))
        await asyncio.sleep(0.05)
        await writer.emit("issue.claimed", "claim-1", repository="org/repo", number=5)
        await writer.emit("issue.commented", "comment-1")  # another kind: filtered out
        await writer.emit("issue.claimed", "claim-2", repository="org/repo", number=6)
        await until(lambda: len(got) == 2)  # by polling: the writer's EventLog cannot wake this one
        stop.set()
        await asyncio.wait_for(follower, 5)
        assert [(e.key, e.host) for e in got] == [("claim-1", "other-host"), ("claim-2", "other-host")]
    finally:
        other_store.close()


async def test_follow_pages_through_a_long_backlog(log: EventLog) -> None:
    for i in range(25):
        await log.emit("issue.commented", f"b{i}")
    stop = asyncio.Event()
    got: list[int] = []
    async for event in log.follow(0, poll=0.02, stop=stop, batch=10):
        got.append(event.seq)
        if event.seq == 25:
            stop.set()
    assert got == list(range(1, 26))


async def test_follow_with_stop_already_set_yields_nothing(log: EventLog) -> None:
    await log.emit("issue.commented", "x")
    stop = asyncio.Event()
    stop.set()
    assert [e async for e in log.follow(0, stop=stop)] == []
    with pytest.raises(EventRejected, match="poll"):
        await anext(log.follow(0, poll=0))
