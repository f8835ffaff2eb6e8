"""Unexpected exceptions become forge issues: one per fingerprint, in the mesh repository, kept up to date.

``record`` stores an occurrence in the host's store (table ``captured_errors``: one row per fingerprint with its
count, first and last seen, the scrubbed traceback and what led to it); it never touches the network, so a flood
costs store writes only. ``publish`` (the daemon runs it every few seconds, ``run``) brings the forge up to date:

- a fingerprint without an issue: the issue whose body carries its marker (another host may have opened it:
  the first writer wins, the others find it), else a new one labelled ``kind/bug`` and ``source/error-capture``
  with the traceback, host, version and context;
- a count that moved: the issue's body edited in place, this host's row of its table (hosts, counts, last seen)
  rewritten, at most once per ``min_interval`` seconds per fingerprint (never one comment per occurrence);
- a closed issue whose fingerprint occurs again after it was closed: reopened, with a comment "recurred in
  version X".

Everything written is scrubbed first (``scrub``: the Harness's redaction — Authorization headers, bearer
tokens, URL credentials, secret query parameters, the host's known secret values — and secrets assigned in free
text such as ``token='...'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from ..errors import UniWizardError
from ..forge.models import Issue, Label
from ..harness.provenance import redact
from ..reporef import RepoRef
from ..store import Store
from .fingerprint import Fingerprint, fingerprint
from .metrics import AttentionMetrics

__all__ = ["BUG_LABEL", "SOURCE_LABEL", "ErrorCapture", "ErrorForge", "Published", "scrub"]

log = logging.getLogger(__name__)

BUG_LABEL = "kind/bug"
SOURCE_LABEL = "source/error-capture"
MARKER = "<!-- uni-wizard:error fp={key} -->"
_TABLE = "| host | count | last seen (UTC) | version |"
# beyond the Harness's redaction: a secret assigned in free text, as a traceback's message or a repr shows one
# (``token='...'``, ``password: ...``, ``api_key=...``)
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b((?:access_|private_|api[_-]?|client_)?(?:token|secret|password|passwd|api[_-]?key))(\s*[=:]\s*)"
    r"(['\"]?)[^\s'\",)}\]]+\3"
)


def scrub(text: str) -> str:
    """``text`` with every secret the Harness redacts, and secrets assigned in free text, replaced."""
    return _ASSIGNED_SECRET.sub(lambda m: f"{m[1]}{m[2]}***", str(redact(text)))


_ROW = re.compile(r"^\| `(?P<host>[^`]+)` \| (?P<count>\d+) \| (?P<last>[^|]*) \| (?P<version>[^|]*) \|$", re.M)


class ErrorForge(Protocol):
    """What the capture uses of the forge (``GiteaClient`` is one)."""

    def iter_issues(
        self, owner: str, repo: str, *, state: Literal["open", "closed", "all"] = ..., labels: Sequence[str] = ...
    ) -> AsyncIterator[Issue]: ...

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue: ...

    async def create_issue(
        self, owner: str, repo: str, title: str, body: str = "", *, labels: Sequence[int] = ()
    ) -> Issue: ...

    async def edit_issue(
        self, owner: str, repo: str, index: int, *, state: Literal["open", "closed"] | None = None,
        body: str | None = None,
    ) -> Issue: ...  # fmt: skip

    async def create_comment(self, owner: str, repo: str, index: int, body: str) -> object: ...

    async def ensure_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = "", exclusive: bool = False
    ) -> Label: ...


@dataclass(frozen=True)
class Published:
    """What one ``publish`` wrote: issues opened, edited, reopened (numbers)."""

    opened: tuple[int, ...] = ()
    edited: tuple[int, ...] = ()
    reopened: tuple[int, ...] = ()


class ErrorCapture:
    """The error capture of ``host`` (running ``version``) into ``repo`` (owner/name) through ``forge``."""

    def __init__(
        self,
        store: Store,
        forge: ErrorForge,
        *,
        repo: str,
        host: str,
        version: str,
        min_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        metrics: AttentionMetrics | None = None,
    ) -> None:
        self.store, self.forge, self.repo = store, forge, repo
        self.host, self.version = host, version
        self.min_interval, self.clock = min_interval, clock
        self._labels: list[int] | None = None
        self.metrics = metrics

    # -- recording ----------------------------------------------------------------------------------------
    def record(self, exc: BaseException, context: str) -> Fingerprint:
        """Count one occurrence of ``exc`` (``context``: the role or event that led to it); no network."""
        found = fingerprint(exc)
        now = _stamp(self.clock())
        text, why = scrub(found.text), scrub(context)[:500]
        self.store.submit(
            lambda db: db.execute(
                "INSERT INTO captured_errors (fingerprint, kind, title, text, context, version, count, first_seen, "
                "last_seen) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET "
                "count = count + 1, last_seen = excluded.last_seen, version = excluded.version",
                (found.key, found.kind, found.title, text, why, self.version, now, now),
            )
        ).result()
        if self.metrics is not None:
            self.metrics.errors.inc()
        return found

    def pending(self) -> list[sqlite3.Row]:
        """The fingerprints whose forge issue is missing or behind its count."""
        return self.store.query(
            "SELECT * FROM captured_errors WHERE issue IS NULL OR published_count < count ORDER BY first_seen"
        )

    # -- publishing ---------------------------------------------------------------------------------------
    async def publish(self) -> Published:
        """Bring the forge up to date with what was recorded (see the module docstring)."""
        opened: list[int] = []
        edited: list[int] = []
        reopened: list[int] = []
        now = self.clock()
        for row in await asyncio.to_thread(self.pending):
            if row["issue"] is not None and now - float(row["published_at"]) < self.min_interval:
                continue  # edited less than a minute ago: the next publish carries the count
            issue = await self._issue_of(row)
            if issue is None:
                made = await self._adopt(row, await self._open(row))
                opened.append(made.number)
                await self._published(row, made.number, now)
                continue
            if issue.state == "closed" and _after(row["last_seen"], issue.closed_at):
                await self.forge.edit_issue(*RepoRef.parse(self.repo), issue.number, state="open")
                await self.forge.create_comment(
                    *RepoRef.parse(self.repo), issue.number, f"Recurred in version {row['version']} on `{self.host}`."
                )
                reopened.append(issue.number)
            await self.forge.edit_issue(*RepoRef.parse(self.repo), issue.number, body=self._body(row, issue.body))
            edited.append(issue.number)
            await self._published(row, issue.number, now)
        if self.metrics is not None:
            for action, numbers in (("opened", opened), ("edited", edited), ("reopened", reopened)):
                self.metrics.error_issues.labels(action).inc(len(numbers))
        return Published(tuple(opened), tuple(edited), tuple(reopened))

    async def run(self, stop: asyncio.Event, every: float = 5.0) -> None:
        """``publish`` every ``every`` seconds until ``stop``; a forge error waits for the next round."""
        while not stop.is_set():
            try:
                await self.publish()
            except UniWizardError as exc:
                log.warning("error capture: the forge is not up to date: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def _issue_of(self, row: sqlite3.Row) -> Issue | None:
        """The issue of ``row``'s fingerprint: the one recorded, else one any host opened (found by marker)."""
        owner, name = RepoRef.parse(self.repo)
        if row["issue"] is not None:
            return await self.forge.get_issue(owner, name, int(row["issue"]))
        marker = MARKER.format(key=row["fingerprint"])
        async for issue in self.forge.iter_issues(owner, name, state="all", labels=[SOURCE_LABEL]):
            if marker in issue.body:
                return issue
        return None

    async def _open(self, row: sqlite3.Row) -> Issue:
        owner, name = RepoRef.parse(self.repo)
        if self._labels is None:
            made = [
                await self.forge.ensure_label(owner, name, BUG_LABEL, "#d73a4a", description="Something is broken"),
                await self.forge.ensure_label(
                    owner, name, SOURCE_LABEL, "#c5def5", description="Opened by uni-wizard's error capture"
                ),
            ]
            self._labels = [label.id for label in made]
        return await self.forge.create_issue(owner, name, row["title"], self._body(row, ""), labels=self._labels)

    async def _adopt(self, row: sqlite3.Row, made: Issue) -> Issue:
        """``made``, or the older issue of the same fingerprint another host opened at the same moment (ours is
        then closed as its duplicate: the first writer wins)."""
        owner, name = RepoRef.parse(self.repo)
        marker = MARKER.format(key=row["fingerprint"])
        first = made
        async for issue in self.forge.iter_issues(owner, name, state="all", labels=[SOURCE_LABEL]):
            if marker in issue.body and issue.number < first.number:
                first = issue
        if first.number != made.number:
            await self.forge.create_comment(owner, name, made.number, f"Duplicate of #{first.number} (same error).")
            await self.forge.edit_issue(owner, name, made.number, state="closed")
            await self.forge.edit_issue(owner, name, first.number, body=self._body(row, first.body))
        return first

    def _body(self, row: sqlite3.Row, current: str) -> str:
        """The issue's body: the first opener's traceback and context (kept as the issue has them), the total, and
        one row per host (this host's rewritten, the others' kept as they are)."""
        hosts = {m["host"]: m.group(0) for m in _ROW.finditer(current)}
        hosts[self.host] = f"| `{self.host}` | {row['count']} | {row['last_seen']} | {row['version']} |"
        total = sum(int(m["count"]) for m in (_ROW.match(line) for line in hosts.values()) if m is not None)
        seen = (
            f"An unexpected `{row['kind']}` in a uni-wizard daemon, seen {total} time{'s' * (total != 1)} "
            "(each host counts its own; the table is edited in place, at most once a minute)."
        )
        story = current.split(_TABLE, 1)[0].split("\n")[3:] if _TABLE in current else []
        if not story:
            story = [
                f"What led to it (first seen on `{self.host}`): {row['context']}",
                "",
                "```",
                str(row["text"]).replace("```", "'''"),
                "```",
                "",
            ]
        lines = [
            MARKER.format(key=row["fingerprint"]),
            seen,
            "",
            *story,
            _TABLE,
            "|---|---:|---|---|",
            *sorted(hosts.values()),
            "",
            "<sub>uni-wizard error capture: close this issue once it is fixed; it is reopened if it recurs.</sub>",
        ]
        return scrub("\n".join(lines))

    async def _published(self, row: sqlite3.Row, issue: int, at: float) -> None:
        count = int(row["count"])
        await self.store.asubmit(
            lambda db: db.execute(
                "UPDATE captured_errors SET issue = ?, published_count = ?, published_at = ? WHERE fingerprint = ?",
                (issue, count, at, row["fingerprint"]),
            )
        )


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _after(last_seen: str, closed: datetime | None) -> bool:
    """An occurrence at ``last_seen`` came after ``closed`` (the issue was closed before it recurred)."""
    if closed is None:
        return True
    seen = datetime.strptime(last_seen, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return seen > closed
