"""Provenance: an append-only, hash-chained record of every INTELLIGENT and SOVEREIGN call.

Each record's ``hash`` is sha256 over the canonical JSON of its fields, its id
and the previous record's hash; ``verify()`` recomputes the chain and names the
first record that does not match. Appends go through the store's group commit:
``append`` resolves only after the record is committed with ``synchronous=FULL``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ProvenanceBroken, StoreError
from ..store import Store

__all__ = ["GENESIS", "ProvenanceLog", "ProvenanceRecord", "canonical_json", "digest", "redact"]

GENESIS = "0" * 64
Job = Callable[[sqlite3.Connection], object]
_SECRET_KEY = re.compile(r"token|secret|passw(or)?d|api[_-]?key|authorization|credential|private[_-]?key", re.I)
REDACTED = "***"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return sha256_text(canonical_json(value))


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced by ``***``."""
    if isinstance(value, Mapping):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class ProvenanceRecord:
    """One call as the store keeps it (``id``/``prev_hash``/``hash`` are set on append)."""

    at: str
    house: str
    host: str
    mode: str
    tool: str
    task: str | None
    args_digest: str
    args_json: str
    output_digest: str | None
    output_json: str | None
    status: str
    error: str | None
    error_type: str | None
    duration: float
    attempts: int
    decision_json: str
    id: int | None = None
    prev_hash: str | None = None
    hash: str | None = None

    def chained(self, record_id: int, prev_hash: str) -> ProvenanceRecord:
        fields = asdict(self) | {"id": record_id, "prev_hash": prev_hash, "hash": None}
        fields["hash"] = _hash(fields)
        return ProvenanceRecord(**fields)


def _hash(fields: Mapping[str, Any]) -> str:
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


_COLUMNS = tuple(ProvenanceRecord.__dataclass_fields__)
# the column names are this module's constants, never input
_INSERT = f"INSERT INTO provenance ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608


class ProvenanceLog:
    """Append, read and verify the provenance chain of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, record: ProvenanceRecord, *, also: Job | None = None) -> Future[int]:
        """Queue ``record`` (and ``also``, run in the same transaction); the future gives its id once committed."""
        return self.store.submit(self._job(record, also))

    async def aappend(self, record: ProvenanceRecord, *, also: Job | None = None) -> int:
        """``append`` for asyncio: returns the record's id once it is committed."""
        return await self.store.asubmit(self._job(record, also))

    @staticmethod
    def _job(record: ProvenanceRecord, also: Job | None) -> Callable[[sqlite3.Connection], int]:
        def write(db: sqlite3.Connection) -> int:
            last = db.execute("SELECT id, hash FROM provenance ORDER BY id DESC LIMIT 1").fetchone()
            record_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            row = record.chained(record_id, prev)
            db.execute(_INSERT, tuple(getattr(row, c) for c in _COLUMNS))
            if also is not None:
                also(db)
            return record_id

        return write

    def get(self, record_id: int) -> ProvenanceRecord:
        rows = self.store.query("SELECT * FROM provenance WHERE id = ?", (record_id,))
        if not rows:
            raise StoreError(f"no provenance record {record_id}")
        return _record(rows[0])

    def tail(self, count: int = 20, *, task: str | None = None) -> list[ProvenanceRecord]:
        if task is None:
            rows = self.store.query("SELECT * FROM provenance ORDER BY id DESC LIMIT ?", (count,))
        else:
            rows = self.store.query("SELECT * FROM provenance WHERE task = ? ORDER BY id DESC LIMIT ?", (task, count))
        return [_record(r) for r in reversed(rows)]

    def count(self) -> int:
        return int(self.store.query("SELECT count(*) FROM provenance")[0][0])

    def __iter__(self) -> Iterator[ProvenanceRecord]:
        cursor = self.store.connection().execute("SELECT * FROM provenance ORDER BY id")
        for row in cursor:
            yield _record(row)

    def verify(self) -> int:
        """Check the whole chain; return how many records verified.

        Raises ``ProvenanceBroken`` naming the first record whose hash, link or id is wrong.
        """
        prev_hash, expected_id, count = GENESIS, 1, 0
        for record in self:
            assert record.id is not None
            if record.id != expected_id:
                raise ProvenanceBroken(expected_id, f"missing; the next record present is {record.id}")
            if record.prev_hash != prev_hash:
                raise ProvenanceBroken(record.id, "its prev_hash does not match the previous record's hash")
            if _hash(asdict(record)) != record.hash:
                raise ProvenanceBroken(record.id, "its contents do not match its hash (edited after the fact)")
            prev_hash, expected_id, count = record.hash, expected_id + 1, count + 1
        return count


def _record(row: sqlite3.Row) -> ProvenanceRecord:
    return ProvenanceRecord(**{c: row[c] for c in _COLUMNS})
