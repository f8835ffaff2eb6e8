"""``MemoryIndex``: the memory's documents in the host's SQLite file, searched with FTS5 and BM25.

    index = MemoryIndex(store)
    index.put([doc, ...])                       # idempotent: an unchanged document is not rewritten
    index.search("flaky merge queue", repo="org/repo", limit=10)
    index.similar("org/repo", 12, title, body)  # open issues like this text, scored 0..1

Tables (migration "memory"): ``memory_docs`` (one row per document, by ``key``), ``memory_fts`` (FTS5 over
title and body, the Porter stemmer; its rowid is the document's id) and ``memory_cursors`` (where the
incremental sync of each repository resumes). BM25 weighs the title twice, as triage does.

``similar`` scores each document against the score the text itself would get (the text is indexed inside a
transaction that is rolled back), so that 1.0 means "says everything this text says" whatever the length of
the text: the scores read as similarities and one threshold serves every issue.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import StoreError
from ..store import Store, utc_now
from .docs import MemoryDoc
from .query import match_query

__all__ = ["MemoryHit", "MemoryIndex", "vectors_status"]

TITLE_WEIGHT, BODY_WEIGHT = 2.0, 1.0
_RANK = f"bm25(memory_fts, {TITLE_WEIGHT}, {BODY_WEIGHT})"


class _Rollback(Exception):
    """Ends the transaction ``similar`` indexes its text in, without a trace."""


@dataclass(frozen=True)
class MemoryHit:
    """One document found: its BM25 score (higher is better) and where it lives on the forge."""

    key: str
    repo: str
    number: int
    kind: str
    title: str
    url: str
    state: str
    score: float
    snippet: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "repo": self.repo,
            "number": self.number,
            "kind": self.kind,
            "title": self.title,
            "url": self.url,
            "state": self.state,
            "score": round(self.score, 4),
            "snippet": self.snippet,
        }


def vectors_status() -> dict[str, Any]:
    """What ``/ready`` says of the memory's search: FTS5 BM25 always; vectors not built yet."""
    return {
        "ready": True,
        "search": "fts5-bm25",
        "vectors": False,
        "why": "vector search with local embeddings is not built yet: every search is FTS5 BM25",
    }


