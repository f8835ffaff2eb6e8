"""One SQLite database per host: WAL, busy_timeout, a schema_version table, migrations, UTC times.

Writes that must be durable before they are acknowledged (provenance) go
through ``Store.submit``: a single writer thread commits whatever has queued
up in one transaction (group commit, ``synchronous=FULL``), so many callers
share one fsync and each caller's future resolves only after its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from .errors import StoreError, StoreUnavailable
from .migrations import MIGRATIONS

__all__ = ["MIGRATIONS", "Store", "utc_now", "utc_text"]

T = TypeVar("T")
# Where a job's outcome goes: a thread future, or an asyncio future and its loop.
_Sink = Future[Any] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
_Job = tuple[Callable[[sqlite3.Connection], Any], _Sink]


def utc_text(moment: datetime) -> str:
    """The one timestamp format of the store: ``2026-11-21T05:49:08.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now(clock: Callable[[], float] = time.time) -> str:
    return utc_text(datetime.fromtimestamp(clock(), UTC))


class Store:
    """The host's SQLite database.

    >>> store = Store(Path("state/uni-wizard.db"))
    >>> with store.transaction() as db:
    ...     db.execute("SELECT count(*) FROM provenance").fetchone()
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000, batch_max: int = 512) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.batch_max = batch_max
        self._local = threading.local()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {self.path.parent}: {exc.strerror}") from exc
        self.migrate()

    # -- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error) on this thread's connection."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a transaction on {self.path}: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"commit failed on {self.path}: {exc}") from exc

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"query failed on {self.path}: {exc}") from exc

    # -- schema ------------------------------------------------------------
    def migrate(self) -> int:
        """Bring the schema to the newest version; return it."""
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this uni-wizard knows "
                    f"({len(MIGRATIONS)}); upgrade uni-wizard"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, utc_now()))
        return len(MIGRATIONS)

    def schema_version(self) -> int:
        return int(self.query("SELECT max(version) FROM schema_version")[0][0])

    def writable(self) -> bool:
        """Whether a write transaction can be started and committed now (for /health)."""
        try:
            with self.transaction() as db:
                db.execute("SELECT 1")
        except StoreError:
            return False
        return True

    # -- group commit ------------------------------------------------------
    def submit(self, job: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Run ``job(conn)`` inside the writer's next transaction; the future resolves after COMMIT."""
        future: Future[T] = Future()
        self._enqueue(job, future)
        return future

    async def asubmit(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """``submit`` for asyncio: one wake-up of the loop per committed batch, not per job."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._enqueue(job, (loop, waiter))
        return await waiter

    def _enqueue(self, job: Callable[[sqlite3.Connection], Any], sink: _Sink) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        self._ensure_writer()
        self._queue.put((job, sink))

    def _ensure_writer(self) -> None:
        if self._writer is not None:
            return
        with self._writer_lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="uniwizard-store", daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        conn = self._connect()
        while True:
            item = self._queue.get()
            if item is None:
                conn.close()
                return
            batch = [item]
            while len(batch) < self.batch_max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            _settle(self._commit(conn, batch))

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> list[tuple[_Sink, Any, BaseException | None]]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [job(conn) for job, _ in batch]
            conn.execute("COMMIT")
        except Exception as exc:  # one bad job must not sink the others: retry each alone
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if len(batch) == 1:
                error = exc if isinstance(exc, StoreError) else _write_error(exc)
                return [(batch[0][1], None, error)]
            return [outcome for single in batch for outcome in self._commit(conn, [single])]
        return [(sink, result, None) for (_, sink), result in zip(batch, results, strict=True)]

    def close(self) -> None:
        """Finish queued writes, stop the writer thread and close this thread's connection."""
        self._closed = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=10)
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _settle(outcomes: list[tuple[_Sink, Any, BaseException | None]]) -> None:
    """Resolve thread futures now and asyncio futures with one call into each loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for sink, result, error in outcomes:
        if isinstance(sink, Future):
            if error is None:
                sink.set_result(result)
            else:
                sink.set_exception(error)
        else:
            by_loop.setdefault(sink[0], []).append((sink[1], result, error))
    for loop, waiters in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_waiters, waiters)
        except RuntimeError:  # the loop was closed meanwhile: its callers are gone, the rows are committed
            continue


def _settle_waiters(waiters: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for waiter, result, error in waiters:
        if waiter.done():  # the caller was cancelled; the row is committed all the same
            continue
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)


def _write_error(exc: Exception) -> StoreError:
    """A failed write as the error tree says it: the store unavailable (SQLite's operational errors: locked,
    read-only, I/O), or a write that cannot be made whatever the store's state (bad data, a bug)."""
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"write failed: {exc}")
    return StoreError(f"write failed: {exc}")
