"""The event log: an append-only, replayable record of what the mesh did, with a monotonic cursor.

    log = EventLog(store, host="allegro-vps")
    seq = await log.emit(EventKind.ISSUE_TRIAGED, "triaged:org/repo#12:2026-11-21T05:49:08Z",
                         repository="org/repo", number=12, data={"kind": "bug", "priority": "P1"})
    page = log.page(since=cursor, limit=100)          # events with seq > cursor, oldest first
    async for event in log.follow(since=page.last_seq, stop=stopping):
        ...

What the seed's log lacked (SEED_SYSTEMS §1.3, §1.10 item 5), and how this one has it:

* **A cursor.** ``seq`` is an ``AUTOINCREMENT`` key: never reused, even after rows are deleted. Every write
  takes SQLite's write lock from ``BEGIN IMMEDIATE`` to ``COMMIT`` and the sequence number is drawn inside
  it, so events become visible in ``seq`` order, across threads and processes: a reader that has seen
  ``seq`` N has seen every event below N, and "everything after N" is a complete replay.
* **An idempotency key.** ``key`` is ``UNIQUE``; emitting a key a second time writes nothing, uses up no
  ``seq`` and answers ``None`` (a retried sweep, a redelivered webhook, a restarted daemon cannot log an
  event twice).
* **Durability before acknowledgement.** ``emit`` returns after the group commit of ``Store.asubmit``.
* **One shape.** ``Event.as_dict()`` is the JSON of the API, the CLI and anything that follows the log.
* **Thread-safe.** ``emit_sync`` works from any thread; followers in this process (of any ``EventLog`` of the
  store) are woken at once (``call_soon_threadsafe``), followers elsewhere within ``poll`` seconds.
* **In another writer's transaction.** ``write(db, ...)`` logs an event inside a job of the store's writer
  (a tool call's provenance record and its ``tool.called`` event commit together); ``notify()`` after it.

``at`` is stamped in the writer's transaction, in the store's one timestamp format.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import EventRejected
from ..store import Store, utc_now

__all__ = [
    "KIND_PATTERN",
    "MAX_KINDS",
    "MAX_KIND_CHARS",
    "MAX_PAGE",
    "Event",
    "EventKind",
    "EventLog",
    "EventPage",
    "check_kind",
]

KIND_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
"""``<word>.<word>``: lowercase letters, digits and ``_``, each word starting with a letter."""

MAX_PAGE = 1000
MAX_KIND_CHARS = 64
MAX_KEY_CHARS = 512
MAX_REPOSITORY_CHARS = 256
MAX_DATA_BYTES = 64 * 1024
MAX_KINDS = 64  # kinds in one filter

_KIND_RE = re.compile(KIND_PATTERN)


class EventKind(StrEnum):
    """The kinds uni-wizard logs. Any ``<word>.<word>`` is a valid kind; these are the known ones."""

    WEBHOOK_RECEIVED = "webhook.received"
    ISSUE_TRIAGED = "issue.triaged"
    ISSUE_ROUTED = "issue.routed"
    ISSUE_ASSIGNED = "issue.assigned"
    ISSUE_CLAIMED = "issue.claimed"
    ISSUE_REQUEUED = "issue.requeued"
    ISSUE_COMMENTED = "issue.commented"
    SWEEP_STARTED = "sweep.started"
    SWEEP_FINISHED = "sweep.finished"
    SWEEP_REPAIRED = "sweep.repaired"
    SWEEP_SUMMARY = "sweep.summary"  # the idle sweeps of a period, counted (idle sweeps write no sweep.finished)
    COMMAND_HANDLED = "command.handled"  # a comment's commands (/hold, /route, ...) acted on and answered
    COMMAND_REFUSED = "command.refused"  # a comment's commands by someone who may not use them, answered
    PULL_REVIEWED = "pull.reviewed"  # the reviewer's verdict on a pull request's head, written
    PULL_MERGED = "pull.merged"
    PULL_BLOCKED = "pull.blocked"  # the merge of a pull request's head held back, once per head and set of reasons
    PULL_REJECTED = "pull.rejected"  # the merge queue found that a head breaks its target branch
    QUEUE_TESTED = "queue.tested"  # the merge queue ran the tests of a batch (base + PRs), with the verdict
    LEASE_ACQUIRED = "lease.acquired"
    LEASE_LOST = "lease.lost"
    LEASE_RELEASED = "lease.released"
    DISPATCH_SKIPPED = "dispatch.skipped"
    HOUSE_OUTCOME = "house.outcome"  # a finished attempt; peers import it into their routing history
    TOOL_CALLED = "tool.called"  # a Harness call recorded (INTELLIGENT and SOVEREIGN): tool, status, duration, record
    PEER_JOINED = "peer.joined"  # a peer answered its health probe after being down or unknown
    PEER_LEFT = "peer.left"  # a peer that was up stopped answering its health probe
    DEPLOY_STEP = "deploy.step"  # a reconciler finished one step of applying an upgrade (fetch, install, health...)


def check_kind(kind: str) -> str:
    """``kind`` as a plain string, or ``EventRejected`` unless it is ``<word>.<word>``."""
    if not isinstance(kind, str):
        raise EventRejected(f"an event kind is a string like 'issue.triaged', not {type(kind).__name__}")
    text = str(kind)  # an EventKind member becomes its value
    if len(text) > MAX_KIND_CHARS or not _KIND_RE.match(text):
        raise EventRejected(
            f"the event kind {text[:MAX_KIND_CHARS]!r} is not <word>.<word> (lowercase letters, digits and _, "
            f"each word starting with a letter, at most {MAX_KIND_CHARS} characters), e.g. 'issue.triaged'"
        )
    return text


def _check_kinds(kinds: Sequence[str] | None) -> list[str]:
    if not kinds:
        return []
    if isinstance(kinds, str):  # a lone string is a sequence of characters: take it as one kind
        kinds = [kinds]
    unique = list(dict.fromkeys(check_kind(k) for k in kinds))
    if len(unique) > MAX_KINDS:
        raise EventRejected(f"at most {MAX_KINDS} kinds in one filter, not {len(unique)}")
    return unique


@dataclass(frozen=True)
class Event:
    """One logged event. ``seq`` is its cursor; ``key`` its idempotency key."""

    seq: int
    at: str
    kind: str
    key: str
    host: str
    repository: str | None
    number: int | None
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Event:
        return cls(
            seq=int(row["seq"]),
            at=row["at"],
            kind=row["kind"],
            key=row["key"],
            host=row["host"],
            repository=row["repository"],
            number=row["number"],
            data=json.loads(row["data_json"]),
        )

    def as_dict(self) -> dict[str, Any]:
        """The one wire shape of an event."""
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "key": self.key,
            "host": self.host,
            "repository": self.repository,
            "number": self.number,
            "data": self.data,
        }


@dataclass(frozen=True)
class EventPage:
    """Events after a cursor and the log's last ``seq`` when they were read.

    Every returned event has ``seq <= last_seq``. The next cursor is the last event's ``seq`` when the
    page is full (``len(events) == limit``), else ``last_seq``: nothing matching lies between them.
    """

    events: tuple[Event, ...]
    last_seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"events": [e.as_dict() for e in self.events], "last_seq": self.last_seq}


@dataclass(frozen=True)
class _Row:
    kind: str
    key: str
    host: str
    repository: str | None
    number: int | None
    data_json: str


_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]  # a follower: the event to set on its loop
_FOLLOWERS: weakref.WeakKeyDictionary[Store, set[_Waiter]] = weakref.WeakKeyDictionary()  # per store
_FOLLOWERS_LOCK = threading.Lock()  # guards the map and every set in it


class EventLog:
    """The events table of ``store``, written as ``host``."""

    def __init__(self, store: Store, host: str, *, clock: Callable[[], float] = time.time) -> None:
        if not host:
            raise EventRejected("the event log needs this host's name")
        self.store = store
        self.host = host
        self.clock = clock
        with _FOLLOWERS_LOCK:  # shared by every EventLog of ``store`` in this process
            self._waiters = _FOLLOWERS.setdefault(store, set())

    # -- writing ------------------------------------------------------------------
    async def emit(
        self,
        kind: str,
        key: str,
        *,
        repository: str | None = None,
        number: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Log one event durably: its new ``seq``, or None when ``key`` was logged before (nothing is written).

        Raises ``EventRejected`` for a bad kind, key, repository, number or data, ``StoreError`` when the
        store cannot take it.
        """
        row = self._row(kind, key, repository, number, data)
        seq = await self.store.asubmit(lambda db: self._insert(db, row))
        if seq is not None:
            self._wake()
        return seq

    def emit_sync(
        self,
        kind: str,
        key: str,
        *,
        repository: str | None = None,
        number: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> int | None:
        """``emit`` for threads without an event loop (blocks until the commit; never call it on a loop)."""
        row = self._row(kind, key, repository, number, data)
        seq = self.store.submit(lambda db: self._insert(db, row)).result()
        if seq is not None:
            self._wake()
        return seq

    def write(
        self, db: sqlite3.Connection, kind: str, key: str, *, repository: str | None = None,
        number: int | None = None, data: Mapping[str, Any] | None = None,
    ) -> int | None:  # fmt: skip
        """``emit`` inside the caller's transaction ``db`` (a writer job); call ``notify()`` after the commit."""
        return self._insert(db, self._row(kind, key, repository, number, data))

    def notify(self) -> None:
        """Wake this process's followers: events were committed through ``write``."""
        self._wake()

    def _row(
        self, kind: str, key: str, repository: str | None, number: int | None, data: Mapping[str, Any] | None
    ) -> _Row:
        kind = check_kind(kind)
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            raise EventRejected(f"an event key is a non-empty string of at most {MAX_KEY_CHARS} characters")
        if repository is not None and (
            not isinstance(repository, str) or not repository or len(repository) > MAX_REPOSITORY_CHARS
        ):
            raise EventRejected(f"the repository is a non-empty string of at most {MAX_REPOSITORY_CHARS} characters")
        if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
            raise EventRejected(f"the issue number is an integer, not {type(number).__name__}")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise EventRejected(f"event data is a mapping, not {type(data).__name__}")
        try:
            data_json = json.dumps(dict(data), sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise EventRejected(f"event data is not JSON: {exc}") from None
        if len(data_json) > MAX_DATA_BYTES:  # ensure_ascii: characters are bytes
            raise EventRejected(f"event data is {len(data_json)} bytes as JSON, over {MAX_DATA_BYTES}")
        return _Row(kind, key, self.host, repository, number, data_json)

    def _insert(self, db: sqlite3.Connection, row: _Row) -> int | None:
        # Look first: an INSERT that the key conflict turns into nothing still draws an AUTOINCREMENT
        # value, and duplicates would leave gaps. The writer holds the write lock, so nobody can slip in.
        if db.execute("SELECT 1 FROM events WHERE key = ?", (row.key,)).fetchone() is not None:
            return None
        cursor = db.execute(
            "INSERT INTO events (at, kind, key, host, repository, number, data_json) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(key) DO NOTHING",
            (utc_now(self.clock), row.kind, row.key, row.host, row.repository, row.number, row.data_json),
        )
        return int(cursor.lastrowid) if cursor.rowcount == 1 and cursor.lastrowid is not None else None

    # -- reading ------------------------------------------------------------------
    def last_seq(self) -> int:
        """The newest event's ``seq``; 0 for an empty log."""
        return int(self.store.query("SELECT coalesce(max(seq), 0) FROM events")[0][0])

    def tail(
        self, since: int = 0, limit: int = 100, kinds: Sequence[str] | None = None, *, until: int | None = None
    ) -> list[Event]:
        """Up to ``limit`` events with ``since < seq [<= until]``, oldest first; ``kinds`` (None or empty:
        every kind) filters."""
        wanted = _check_kinds(kinds)
        if limit <= 0:
            return []
        sql, params = self._where(since, until, wanted)
        query = f"SELECT * FROM events WHERE {sql} ORDER BY seq LIMIT ?"  # noqa: S608 - placeholders only
        rows = self.store.query(query, (*params, int(limit)))
        return [Event.from_row(row) for row in rows]

    def recent(self, limit: int = 100, kinds: Sequence[str] | None = None, *, until: int | None = None) -> list[Event]:
        """The newest ``limit`` events (with ``seq <= until``), oldest first."""
        wanted = _check_kinds(kinds)
        if limit <= 0:
            return []
        sql, params = self._where(0, until, wanted)
        rows = self.store.query(
            f"SELECT * FROM (SELECT * FROM events WHERE {sql} ORDER BY seq DESC LIMIT ?) ORDER BY seq",  # noqa: S608 - placeholders only
            (*params, int(limit)),
        )
        return [Event.from_row(row) for row in rows]

    def page(self, since: int = 0, limit: int = 100, kinds: Sequence[str] | None = None) -> EventPage:
        """``tail`` up to the log's last ``seq``, read first, so that ``last_seq`` is a safe next cursor."""
        head = self.last_seq()
        return EventPage(tuple(self.tail(since, min(limit, MAX_PAGE), kinds, until=head)), head)

    @staticmethod
    def _where(since: int, until: int | None, kinds: list[str]) -> tuple[str, list[Any]]:
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [int(since)]
        if until is not None:
            clauses.append("seq <= ?")
            params.append(int(until))
        if kinds:
            clauses.append(f"kind IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        return " AND ".join(clauses), params

    # -- following ----------------------------------------------------------------
    async def follow(
        self,
        since: int = 0,
        poll: float = 0.5,
        stop: asyncio.Event | None = None,
        *,
        kinds: Sequence[str] | None = None,
        batch: int = MAX_PAGE,
    ) -> AsyncIterator[Event]:
        """Every event with ``seq > since``, oldest first, then each new one as it is committed, until
        ``stop`` is set (checked before each event) or the iteration is abandoned.

        Events emitted through this ``EventLog`` wake the follower at once; others (another ``EventLog``,
        another process) within ``poll`` seconds. Reads run in a worker thread, off the loop.
        """
        if poll <= 0:
            raise EventRejected("the poll interval must be positive")
        wanted = _check_kinds(kinds)
        wake = asyncio.Event()
        entry = (asyncio.get_running_loop(), wake)
        with _FOLLOWERS_LOCK:
            self._waiters.add(entry)
        try:
            cursor = int(since)
            while stop is None or not stop.is_set():
                wake.clear()
                events = await asyncio.to_thread(self.tail, cursor, batch, wanted)
                for event in events:
                    if stop is not None and stop.is_set():
                        return
                    cursor = event.seq
                    yield event
                if len(events) < batch:
                    await _pause(wake, stop, poll)
        finally:
            with _FOLLOWERS_LOCK:
                self._waiters.discard(entry)

    def _wake(self) -> None:
        with _FOLLOWERS_LOCK:
            waiters = list(self._waiters)
        for loop, wake in waiters:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # that loop is closed: its follower is gone
                continue


async def _pause(wake: asyncio.Event, stop: asyncio.Event | None, poll: float) -> None:
    """Wait until ``wake`` or ``stop`` is set, or ``poll`` seconds pass."""
    tasks = {asyncio.ensure_future(wake.wait())}
    if stop is not None:
        tasks.add(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(tasks, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
