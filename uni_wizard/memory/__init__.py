"""The mesh's memory of the forge: issues, pull requests, review verdicts, reports and decisions, searchable.

    index = MemoryIndex(store)                     # the host's SQLite file (tables memory_*)
    sync = MemorySync(index, forge)                # kept current by the sweep and the webhooks
    await sync.sweep("org/repo")                   # incremental, from the cursor; idempotent
    hits = index.search("dispatcher crashes on empty body", repo="org/repo", limit=5)

Search is SQLite's FTS5 with BM25 ranking (``index.py``); ``similar`` ranks documents like a given text,
scored against the text's own score so that the scores read as similarities in 0..1 (duplicate detection,
``dispatch/engine.py``). Vector search with local embeddings is not built yet: ``vectors_status`` says so
(``/ready``).

Floor: its own, above policy/forge/observe and below tools/intake, so that the houses' ``memory_search`` tool,
the dispatcher's duplicate detection, the CLI and the API all reach it. May import: the base (store, errors,
reporef) and forge (its models; the client is passed in as ``sync.MemoryForge``).
"""

from __future__ import annotations

from .docs import MemoryDoc, doc_of_comment, doc_of_issue, doc_of_review
from .index import MemoryHit, MemoryIndex, vectors_status
from .sync import MemorySync, SyncReport

__all__ = [
    "MemoryDoc",
    "MemoryHit",
    "MemoryIndex",
    "MemorySync",
    "SyncReport",
    "doc_of_comment",
    "doc_of_issue",
    "doc_of_review",
    "vectors_status",
]
