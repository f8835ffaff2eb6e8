"""Routing history from every host: ``RoutingLedger.import_outcome`` over a real store (migration 5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.dispatch.history import RoutingLedger, outcome_data
from uni_wizard.dispatch.routing import HouseHistory
from uni_wizard.errors import EventRejected
from uni_wizard.migrations import MIGRATIONS
from uni_wizard.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "state" / "uni-wizard.db")
    yield store
    store.close()


def data(house: str = "bezalel", *, success: bool = True, kind: str = "bug", number: int = 7) -> dict[str, Any]:
    return outcome_data(house, kind, "mesh/work", number, success=success, duration=2.0)


def rows(store: Store) -> list[tuple[Any, ...]]:
    query = "SELECT house, outcome, origin_host, origin_seq, at FROM house_outcomes ORDER BY id"
    return [tuple(row) for row in store.query(query)]


def test_an_import_is_written_once_per_host_and_seq(store: Store) -> None:
    ledger = RoutingLedger(store, host="hub", clock=lambda: 1_700_000_000.0)
    assert ledger.import_outcome("vps-a", 4, data(), at="2026-01-02T03:04:05.250000Z") is True
    assert ledger.import_outcome("vps-a", 4, data()) is False  # a re-read line
    assert ledger.import_outcome("vps-a", 4, data(success=False)) is False  # same seq: still the same event
    assert ledger.import_outcome("vps-b", 4, data(success=False), at="yesterday") is True  # another host's seq 4
    assert rows(store) == [
        ("bezalel", "success", "vps-a", 4, "2026-01-02T03:04:05.250000Z"),
        ("bezalel", "failure", "vps-b", 4, "2023-11-14T22:13:20.000000Z"),  # not a timestamp: now
    ]


def test_this_hosts_own_events_are_never_imported(store: Store) -> None:
    ledger = RoutingLedger(store, host="hub")
    assert ledger.import_outcome("hub", 1, data()) is False
    assert rows(store) == []


def test_import_needs_the_hosts_name(store: Store) -> None:
    with pytest.raises(EventRejected, match="this host's name"):
        RoutingLedger(store).import_outcome("vps-a", 1, data())


@pytest.mark.parametrize(
    ("host", "seq", "patch", "message"),
    [
        ("", 1, {}, "host"),
        ("vps-a", 0, {}, "seq"),
        ("vps-a", True, {}, "seq"),
        ("vps-a", 1, {"house": ""}, "house"),
        ("vps-a", 1, {"kind": 3}, "kind"),
        ("vps-a", 1, {"repository": None}, "repository"),
        ("vps-a", 1, {"number": "7"}, "number"),
        ("vps-a", 1, {"number": True}, "number"),
        ("vps-a", 1, {"outcome": "merged"}, "outcome is one of success, failure"),
        ("vps-a", 1, {"duration": -1}, "duration"),
        ("vps-a", 1, {"duration": float("nan")}, "duration"),
        ("vps-a", 1, {"duration": "2"}, "duration"),
    ],
)
def test_bad_data_is_refused_and_nothing_is_written(
    store: Store, host: str, seq: Any, patch: dict[str, Any], message: str
) -> None:
    ledger = RoutingLedger(store, host="hub")
    with pytest.raises(EventRejected, match=message):
        ledger.import_outcome(host, seq, {**data(), **patch})
    assert rows(store) == []


def test_data_that_is_not_a_mapping_is_refused(store: Store) -> None:
    with pytest.raises(EventRejected, match="mapping"):
        RoutingLedger(store, host="hub").import_outcome("vps-a", 1, ["bezalel"])  # type: ignore[arg-type]


def test_history_sums_local_and_imported_outcomes(store: Store) -> None:
    ledger = RoutingLedger(store, host="hub")
    ledger.record_outcome("bezalel", "bug", "mesh/work", 1, success=True, duration=1.0)
    ledger.record_outcome("ezra", "bug", "mesh/work", 2, success=False, duration=3.0)
    ledger.import_outcome("vps-a", 1, {**data(success=False), "duration": 5.0})
    ledger.import_outcome("vps-a", 2, data())
    ledger.import_outcome("vps-b", 9, data("ezra"))
    ledger.import_outcome("vps-b", 10, data("ezra", kind="docs"))
    assert ledger.history("bug") == {
        "bezalel": HouseHistory(2, 3, pytest.approx(8.0 / 3), recent_successes=1.64, recent_failures=0.8),
        "ezra": HouseHistory(1, 2, 2.5, recent_successes=1.0, recent_failures=0.8),  # decayed in finishing order
    }
    assert ledger.origins("bug") == {"bezalel": {"": 1, "vps-a": 2}, "ezra": {"": 1, "vps-b": 1}}


def test_migration_5_keeps_old_rows_as_this_hosts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT)")
    for version in range(1, 5):
        for statement in MIGRATIONS[version - 1].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (?, 'x')", (version,))
    db.execute(
        "INSERT INTO house_outcomes (at, house, kind, repository, number, outcome, duration)"
        " VALUES ('2026-01-01T00:00:00Z', 'ezra', 'bug', 'mesh/work', 1, 'success', 1.0)"
    )
    db.commit()
    db.close()
    store = Store(path)
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 5
        assert [tuple(r) for r in store.query("SELECT house, origin_host, origin_seq FROM house_outcomes")] == [
            ("ezra", "", None)
        ]
        RoutingLedger(store).record_outcome("ezra", "bug", "mesh/work", 2, success=True, duration=1.0)  # NULL seqs
        assert RoutingLedger(store).origins("bug") == {"ezra": {"": 2}}
    finally:
        store.close()
