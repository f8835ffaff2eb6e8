"""The memory tool: a house asks the mesh's memory of the forge "have we seen this before, what did we decide?".

``memory_search`` searches the host's store (``ToolEnv.memory_db``, the daemon's SQLite file) with FTS5 BM25
over the issues, pull requests, reports, review verdicts and decisions the dispatcher's sweep and the webhooks
indexed (``uni_wizard/memory/``). It reads only; every result carries its forge link.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..errors import StoreError, ToolCallError, ToolExecutionError
from ..memory import MemoryIndex, vectors_status
from ..reporef import RepoRef
from ..store import Store
from .env import ToolEnv
from .spec import tool

__all__ = ["memory_search"]

_MAX_LIMIT = 50
_MAX_QUERY = 4_000
_stores: dict[Path, Store] = {}


def _index(path: Path) -> MemoryIndex:
    store = _stores.get(path)
    if store is None:
        store = _stores[path] = Store(path)
    return MemoryIndex(store)


@tool(group="memory")
async def memory_search(env: ToolEnv, query: str, repo: str = "", limit: int = 10) -> dict[str, Any]:
    """Search the mesh's memory of the forge: past issues, pull requests, reports, review verdicts and decisions.

    Args:
        query: What to look for, in plain words (any of them may match; the best matches come first).
        repo: Only this repository, as "owner/name"; empty for every repository the mesh watches.
        limit: How many results at most, 1 to 50.
    """
    if not query.strip() or len(query) > _MAX_QUERY:
        raise ToolCallError(f"query must be 1 to {_MAX_QUERY} characters")
    if not 1 <= limit <= _MAX_LIMIT:
        raise ToolCallError(f"limit must be between 1 and {_MAX_LIMIT}, not {limit}")
    if repo:
        RepoRef.parse(repo, error=ToolCallError)
    if env.memory_db is None:
        raise ToolExecutionError("no memory on this host: the tool environment names no store (memory_db)")
    db = env.memory_db
    try:
        hits = await asyncio.to_thread(lambda: _index(db).search(query, repo=repo or None, limit=limit))
    except StoreError as exc:
        raise ToolExecutionError(f"the memory cannot be searched: {exc}") from None
    return {"search": vectors_status()["search"], "results": [hit.as_dict() for hit in hits]}