class MemoryIndex:
    """The memory's documents in ``store`` (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- writing -------------------------------------------------------------------------
    def put(self, docs: Iterable[MemoryDoc]) -> int:
        """Index ``docs`` (replacing any of the same key); return how many were new or changed."""
        written = 0
        with self.store.transaction() as db:
            for doc in docs:
                written += _put(db, doc)
        return written

    def remove(self, repo: str, number: int) -> int:
        """Drop the documents of issue ``number`` of ``repo`` (the issue, its comments and reviews)."""
        with self.store.transaction() as db:
            rows = db.execute("SELECT id FROM memory_docs WHERE repo = ? AND number = ?", (repo, number)).fetchall()
            _drop(db, [r[0] for r in rows])
        return len(rows)

    def keep_only(self, repo: str, numbers: set[int]) -> int:
        """Drop the documents of ``repo`` whose issue is not in ``numbers`` (deleted on the forge)."""
        known = {r[0] for r in self.store.query("SELECT DISTINCT number FROM memory_docs WHERE repo = ?", (repo,))}
        gone = known - numbers
        return sum(self.remove(repo, number) for number in sorted(gone))

    # -- cursors ---------------------------------------------------------------------------
    def cursor(self, repo: str) -> str | None:
        rows = self.store.query("SELECT since FROM memory_cursors WHERE repo = ?", (repo,))
        return str(rows[0][0]) if rows and rows[0][0] else None

    def save_cursor(self, repo: str, since: str | None) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO memory_cursors (repo, since, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(repo) DO UPDATE SET since = excluded.since, updated_at = excluded.updated_at",
                (repo, since, utc_now()),
            )

    # -- reading ---------------------------------------------------------------------------
    def count(self, repo: str | None = None) -> int:
        if repo is None:
            return int(self.store.query("SELECT count(*) FROM memory_docs")[0][0])
        return int(self.store.query("SELECT count(*) FROM memory_docs WHERE repo = ?", (repo,))[0][0])

    def get(self, key: str) -> MemoryDoc | None:
        rows = self.store.query(
            "SELECT key, repo, number, kind, title, body, url, state, updated_at FROM memory_docs WHERE key = ?",
            (key,),
        )
        return MemoryDoc(*rows[0]) if rows else None

    def search(
        self, text: str, *, repo: str | None = None, kinds: Sequence[str] = (), limit: int = 10
    ) -> list[MemoryHit]:
        """The documents best matching ``text`` (any of its words; BM25, title x2), best first."""
        query = match_query(text)
        if query is None or limit < 1:
            return []
        return self._ranked(self.store.connection(), query, repo=repo, kinds=kinds, limit=limit)

    def similar(
        self,
        repo: str,
        number: int,
        title: str,
        body: str,
        *,
        kinds: Sequence[str] = ("issue",),
        state: str | None = "open",
        limit: int = 10,
    ) -> list[MemoryHit]:
        """Documents of ``repo`` like the issue ``number`` with this text (never that issue), scored 0..1
        against the text's own score (see the module docstring), best first."""
        query = match_query(body, first=f"{title}\n{title}")
        if query is None or limit < 1:
            return []
        found: list[MemoryHit] = []
        try:
            with self.store.transaction() as db:
                probe = db.execute(
                    "INSERT INTO memory_fts (title, body) VALUES (?, ?)", (f"{title}", body[:32_768])
                ).lastrowid
                own = db.execute(
                    f"SELECT -{_RANK} FROM memory_fts WHERE memory_fts MATCH ? AND rowid = ?",  # noqa: S608
                    (query, probe),
                ).fetchone()
                hits = self._ranked(db, query, repo=repo, kinds=kinds, state=state, limit=limit + 1)
                top = own[0] if own and own[0] > 0 else max((h.score for h in hits), default=1.0)
                found = [_scaled(h, top) for h in hits if h.number != number][:limit]
                raise _Rollback
        except _Rollback:
            pass
        return found

    def _ranked(
        self,
        db: sqlite3.Connection,
        query: str,
        *,
        repo: str | None,
        kinds: Sequence[str] = (),
        state: str | None = None,
        limit: int,
    ) -> list[MemoryHit]:
        where, params = ["memory_fts MATCH ?"], [query]
        if repo is not None:
            where.append("d.repo = ?")
            params.append(repo)
        if kinds:
            where.append(f"d.kind IN ({', '.join('?' * len(kinds))})")
            params += list(kinds)
        if state is not None:
            where.append("d.state = ?")
            params.append(state)
        sql = (
            f"SELECT d.key, d.repo, d.number, d.kind, d.title, d.url, d.state, -{_RANK}, "  # noqa: S608
            "snippet(memory_fts, 1, '[', ']', '…', 12) FROM memory_fts JOIN memory_docs d ON d.id = memory_fts.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY {_RANK} LIMIT ?"
        )
        try:
            rows = db.execute(sql, (*params, limit)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"memory search failed: {exc}") from exc
        return [_hit(row) for row in rows]


def _hit(row: sqlite3.Row) -> MemoryHit:
    key, repo, number, kind, title, url, state, score, snippet = tuple(row)
    return MemoryHit(key, repo, int(number), kind, title, url, state, float(score), str(snippet or ""))


def _scaled(hit: MemoryHit, top: float) -> MemoryHit:
    return replace(hit, score=round(min(1.0, hit.score / top), 3))


def _put(db: sqlite3.Connection, doc: MemoryDoc) -> int:
    row = db.execute("SELECT id, digest FROM memory_docs WHERE key = ?", (doc.key,)).fetchone()
    if row is not None and row[1] == doc.digest:
        return 0
    if row is not None:
        _drop(db, [row[0]])
    cur = db.execute(
        "INSERT INTO memory_docs (key, repo, number, kind, title, body, url, state, updated_at, digest, indexed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            doc.key,
            doc.repo,
            doc.number,
            doc.kind,
            doc.title,
            doc.body,
            doc.url,
            doc.state,
            doc.updated_at,
            doc.digest,
            utc_now(),
        ),
    )
    db.execute("INSERT INTO memory_fts (rowid, title, body) VALUES (?, ?, ?)", (cur.lastrowid, doc.title, doc.body))
    return 1


def _drop(db: sqlite3.Connection, ids: Sequence[int]) -> None:
    for doc_id in ids:
        db.execute("DELETE FROM memory_fts WHERE rowid = ?", (doc_id,))
        db.execute("DELETE FROM memory_docs WHERE id = ?", (doc_id,))
