"""Escalations to the owner: urgent ones mention them at once, the rest wait for one digest comment per window
on the standing "owner's inbox" issue, and what the owner does with them calibrates each category.

    desk = Escalations(store, forge, repo="mesh/work", owner="owner", calibration=Calibration(), host="vps-a")
    await desk.escalate("docs", "docs.stale", "README is out of date", repository="mesh/work", number=12)
    await desk.run(stop)          # every minute: the digest of an ended window, then the engagement decided

``escalate`` records the escalation (table ``attention_escalations``; its ``key`` makes a repeat a no-op), routes
it (``calibration.Thresholds.route``) and, when immediate, writes the mention: a comment on the escalated item
(``@owner``, the title, why now), or on the inbox issue when the escalation has no item. ``flush`` gathers every
digest escalation raised before the current window began into one comment on the inbox issue (found by its
marker, opened once, labelled ``source/escalations``). ``engagement`` reads the forge for each sent, undecided
escalation with an item: the owner acted when, after it was sent, they commented, reviewed, closed it or its
labels changed; it is ignored when the engagement window passed without that. Each decision moves the
category's threshold (``Thresholds.learn``) and is counted in ``uniwizard_escalation_engagement``.

Every host keeps the escalations it raised and writes their digest; the inbox issue is shared (the first host
opens it, the others find it by its marker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import ForgeError, NotFound, UniWizardError
from ..forge import GiteaClient
from ..observe.events import EventLog
from ..reporef import RepoRef
from ..store import Store
from .calibration import DEFAULT_WEIGHT, Calibration, Routing, Thresholds
from .metrics import AttentionMetrics, bounded

__all__ = ["INBOX_LABEL", "INBOX_MARKER", "Escalations", "Sent"]

log = logging.getLogger(__name__)

INBOX_MARKER = "<!-- uni-wizard:owner-inbox -->"
INBOX_LABEL = "source/escalations"


@dataclass(frozen=True)
class Sent:
    """One escalation as recorded: its route, why, and where it was written (None: not yet)."""

    id: int
    category: str
    kind: str
    route: str
    why: str
    sent_at: float | None


class Escalations:
    """The escalations of ``host`` to ``owner`` (a forge login), the inbox issue in ``repo``."""

    def __init__(
        self,
        store: Store,
        forge: GiteaClient,
        *,
        repo: str,
        owner: str,
        calibration: Calibration,
        host: str,
        metrics: AttentionMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.forge, self.repo, self.owner = store, forge, repo, owner
        self.calibration, self.host, self.clock = calibration, host, clock
        self.thresholds = Thresholds(store, calibration, clock=clock)
        self.metrics = metrics
        self.events = EventLog(store, host, clock=clock)
        self._inbox: int | None = None

    # -- raising ------------------------------------------------------------------------------------------
    async def escalate(
        self,
        category: str,
        kind: str,
        title: str,
        *,
        key: str | None = None,
        weight: float = DEFAULT_WEIGHT,
        repository: str | None = None,
        number: int | None = None,
        url: str = "",
        mentioned: bool = False,
    ) -> Sent:
        """Record and route one escalation; an immediate one is written at once. ``key`` (default: kind and
        item) makes a repeat a no-op that answers the first. ``mentioned``: the caller's own write on the item
        mentioned the owner already (the reviewer's verdict): recorded as sent at once, nothing more written."""
        key = key or f"{kind}:{repository}#{number}:{title}"
        found = self._by_key(key)
        if found is not None:
            return found
        routing = (
            Routing("immediate", "the owner was mentioned where it happened")
            if mentioned
            else self.thresholds.route(category, kind, weight)
        )
        labels = await self._labels(repository, number)
        now = self.clock()
        await self.store.asubmit(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO attention_escalations (key, category, kind, weight, title, url, repository, "
                "number, labels, route, why, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, category, kind, weight, title[:300], url, repository, number, labels, *_rw(routing), now),
            )
        )
        sent = self._by_key(key)
        assert sent is not None
        await self.events.emit(
            "escalation.raised",
            f"escalation:{self.host}:{sent.id}",
            repository=repository,
            number=number,
            data={"category": category, "kind": kind, "weight": weight, "route": routing.route, "why": routing.why},
        )
        if mentioned:
            await self._mark_sent([sent.id])
        elif routing.route == "immediate":
            await self._mention(sent.id)
        return self._by_key(key) or sent

    def _by_key(self, key: str) -> Sent | None:
        rows = self.store.query("SELECT * FROM attention_escalations WHERE key = ?", (key,))
        return _sent(rows[0]) if rows else None

    async def _labels(self, repository: str | None, number: int | None) -> str:
        if repository is None or number is None:
            return ""
        try:
            issue = await self.forge.get_issue(*RepoRef.parse(repository), number)
        except NotFound:
            return ""
        return ",".join(sorted(issue.label_names))

    async def _mention(self, escalation: int) -> None:
        row = self._row(escalation)
        line = f"@{self.owner} {row['title']}" + (f" ({row['url']})" if row["url"] else "")
        body = f"{line}\n\n<sub>uni-wizard escalation ({row['kind']}): {row['why']}.</sub>"
        if row["repository"] and row["number"] is not None:
            await self.forge.create_comment(*RepoRef.parse(row["repository"]), int(row["number"]), body)
        else:
            await self.forge.create_comment(*RepoRef.parse(self.repo), await self.inbox(), body)
        await self._mark_sent([escalation])

    # -- the digest ---------------------------------------------------------------------------------------
    def window_start(self, at: float | None = None) -> float:
        """The start of the digest window holding ``at`` (windows are aligned on the epoch, UTC)."""
        width = self.calibration.window_seconds
        return (self.clock() if at is None else at) // width * width

    async def flush(self) -> int | None:
        """One digest comment with every escalation batched before the current window began; its id (None:
        nothing to send)."""
        rows = self.store.query(
            "SELECT * FROM attention_escalations WHERE route = 'digest' AND sent_at IS NULL AND raised_at < ? "
            "ORDER BY category, raised_at",
            (self.window_start(),),
        )
        if not rows:
            return None
        lines = [f"**Digest for @{self.owner}**: {len(rows)} escalation{'s' * (len(rows) != 1)} of the last window"]
        lines += [f"(from `{self.host}`; urgent ones were sent at once).", ""]
        for row in rows:
            where = f" {row['repository']}#{row['number']}" if row["repository"] and row["number"] is not None else ""
            link = f" ({row['url']})" if row["url"] else ""
            lines.append(f"- **{row['category']}**{where}: {row['title']}{link} <sub>{row['why']}</sub>")
        comment = await self.forge.create_comment(*RepoRef.parse(self.repo), await self.inbox(), "\n".join(lines))
        await self._mark_sent([int(row["id"]) for row in rows])
        return int(getattr(comment, "id", 0))

    async def inbox(self) -> int:
        """The number of the owner's inbox issue in ``repo``: the one with its marker, else a new one."""
        if self._inbox is not None:
            return self._inbox
        owner, name = RepoRef.parse(self.repo)
        async for issue in self.forge.iter_issues(owner, name, state="all", labels=[INBOX_LABEL]):
            if INBOX_MARKER in issue.body:
                self._inbox = issue.number
                return issue.number
        label = await self.forge.ensure_label(owner, name, INBOX_LABEL, "#fbca04", description="The owner's inbox")
        body = (
            f"{INBOX_MARKER}\nThe owner's inbox: uni-wizard collects the escalations that are not urgent here, one "
            "digest comment per window. `uni-wizard escalations` shows each category's threshold and why."
        )
        made = await self.forge.create_issue(owner, name, "The owner's inbox (escalations)", body, labels=[label.id])
        self._inbox = made.number
        return made.number

    # -- engagement ---------------------------------------------------------------------------------------
    async def engagement(self) -> list[tuple[str, bool]]:
        """Decide the engagement of each sent, undecided escalation with an item; (category, acted) of each
        decided now (the thresholds moved)."""
        decided: list[tuple[str, bool]] = []
        now = self.clock()
        rows = self.store.query(
            "SELECT * FROM attention_escalations WHERE sent_at IS NOT NULL AND outcome IS NULL "
            "AND repository IS NOT NULL AND number IS NOT NULL ORDER BY sent_at"
        )
        for row in rows:
            acted = await self._acted(row)
            if not acted and now - float(row["sent_at"]) < self.calibration.engage_seconds:
                continue  # the owner may still act
            await self._decide(row, acted)
            decided.append((row["category"], acted))
        return decided

    async def _acted(self, row: sqlite3.Row) -> bool:
        """Whether the owner acted on ``row``'s item after it was sent: a comment, a review, a close, a label."""
        owner, name = RepoRef.parse(row["repository"])
        number, since = int(row["number"]), datetime.fromtimestamp(float(row["sent_at"]), UTC)
        try:
            issue = await self.forge.get_issue(owner, name, number)
        except NotFound:
            return False
        if issue.closed_at is not None and issue.closed_at >= since:
            return True
        if ",".join(sorted(issue.label_names)) != row["labels"]:
            return True
        for comment in await self.forge.list_comments(owner, name, number, since=since):
            if comment.user is not None and comment.user.login == self.owner:
                return True
        if issue.is_pull:
            for review in await self.forge.list_reviews(owner, name, number):
                mine = review.user is not None and review.user.login == self.owner
                if mine and review.submitted_at is not None and review.submitted_at >= since:
                    return True
        return False

    async def _decide(self, row: sqlite3.Row, acted: bool) -> None:
        outcome = "acted" if acted else "ignored"
        await self.store.asubmit(
            lambda db: db.execute(
                "UPDATE attention_escalations SET outcome = ?, decided_at = ? WHERE id = ?",
                (outcome, self.clock(), row["id"]),
            )
        )
        threshold = self.thresholds.learn(row["category"], acted=acted)
        if self.metrics is not None:
            self.metrics.engagement.labels(category=bounded(row["category"]), outcome=outcome).inc()
            self.metrics.threshold.labels(category=bounded(row["category"])).set(threshold)
        await self.events.emit(
            "escalation.engaged",
            f"escalation.engaged:{self.host}:{row['id']}",
            repository=row["repository"],
            number=row["number"],
            data={"category": row["category"], "outcome": outcome, "threshold": threshold},
        )

    # -- the loop -----------------------------------------------------------------------------------------
    async def tick(self) -> None:
        """Immediate escalations whose mention failed, the digest of an ended window, then the engagement of
        what was sent."""
        for row in self.store.query(
            "SELECT id FROM attention_escalations WHERE route = 'immediate' AND sent_at IS NULL ORDER BY id"
        ):
            await self._mention(int(row["id"]))
        await self.flush()
        await self.engagement()

    async def run(self, stop: asyncio.Event, every: float = 60.0) -> None:
        """``tick`` every ``every`` seconds until ``stop``; a forge error waits for the next round."""
        while not stop.is_set():
            try:
                await self.tick()
            except (ForgeError, UniWizardError) as exc:
                log.warning("escalations: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    # -- the store ----------------------------------------------------------------------------------------
    def _row(self, escalation: int) -> sqlite3.Row:
        return self.store.query("SELECT * FROM attention_escalations WHERE id = ?", (escalation,))[0]

    async def _mark_sent(self, ids: list[int]) -> None:
        now = self.clock()
        marks = ",".join("?" * len(ids))
        await self.store.asubmit(
            lambda db: db.execute(
                f"UPDATE attention_escalations SET sent_at = ? WHERE id IN ({marks})",  # noqa: S608 - placeholders
                (now, *ids),
            )
        )
        if self.metrics is not None:
            for escalation in ids:
                row = self._row(escalation)
                self.metrics.escalations.labels(category=bounded(row["category"]), route=row["route"]).inc()

    def recent(self, limit: int = 20) -> list[sqlite3.Row]:
        """The latest ``limit`` escalations, newest first."""
        return self.store.query("SELECT * FROM attention_escalations ORDER BY id DESC LIMIT ?", (limit,))


def _rw(routing: Routing) -> tuple[str, str]:
    return routing.route, routing.why


def _sent(row: sqlite3.Row) -> Sent:
    sent_at = row["sent_at"]
    return Sent(int(row["id"]), row["category"], row["kind"], row["route"], row["why"], sent_at)
