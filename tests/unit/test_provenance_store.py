"""The SQLite store, the provenance chain (tamper detection) and the approval queue, on real SQLite files."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from uni_wizard.errors import ApprovalError, NotAuthorized, ProvenanceBroken, RecordNotFound, StoreError
from uni_wizard.harness.approvals import ApprovalQueue, ApprovalState
from uni_wizard.harness.provenance import ProvenanceLog, ProvenanceRecord, redact
from uni_wizard.store import MIGRATIONS, Store, utc_now
from uni_wizard.testing import FakeClock


def record(tool: str = "echo", status: str = "ok") -> ProvenanceRecord:
    return ProvenanceRecord(
        at=utc_now(),
        house="timmy",
        host="h",
        mode="intelligent",
        tool=tool,
        task=None,
        args_digest="d",
        args_json="{}",
        output_digest="o",
        output_json=None,
        status=status,
        error=None,
        error_type=None,
        duration=0.001,
        attempts=1,
        decision_json="{}",
    )


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "state" / "uw.db")
    yield s
    s.close()


def test_store_is_wal_with_schema_version(store: Store) -> None:
    conn = store.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert store.schema_version() == len(MIGRATIONS)
    assert store.migrate() == len(MIGRATIONS)  # idempotent
    assert store.writable()


def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    Store(tmp_path / "a.db").close()
    with sqlite3.connect(tmp_path / "a.db") as db:
        db.execute("INSERT INTO schema_version VALUES (99, 'x')")
    with pytest.raises(StoreError, match="schema version 99, newer"):
        Store(tmp_path / "a.db")


def test_store_path_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the data directory"):
        Store(tmp_path / "file" / "sub" / "a.db")


def test_utc_timestamps_have_one_format() -> None:
    assert utc_now(lambda: 0.5) == "1970-01-01T00:00:00.500000Z"


def test_chain_appends_and_verifies(store: Store) -> None:
    log = ProvenanceLog(store)
    ids = [log.append(record(f"t{i}")).result(timeout=10) for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert log.verify() == 5
    first, second = log.get(1), log.get(2)
    assert first.prev_hash == "0" * 64 and second.prev_hash == first.hash
    assert [r.tool for r in log.tail(2)] == ["t3", "t4"]


def test_a_lone_surrogate_in_any_text_is_stored_as_its_escape_and_the_chain_verifies(store: Store) -> None:
    # a hostile argument ('\udcff' decodes from JSON's "\\udcff") echoed in an error message must not make the
    # record unwritable: then the call would run unrecorded
    log = ProvenanceLog(store)
    hostile = dataclasses.replace(record(status="error"), error="no such path '\udcff'", task="t\ud800")
    record_id = log.append(hostile).result(timeout=10)
    kept = log.get(record_id)
    assert kept.error == "no such path '\\udcff'" and kept.task == "t\\ud800"
    assert log.verify() == 1


async def test_concurrent_appends_share_commits_and_keep_the_chain(store: Store) -> None:
    log = ProvenanceLog(store)
    ids = await asyncio.gather(*(log.aappend(record(f"c{i}")) for i in range(200)))
    assert sorted(ids) == list(range(1, 201))
    assert log.verify() == 200


@pytest.mark.parametrize(
    ("tamper", "broken_id", "why"),
    [
        ("UPDATE provenance SET tool='rm' WHERE id=3", 3, "contents do not match its hash"),
        ("UPDATE provenance SET status='ok', error=NULL WHERE id=2", 2, "contents do not match its hash"),
        ("DELETE FROM provenance WHERE id=2", 2, "missing"),
        ("UPDATE provenance SET prev_hash='0' WHERE id=4", 4, "prev_hash does not match"),
    ],
)
def test_tampering_is_detected_and_named(store: Store, tamper: str, broken_id: int, why: str) -> None:
    log = ProvenanceLog(store)
    for i in range(5):
        log.append(record(f"t{i}", status="error" if i == 1 else "ok")).result(timeout=10)
    with sqlite3.connect(store.path) as db:
        db.execute(tamper)
    with pytest.raises(ProvenanceBroken) as err:
        log.verify()
    assert err.value.record_id == broken_id and why in str(err.value)


def test_rehashing_a_record_breaks_the_next_link(store: Store) -> None:
    """Editing a row and recomputing its hash still breaks the chain at the following record."""
    log = ProvenanceLog(store)
    for i in range(3):
        log.append(record(f"t{i}")).result(timeout=10)
    forged = (
        log.get(2)
        .__class__(**{**log.get(2).__dict__, "tool": "forged", "hash": None, "id": None, "prev_hash": None})
        .chained(2, log.get(1).hash or "")
    )
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE provenance SET tool=?, hash=? WHERE id=2", (forged.tool, forged.hash))
    with pytest.raises(ProvenanceBroken) as err:
        log.verify()
    assert err.value.record_id == 3


def test_a_failing_job_does_not_lose_the_others(store: Store) -> None:
    log = ProvenanceLog(store)

    def bad(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO no_such_table VALUES (1)")

    futures = [log.append(record("a")), store.submit(bad), log.append(record("b"))]
    assert futures[0].result(timeout=10) in (1, 2) and futures[2].result(timeout=10) in (1, 2)
    with pytest.raises(StoreError, match="no_such_table"):
        futures[1].result(timeout=10)
    assert log.verify() == 2


def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    s = Store(tmp_path / "c.db")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.submit(lambda db: None)


def test_redact_nested_secrets() -> None:
    assert redact({"headers": {"Authorization": "token x"}, "password": "p", "list": [{"api_key": "k"}], "n": 1}) == {
        "headers": {"Authorization": "***"},
        "password": "***",
        "list": [{"api_key": "***"}],
        "n": 1,
    }


# -- approvals -----------------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(store: Store, clock: FakeClock) -> ApprovalQueue:
    return ApprovalQueue(store, approvers={"timmy", "alex"}, ttl=timedelta(days=7), clock=clock)


def ask(queue: ApprovalQueue, digest: str = "d1") -> int:
    return queue.request(
        house="bezalel", tool="git_push", args_digest=digest, args_json="{}", task="t", reason="sovereign"
    ).id


def test_approval_lifecycle_with_audit(queue: ApprovalQueue) -> None:
    approval_id = ask(queue)
    assert ask(queue) == approval_id  # the same call does not queue twice
    assert queue.take_approved(house="bezalel", tool="git_push", args_digest="d1") is None
    approved = queue.approve(approval_id, actor="timmy", note="ok")
    assert (approved.state, approved.decided_by, approved.note) == (ApprovalState.APPROVED, "timmy", "ok")
    taken = queue.take_approved(house="bezalel", tool="git_push", args_digest="d1")
    assert taken is not None and taken.state is ApprovalState.CONSUMED
    assert queue.take_approved(house="bezalel", tool="git_push", args_digest="d1") is None  # used once
    assert [(h["from_state"], h["to_state"], h["actor"]) for h in queue.history(approval_id)] == [
        (None, "pending", "bezalel"),
        ("pending", "approved", "timmy"),
        ("approved", "consumed", "bezalel"),
    ]


def test_only_approvers_decide(queue: ApprovalQueue) -> None:
    approval_id = ask(queue)
    with pytest.raises(NotAuthorized, match="'ezra' may not approve"):
        queue.approve(approval_id, actor="ezra")
    assert queue.get(approval_id).state is ApprovalState.PENDING  # nothing changed
    queue.reject(approval_id, actor="alex", note="no")  # the owner may decide too
    with pytest.raises(ApprovalError, match="is rejected, not pending"):
        queue.approve(approval_id, actor="timmy")
    with pytest.raises(RecordNotFound, match="no approval request 999"):
        queue.approve(999, actor="timmy")


def test_requests_expire_after_seven_days_and_are_kept(queue: ApprovalQueue, clock: FakeClock) -> None:
    pending = ask(queue, "p")
    approved = ask(queue, "a")
    queue.approve(approved, actor="timmy")
    clock.advance(timedelta(days=7).total_seconds() - 1)
    assert queue.get(pending).state is ApprovalState.PENDING
    clock.advance(2)
    assert queue.expire_due() == 2
    assert {a.state for a in queue.find()} == {ApprovalState.EXPIRED}  # marked, never deleted
    assert queue.take_approved(house="bezalel", tool="git_push", args_digest="a") is None
    with pytest.raises(ApprovalError, match="expired, not pending"):
        queue.approve(pending, actor="timmy")
    assert ask(queue, "p") != pending  # a fresh request after expiry
