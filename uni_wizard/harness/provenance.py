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
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ProvenanceBroken, RecordNotFound
from ..store import Store

__all__ = [
    "GENESIS",
    "MAX_STORED_OUTPUT",
    "MAX_STORED_STRING",
    "REDACTOR",
    "ProvenanceLog",
    "ProvenanceRecord",
    "Redactor",
    "canonical_json",
    "capped",
    "digest",
    "redact",
    "stored_output",
]

GENESIS = "0" * 64
Job = Callable[[sqlite3.Connection], object]
_SECRET_KEY = re.compile(
    r"token|secret|passw(or)?d|api[_-]?key|authorization|credential|private[_-]?key|cookie|session", re.I
)
REDACTED = "***"
# Secrets inside text, by value: an Authorization or Cookie header line, a bearer token, a URL's
# userinfo, a token-like query parameter.
_HEADER_LINE = re.compile(
    r"(?im)\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key|x-gitea-signature)(\s*[:=]\s*)[^\r\n]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{12,}")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]+@")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:access_token|token|api[_-]?key|apikey|key|secret|client_secret|password|passwd|pwd|sig|signature"
    r"|auth|private_token|session(?:id)?|code)=)[^&#\s\"']+"
)
MIN_SECRET_CHARS = 6  # shorter known values are not redacted by value (they would blank ordinary words)
# What a record keeps: a string argument longer than this is cut to an excerpt with its length and digest;
# an output (SOVEREIGN mode) larger than MAX_STORED_OUTPUT characters of JSON is kept as a digest and an excerpt.
MAX_STORED_STRING = 4096
MAX_STORED_OUTPUT = 256 * 1024
_EXCERPT = 1024


class Redactor:
    """Replaces secrets with ``***``: values under secret-looking keys, secrets recognisable in text
    (Authorization and Cookie headers, bearer tokens, URL userinfo, token-like query parameters) and
    the known secret values of this host (``add``: the API token, the forge token, the webhook secret...)."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._known: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in known:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Redact ``value`` wherever it appears from now on (values under 6 characters are ignored)."""
        if value and len(value) >= MIN_SECRET_CHARS and value not in self._known:
            self._known.add(value)
            ordered = sorted(self._known, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def text(self, value: str) -> str:
        """``value`` with every secret found in it replaced."""
        if self._pattern is not None:
            value = self._pattern.sub(REDACTED, value)
        value = _HEADER_LINE.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", value)
        value = _BEARER.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", value)
        value = _USERINFO.sub(lambda m: f"{m[1]}{REDACTED}@", value)
        return _QUERY_SECRET.sub(lambda m: f"{m[1]}{REDACTED}", value)

    def __call__(self, value: Any) -> Any:
        """A copy of ``value`` (JSON-like) with secrets replaced, by key and by value."""
        if isinstance(value, Mapping):
            return {k: REDACTED if _SECRET_KEY.search(str(k)) else self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


REDACTOR = Redactor()  # the process's: every Runtime adds its host's secrets to it


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON; a lone surrogate (from a hostile argument) is written as its escape, so the
    text is always valid UTF-8 (SQLite and hashing need it)."""
    text: str = storable_text(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str))
    return text


def storable_text(value: Any) -> Any:
    """``value`` as SQLite can store it: a string holding a lone surrogate (a hostile argument echoed in an
    error message) gets it written as its escape; anything else is returned as it is."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return sha256_text(canonical_json(value))


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets replaced by ``***`` (``REDACTOR``: by key, in text, known values)."""
    return REDACTOR(value)


def capped(value: Any, limit: int = MAX_STORED_STRING) -> Any:
    """A copy of ``value`` (JSON-like) whose strings longer than ``limit`` characters are cut to an excerpt
    that says how long they were and their sha256: what a record keeps of a large argument."""
    if isinstance(value, Mapping):
        return {k: capped(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [capped(v, limit) for v in value]
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:_EXCERPT]}…[{len(value)} characters in all, sha256 {sha256_text(value)}]"
    return value


def stored_output(value: Any, limit: int = MAX_STORED_OUTPUT) -> str:
    """The JSON a SOVEREIGN record keeps of an output: all of it up to ``limit`` characters, beyond that
    its digest, its size and an excerpt."""
    text = canonical_json(value)
    if len(text) <= limit:
        return text
    return canonical_json(
        {"truncated": True, "characters": len(text), "sha256": sha256_text(text), "excerpt": text[: limit // 4]}
    )


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
        fields = {k: storable_text(v) for k, v in asdict(self).items()} | {"id": record_id, "prev_hash": prev_hash}
        fields["hash"] = None
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
            raise RecordNotFound(f"no provenance record {record_id}", kind="provenance record", key=record_id)
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
