"""Peers' ``house.outcome`` telemetry into this host's routing history: the spool reader on a plain
directory, with ``OutcomeImporter`` as its ``on_event``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.dispatch.history import RoutingLedger, outcome_data
from uni_wizard.errors import StoreError
from uni_wizard.harness.runtime import Runtime
from uni_wizard.mesh.outcomes import OutcomeImporter
from uni_wizard.mesh.spool import SpoolWriter
from uni_wizard.mesh.spool_files import HostFiles, JsonState
from uni_wizard.mesh.spool_reader import SpoolReader
from uni_wizard.observe.events import EventKind, EventLog
from uni_wizard.store import Store
from uni_wizard.testing import make_runtime
from uni_wizard.work.outcome import outcome_key, record_outcome


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "shared"
    path.mkdir()
    return path


@pytest.fixture
def store_b(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "b" / "uni-wizard.db")
    yield store
    store.close()


def reader_for(folder: Path, tmp_path: Path, importer: OutcomeImporter) -> SpoolReader:
    state = JsonState(tmp_path / "state-b" / "spool-reader.json")
    return SpoolReader(folder, "b", ("a", "b"), state, on_event=importer)


def line(seq: int, kind: str = EventKind.HOUSE_OUTCOME, host: str = "a", **patch: Any) -> bytes:
    data = {**outcome_data("bezalel", "bug", "mesh/work", seq, success=seq % 2 == 1, duration=float(seq)), **patch}
    event = {"seq": seq, "at": "2026-01-01T00:00:00.000000Z", "kind": kind, "key": f"k{seq}", "host": host,
             "repository": "mesh/work", "number": seq, "data": data}  # fmt: skip
    return json.dumps(event).encode() + b"\n"


def imported(store: Store) -> list[tuple[Any, ...]]:
    query = "SELECT origin_host, origin_seq, house, number, outcome FROM house_outcomes ORDER BY origin_seq"
    return [tuple(row) for row in store.query(query)]


def test_outcome_lines_are_imported_once_and_a_partial_one_once_completed(folder, tmp_path, store_b) -> None:
    telemetry = HostFiles(folder, "a").telemetry_dir
    telemetry.mkdir(parents=True)
    path = telemetry / "2026-01-01.jsonl"
    partial = line(6)
    path.write_bytes(
        line(1)
        + line(2, kind="issue.triaged")  # another kind: ignored
        + line(1)  # a duplicate line
        + line(3, outcome="merged")  # bad data: refused, nothing written
        + line(4, host="c")  # names another host than its directory: refused
        + line(5)
        + partial[:20]
    )
    importer = OutcomeImporter(RoutingLedger(store_b, host="b"))
    reader = reader_for(folder, tmp_path, importer)
    reader.read_once()
    assert imported(store_b) == [("a", 1, "bezalel", 1, "success"), ("a", 5, "bezalel", 5, "success")]
    assert (importer.imported, importer.refused) == (2, 2)
    assert reader.telemetry["a"].duplicates == 1

    with path.open("ab") as sink:
        sink.write(partial[20:])
    reader.read_once()
    reader.read_once()
    assert [row[1] for row in imported(store_b)] == [1, 5, 6]

    # the file read again from the start (the reader's state lost): nothing is imported twice
    (tmp_path / "state-b" / "spool-reader.json").unlink()
    again = OutcomeImporter(RoutingLedger(store_b, host="b"))
    reader_for(folder, tmp_path, again).read_once()
    assert (again.imported, len(imported(store_b))) == (0, 3)
    assert RoutingLedger(store_b, host="b").history("bug")["bezalel"].attempts == 3


def test_a_store_failure_stops_the_pass_and_the_line_is_delivered_again(folder, tmp_path, store_b) -> None:
    telemetry = HostFiles(folder, "a").telemetry_dir
    telemetry.mkdir(parents=True)
    (telemetry / "2026-01-01.jsonl").write_bytes(line(1) + line(2) + line(3))
    importer = OutcomeImporter(RoutingLedger(store_b, host="b"))
    calls: list[int] = []

    def flaky(peer: str, event: dict[str, Any]) -> None:
        calls.append(event["seq"])
        if calls == [1, 2]:
            raise StoreError("database is locked")
        importer(peer, event)

    reader = reader_for(folder, tmp_path, importer)
    reader.on_event = flaky
    with pytest.raises(StoreError):
        reader.read_once()
    reader.read_once()
    assert calls == [1, 2, 2, 3]
    assert [row[1] for row in imported(store_b)] == [1, 2, 3]
    stats = reader.telemetry["a"]
    assert (stats.last_seq, stats.events, stats.duplicates, stats.gaps) == (3, 3, 0, 0)


@pytest.fixture
def runtime_a(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "a")
    yield rt
    rt.close()


def test_an_outcome_recorded_on_one_host_reaches_the_others_history(folder, tmp_path, runtime_a, store_b) -> None:
    events = EventLog(runtime_a.store, "a")

    async def finish() -> None:
        for number, success in ((1, True), (2, False)):
            await record_outcome(
                RoutingLedger(runtime_a.store, clock=lambda: 104.0), events, house="ezra", kind="docs", repository="mesh/work", number=number,
                success=success, started=100.0, clock=lambda: 104.0,
            )  # fmt: skip

    asyncio.run(finish())
    writer = SpoolWriter(folder, "a", events, JsonState(tmp_path / "state-a" / "spool-writer.json"))
    writer.tick()
    reader_for(folder, tmp_path, OutcomeImporter(RoutingLedger(store_b, host="b"))).read_once()
    outcome = events.tail(kinds=[EventKind.HOUSE_OUTCOME])[0]
    assert outcome.key == outcome_key("mesh/work", 1, "ezra", 100.0)
    assert outcome.data == {"house": "ezra", "kind": "docs", "repository": "mesh/work", "number": 1,
                            "outcome": "success", "duration": 4.0}  # fmt: skip
    history_b = RoutingLedger(store_b, host="b").history("docs")["ezra"]
    assert (history_b.successes, history_b.attempts) == (1, 2)
    # host a's own view has them once, as its own (its reader never reads its own directory)
    assert RoutingLedger(runtime_a.store).origins("docs") == {"ezra": {"": 2}}
