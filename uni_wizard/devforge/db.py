"""The devforge's SQLite database: schema, one connection, one lock that serialises every statement.

Every table keeps Gitea's id spaces: each table has its own global ``id`` (comments, labels, reviews,
hooks and statuses are global, not per repository), and ``pulls.id`` is distinct from ``issues.id``.
Times are whole Unix seconds (Gitea's ``*_unix`` columns); ``fmt_time`` renders them as RFC 3339.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Clock", "Database", "Row", "fmt_time", "parse_time"]

Clock = Callable[[], float]
Row = sqlite3.Row

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, login TEXT NOT NULL, lower_login TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL DEFAULT '', email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '', salt TEXT NOT NULL DEFAULT '',
    is_admin INTEGER NOT NULL DEFAULT 0, is_org INTEGER NOT NULL DEFAULT 0,
    visibility TEXT NOT NULL DEFAULT 'public', description TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
    last_eight TEXT NOT NULL, scopes TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER
);
CREATE TABLE IF NOT EXISTS org_owners (
    org_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (org_id, user_id)
);
CREATE TABLE IF NOT EXISTS repos (
    id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL, name TEXT NOT NULL, lower_name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', private INTEGER NOT NULL DEFAULT 0, archived INTEGER NOT NULL DEFAULT 0,
    default_branch TEXT NOT NULL, settings TEXT NOT NULL DEFAULT '{}', next_index INTEGER NOT NULL DEFAULT 1,
    created INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE (owner_id, lower_name)
);
CREATE TABLE IF NOT EXISTS collaborators (
    repo_id INTEGER NOT NULL, user_id INTEGER NOT NULL, mode INTEGER NOT NULL, PRIMARY KEY (repo_id, user_id)
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, name TEXT NOT NULL, color TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', exclusive INTEGER NOT NULL DEFAULT 0, archived INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, number INTEGER NOT NULL, poster_id INTEGER NOT NULL,
    title TEXT NOT NULL, body TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'open',
    is_pull INTEGER NOT NULL DEFAULT 0, is_locked INTEGER NOT NULL DEFAULT 0, ref TEXT NOT NULL DEFAULT '',
    content_version INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, updated INTEGER NOT NULL,
    closed INTEGER, UNIQUE (repo_id, number)
);
CREATE TABLE IF NOT EXISTS issue_labels (
    issue_id INTEGER NOT NULL, label_id INTEGER NOT NULL, PRIMARY KEY (issue_id, label_id)
);
CREATE TABLE IF NOT EXISTS issue_assignees (
    issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (issue_id, user_id)
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY, issue_id INTEGER NOT NULL, poster_id INTEGER NOT NULL, body TEXT NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pulls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, issue_id INTEGER NOT NULL UNIQUE, head_branch TEXT NOT NULL,
    base_branch TEXT NOT NULL, head_sha TEXT NOT NULL, merge_base TEXT NOT NULL DEFAULT '',
    merged INTEGER NOT NULL DEFAULT 0, merged_at INTEGER, merged_by INTEGER, merge_commit_sha TEXT,
    checking_until REAL NOT NULL DEFAULT 0, conflicted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY, pull_id INTEGER NOT NULL, reviewer_id INTEGER NOT NULL, state TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '', commit_id TEXT NOT NULL, official INTEGER NOT NULL DEFAULT 0,
    stale INTEGER NOT NULL DEFAULT 0, dismissed INTEGER NOT NULL DEFAULT 0, comments_count INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS statuses (
    id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, sha TEXT NOT NULL, context TEXT NOT NULL,
    state TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', target_url TEXT NOT NULL DEFAULT '',
    creator_id INTEGER NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hooks (
    id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL, content_type TEXT NOT NULL, secret TEXT NOT NULL DEFAULT '', events TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0, branch_filter TEXT NOT NULL DEFAULT '',
    authorization_header TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, hook_id INTEGER NOT NULL, uuid TEXT NOT NULL, event TEXT NOT NULL,
    event_type TEXT NOT NULL, payload TEXT NOT NULL, status_code INTEGER, error TEXT,
    queued INTEGER NOT NULL, delivered INTEGER
);
CREATE TABLE IF NOT EXISTS protections (
    id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL, rule_name TEXT NOT NULL, settings TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, updated INTEGER NOT NULL,
    UNIQUE (repo_id, rule_name)
);
CREATE TABLE IF NOT EXISTS ref_snapshot (
    repo_id INTEGER NOT NULL, ref TEXT NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (repo_id, ref)
);
CREATE INDEX IF NOT EXISTS issues_repo ON issues(repo_id, created);
CREATE INDEX IF NOT EXISTS comments_issue ON comments(issue_id);
CREATE INDEX IF NOT EXISTS statuses_sha ON statuses(repo_id, sha);
"""

# PR ids start far from issue ids so that a client mixing them up fails loudly (Gitea's spaces are distinct too).
PULL_ID_OFFSET = 1000


def fmt_time(unix: float | None) -> str | None:
    """RFC 3339, whole seconds, UTC ("Z"), as Gitea renders times; ``None`` stays ``None`` (JSON null)."""
    if unix is None:
        return None
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int:
    """An RFC 3339 query parameter as Unix seconds; ``ValueError`` when it is not RFC 3339."""
    value = text.strip()
    if len(value) < 20 or value[10] not in "Tt":
        raise ValueError(f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse')
    moment = datetime.fromisoformat(value.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00"')
    return int(moment.timestamp())


class Database:
    """One SQLite connection (WAL) shared by all threads; ``lock`` serialises every statement.

    ``tx()`` holds the lock for a whole read-check-write sequence and commits it as one transaction;
    transactions nest (the inner ones join the outer).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        with self.lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
            seq = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'pulls'").fetchone()
            if seq is None:
                self._conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('pulls', ?)", (PULL_ID_OFFSET,))

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[Database]:
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self.lock:
            row: Row | None = self._conn.execute(sql, tuple(params)).fetchone()
            return row

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a write; returns how many rows it changed (also for ``INSERT OR IGNORE``)."""
        with self.lock:
            return int(self._conn.execute(sql, tuple(params)).rowcount)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a write; returns the new row id (for INSERT) or the number of rows changed."""
        with self.lock:
            cur = self._conn.execute(sql, tuple(params))
            if sql.lstrip().upper().startswith("INSERT"):
                return int(cur.lastrowid or 0)
            return int(cur.rowcount)
