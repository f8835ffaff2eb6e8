"""``MemorySync``: keep the memory of a repository current from the forge, incrementally and idempotently.

    sync = MemorySync(index, forge)
    await sync.sweep("org/repo")               # what changed since the cursor (issues and pull requests)
    await sync.reconcile("org/repo")           # drop what the forge no longer has (deleted issues)
    await sync.refresh("org/repo", 12)         # one issue: re-read, or removed if gone

``sweep`` lists the issues and pull requests updated since the repository's cursor (``since`` is inclusive:
the newest of the last window is read again, and indexing it again changes nothing), indexes each with the
comments that record something (``docs.py``) and a pull request's review verdicts (read only when the issue
changed), and moves the cursor only when the whole window was indexed: a restart resumes where the last
complete sweep ended, and a webhook that never came is repaired by the next sweep. ``reconcile`` lists every
issue number; the dispatcher's loop asks for it on a full sweep, at most every ``reconcile_seconds``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from ..errors import ForgeError, ForgeUnavailable, NotFound, StoreError
from ..forge.models import Comment, Issue, Review
from ..reporef import RepoRef
from .docs import MemoryDoc, doc_of_comment, doc_of_issue, doc_of_review
from .index import MemoryIndex

__all__ = ["RECONCILE_SECONDS", "MemoryForge", "MemorySync", "SyncReport"]

log = logging.getLogger(__name__)
RECONCILE_SECONDS = 6 * 3600.0
Pace = Callable[[], Awaitable[None]]


class MemoryForge(Protocol):
    """What the memory reads of the forge (``GiteaClient`` has it)."""

    def iter_issues(
        self,
        owner: str,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = ...,
        type: Literal["issues", "pulls"] | None = ...,
        since: datetime | None = ...,
    ) -> AsyncIterator[Issue]: ...

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue: ...

    async def list_comments(
        self, owner: str, repo: str, index: int, *, since: datetime | None = ..., before: datetime | None = ...
    ) -> list[Comment]: ...

    async def list_reviews(self, owner: str, repo: str, index: int) -> list[Review]: ...


@dataclass
class SyncReport:
    repository: str
    listed: int = 0
    written: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "listed": self.listed, "written": self.written, "removed": self.removed}


class MemorySync:
    """Feeds ``index`` from ``forge`` (see the module docstring). ``reconcile_seconds``: how often at most a full
    sweep lists every issue number to drop the deleted ones (the first full sweep of a process always does)."""

    def __init__(
        self,
        index: MemoryIndex,
        forge: MemoryForge,
        *,
        reconcile_seconds: float = RECONCILE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.forge = forge
        self.reconcile_seconds = reconcile_seconds
        self.clock = clock
        self._reconciled: dict[str, float] = {}  # repository -> when its numbers were last listed (clock)

    async def sweep(self, repo: str, *, pace: Pace | None = None) -> SyncReport:
        """Index what changed in ``repo`` since its cursor. ``pace`` is awaited before each issue (the dispatcher
        renews its lease there: a long listing outlives it)."""
        owner, name = RepoRef.parse(repo)
        report = SyncReport(repo)
        cursor = self.index.cursor(repo)
        since = datetime.fromisoformat(cursor) if cursor else None
        newest = since
        async for issue in self.forge.iter_issues(owner, name, state="all", since=since):
            if pace is not None:
                await pace()
            report.listed += 1
            report.written += await self.remember(repo, issue)
            if issue.updated_at is not None and (newest is None or issue.updated_at > newest):
                newest = issue.updated_at
        if newest is not None and newest != since:
            self.index.save_cursor(repo, newest.isoformat())
        return report

    async def reconcile(self, repo: str, *, pace: Pace | None = None) -> int:
        """List every issue number of ``repo`` and drop the documents of those the forge no longer has."""
        owner, name = RepoRef.parse(repo)
        numbers = set()
        async for issue in self.forge.iter_issues(owner, name, state="all"):
            if pace is not None:
                await pace()
            numbers.add(issue.number)
        self._reconciled[repo] = self.clock()
        return self.index.keep_only(repo, numbers)

    async def update(
        self,
        repo: str,
        *,
        full: bool = False,
        issue: Issue | None = None,
        gone: int | None = None,
        pace: Pace | None = None,
    ) -> bool:
        """What the dispatcher's loop asks: ``remember`` an ``issue`` it read, ``forget`` one that is ``gone``,
        ``sweep`` (an incremental turn), or, ``full``, the first indexing of a repository and a ``reconcile``
        when one is due (a full turn costs the forge nothing more otherwise: the incremental turns and the
        webhooks keep the memory current). False (and a warning) when the forge or the store failed: the
        dispatcher goes on, and a later sweep repairs it (the cursor did not move)."""
        try:
            if issue is not None:
                await self.remember(repo, issue)
            elif gone is not None:
                self.index.remove(repo, gone)
            elif not full or self.index.cursor(repo) is None:
                await self.sweep(repo, pace=pace)
            if full and self.clock() - self._reconciled.get(repo, -math.inf) >= self.reconcile_seconds:
                await self.reconcile(repo, pace=pace)
        except (ForgeError, ForgeUnavailable, StoreError) as exc:
            log.warning("%s: the memory was not brought up to date: %s", repo, exc)
            return False
        return True

    async def refresh(self, repo: str, number: int) -> int:
        """Re-index issue ``number`` of ``repo``; remove it when the forge has it no more. Returns how many
        documents were written or removed."""
        owner, name = RepoRef.parse(repo)
        try:
            issue = await self.forge.get_issue(owner, name, number)
        except NotFound:
            return self.index.remove(repo, number)
        return await self.remember(repo, issue)

    async def remember(self, repo: str, issue: Issue) -> int:
        """Index ``issue`` (read already) with its comments and reviews; how many documents were written."""
        return self.index.put(await self._docs(repo, issue))

    async def _docs(self, repo: str, issue: Issue) -> Sequence[MemoryDoc]:
        """The documents of ``issue``: the issue, and its comments and reviews unless the issue is as indexed
        already (the forge moves an issue's ``updated_at`` when it is commented on: nothing new to read)."""
        owner, name = RepoRef.parse(repo)
        docs = [doc_of_issue(repo, issue)]
        known = self.index.get(docs[0].key)
        if known is not None and known.digest == docs[0].digest and known.updated_at == docs[0].updated_at:
            return docs
        if issue.comments > 0:
            for comment in await self.forge.list_comments(owner, name, issue.number):
                doc = doc_of_comment(repo, issue, comment)
                if doc is not None:
                    docs.append(doc)
        if issue.is_pull:
            for review in await self.forge.list_reviews(owner, name, issue.number):
                found = doc_of_review(repo, issue, review)
                if found is not None:
                    docs.append(found)
        return docs
