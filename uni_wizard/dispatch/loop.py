"""The dispatcher loop: webhook hints first, then the level-triggered sweep, all under the lease.

Each turn: hold (or try to take) the lease, renewed as the turn goes on; consume the webhook queue
(each event names an issue to re-derive); sweep every repository for issues updated since the last
sweep (``since`` is inclusive: de-duplicated); and every ``full_sweep_minutes`` re-derive every open
issue. The sweep cursor moves only after every issue of the window was handled, and an issue counts
as seen only once it was handled, so a crash in the middle loses nothing: the next sweep covers the
same window again, and handling is idempotent.

The event log records what sweeps did, not that they ran: a sweep that repaired nothing writes no
``sweep.finished`` (but the first of each repository, which says the loop is up); the idle ones are counted
into one ``sweep.summary`` every ``dispatcher.idle_summary_minutes``.

Between turns ``run`` waits ``poll_seconds``, or less: a webhook event queued for one of its repositories and
not yet claimed (looked for every ``HINT_SECONDS``) starts a turn at once, so an issue filed while the
dispatcher waits is triaged within about a second, not a poll interval. Such a turn consumes the queue only;
the sweeps keep their pace of one per ``poll_seconds`` (listing a repository whose issues are megabytes
long costs the forge and the dispatcher far more than the queue's events).

With a ``memory`` (``MemorySync``, the forge's memory), each sweep starts by bringing it up to date
(``MemorySync.update``) and each issue a webhook event names is indexed as read, before it is handled:
triage searches the memory for its duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Any, Literal

from ..errors import ForgeError, ForgeUnavailable, LeaseLost, NotFound, StoreError
from ..forge.actions import Action
from ..forge.models import Issue
from ..forge.pagination import dedupe_since
from ..intake.queue import WebhookIntake
from ..memory import MemorySync
from ..observe.events import EventKind
from ..reporef import RepoRef
from .dispatcher import Dispatcher
from .forge_api import DispatchForge
from .issue_states import SweepCursors
from .sweep_log import IdleSweeps, SweepLog, SweepReport
from .waiting import WAITING_STATUS, WaitLine, free_slots

__all__ = ["HINT_SECONDS", "DispatchLoop", "IdleSweeps", "SweepLog", "SweepReport", "drain", "in_sweep_order"]

log = logging.getLogger(__name__)
ISSUE_KINDS = ("issue", "issue_comment")
HINT_SECONDS = 0.5  # how often a waiting loop looks for queued webhook events


def in_sweep_order(repo: str, issues: list[Issue], line: WaitLine) -> list[Issue]:
    """The waiting issues first, in the line's order (so a sweep routes them in it while a house has room),
    then the others as they were updated (the order decides which of two similar issues is the duplicate)."""
    order = {entry.number: place for place, entry in enumerate(line.ordered()) if entry.repo == repo}
    waiting = sorted((i for i in issues if i.number in order), key=lambda i: order[i.number])
    others = [i for i in issues if i.number not in order]
    others.sort(key=lambda i: (i.updated_at or datetime.min.replace(tzinfo=UTC), i.number))
    return waiting + others


async def drain(dispatcher: Dispatcher, keep_lease: Callable[[], Awaitable[None]]) -> list[tuple[str, int, Action]]:
    """Route the waiting issues (``waiting.py``), head first, while a house has room: each read again (one read
    per issue routed), then handled. Stops at the first that still waits (nobody may pass it) or a forge failure."""
    done: list[tuple[str, int, Action]] = []
    line = dispatcher.waiting
    for entry in line.ordered():
        if free_slots(dispatcher.houses, dispatcher.states.load()) <= 0:
            break
        await keep_lease()
        owner, name = RepoRef.parse(entry.repo)
        try:
            issue = await dispatcher.forge.get_issue(owner, name, entry.number)
            actions = await dispatcher.handle(entry.repo, issue)
        except (ForgeError, ForgeUnavailable) as exc:
            log.warning("%s#%d: cannot route it from the waiting line: %s", entry.repo, entry.number, exc)
            break
        done += [(entry.repo, entry.number, action) for action in actions]
        if entry.id in line:
            break
    return done


async def remember(memory: MemorySync | None, repo: str, **what: Any) -> None:
    """``memory.update(repo, **what)`` when the loop has a memory."""
    if memory is not None:
        await memory.update(repo, **what)


class DispatchLoop:
    """Turns of ``dispatcher`` over ``repos``. ``clock`` (wall time, ``time.time``) decides when a full sweep is
    due and dates the one that ended; the pauses between turns run on ``time.monotonic``."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        repos: tuple[str, ...],
        intake: WebhookIntake | None = None,
        clock: Callable[[], float] = time.time,
        memory: MemorySync | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.memory = memory
        self.repos = repos
        self.intake = intake
        self.clock = clock
        self.cursors = SweepCursors(dispatcher.store)
        self._seen: dict[str, set[Hashable]] = {repo: set() for repo in repos}
        self._labels_ready: set[str] = set()
        self._renewed = time.monotonic()  # when the lease was last taken or renewed
        self.sweep_log = SweepLog()

    @property
    def forge(self) -> DispatchForge:
        return self.dispatcher.forge

    # -- labels --------------------------------------------------------------------
    async def ensure_labels(self, repo: str) -> int:
        """Create or fix every label the dispatcher uses (status, priority, kind, house, flags)."""
        owner, name = RepoRef.parse(repo)
        specs = self.dispatcher.config.labels(tuple(self.dispatcher.houses))
        if not self.dispatcher.dry_run:
            self.dispatcher.lease.ensure()
            for spec in specs:
                await self.forge.ensure_label(
                    owner, name, spec.name, spec.color, description=spec.description, exclusive=spec.exclusive
                )
        self._labels_ready.add(repo)
        return len(specs)

    # -- the sweep -------------------------------------------------------------------
    def _save_cursor(self, repo: str, since: datetime | None, last_full: datetime | None) -> None:
        if not self.dispatcher.dry_run:
            self.cursors.save(repo, since, last_full)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def sweep(self, repo: str, *, full: bool) -> SweepReport:
        """Re-derive the issues updated since the last sweep (or, ``full``, every open issue)."""
        started = time.perf_counter()
        report = SweepReport(repo, full)
        owner, name = RepoRef.parse(repo)
        since, last_full = self.cursors.get(repo)
        seen = self._seen.setdefault(repo, set())
        await remember(self.memory, repo, full=full, pace=self._keep_lease)
        if full:
            issues = await self._listing(owner, name, state="open")
            self.dispatcher.open_issues[repo] = {}
            for issue in issues:
                self.dispatcher._track_open(repo, issue)
            self.dispatcher.waiting.reset(repo, issues)
        else:
            await self.seed_line(repo)
            listed = await self._listing(owner, name, state="all", since=since)
            issues = dedupe_since(listed, set(seen))  # a copy: an issue is seen once it was handled
            for issue in issues:
                self.dispatcher.waiting.observe(repo, issue)
        for issue in in_sweep_order(repo, issues, self.dispatcher.waiting):
            await self._keep_lease()
            if await self._handle(repo, issue, report) and not full:
                dedupe_since([issue], seen)
        newest = max((i.updated_at for i in issues if i.updated_at is not None), default=since)
        if not report.failed:
            # a full sweep lists open issues only: it cannot move the window of the incremental one
            next_since = newest if not full or since is None else since
            self._save_cursor(repo, next_since, self._now() if full else last_full)
            if newest is not None:  # keep only the keys the next inclusive window can return again
                self._seen[repo] = {k for k in self._seen[repo] if isinstance(k, tuple) and k[-1] == str(newest)}
        report.duration = time.perf_counter() - started
        metrics = self.dispatcher.metrics
        metrics.sweep_duration.labels("full" if full else "incremental").observe(report.duration)
        minutes = self.dispatcher.config.dispatcher.idle_summary_minutes
        await self.sweep_log.finished(report, self.dispatcher.events, self.clock(), summary_minutes=minutes)
        return report

    async def seed_line(self, repo: str) -> None:
        """List ``repo``'s waiting issues once, when met without a full sweep: a new issue never passes one
        that waited before this process started."""
        if repo not in self.dispatcher.waiting.known:
            owner, name = RepoRef.parse(repo)
            found = self.forge.iter_issues(owner, name, state="open", type="issues", labels=(WAITING_STATUS,))
            self.dispatcher.waiting.reset(repo, [issue async for issue in found])

    async def _listing(
        self, owner: str, name: str, *, state: Literal["open", "all"], since: datetime | None = None
    ) -> list[Issue]:
        """Every issue of a listing, the lease renewed between pages: a big repository lists for longer
        than the lease lives."""
        issues = []
        async for issue in self.forge.iter_issues(owner, name, state=state, type="issues", since=since):
            await self._keep_lease()
            issues.append(issue)
        return issues

    async def _keep_lease(self) -> None:
        """Renew the lease during a long turn (at most every ``poll_seconds``), so that a big sweep does not
        outlive it; ``LeaseLost`` when it cannot be renewed."""
        if self.dispatcher.dry_run or time.monotonic() - self._renewed < self.dispatcher.config.dispatcher.poll_seconds:
            return
        if not await self.dispatcher.lease.renew():
            raise LeaseLost(f"the {self.dispatcher.lease.name} lease could not be renewed: nothing more is written")
        self._renewed = time.monotonic()

    async def _handle(self, repo: str, issue: Issue, report: SweepReport) -> bool:
        """Handle one issue of a sweep; False when the forge failed (the issue is in ``report.failed``)."""
        report.issues += 1
        try:
            actions = await self.dispatcher.handle(repo, issue)
        except (ForgeError, ForgeUnavailable) as exc:
            log.warning("%s#%d: %s", repo, issue.number, exc)
            report.failed.append((issue.number, str(exc)))
            return False
        report.actions += [(issue.number, a) for a in actions]
        for action in actions:
            if action.apply is not None and action.kind != "triage" and not self.dispatcher.dry_run:
                await self.dispatcher.events.emit(
                    EventKind.SWEEP_REPAIRED,
                    f"repair:{repo}#{issue.number}:{action.kind}:{issue.updated_at}:{self.dispatcher.lease.epoch}",
                    repository=repo,
                    number=issue.number,
                    data={"action": action.kind, "what": action.description},
                )
        return True

    # -- the webhook queue -------------------------------------------------------------
    async def consume(self, limit: int = 200) -> int:
        """Handle the issues named by queued webhook events; return how many events were consumed.

        The events are handled in the order they arrived: the order decides which of two similar issues is
        the duplicate of the other (the later one), so it is the forge's order, whatever the sizes."""
        if self.intake is None:
            return 0
        batch = await self.intake.next_batch(limit)
        handled: set[tuple[str, int]] = set()
        done: list[int] = []
        for queued in batch:
            key = (queued.repository, queued.number or 0)
            wanted = queued.repository in self.repos and queued.kind in ISSUE_KINDS and queued.number
            if wanted and key not in handled:
                await self._keep_lease()
                owner, name = RepoRef.parse(queued.repository)
                try:
                    issue = await self.forge.get_issue(owner, name, int(queued.number or 0))
                    await remember(self.memory, queued.repository, issue=issue)  # first: triage searches it
                    await self.dispatcher.handle(queued.repository, issue)
                except (ForgeError, ForgeUnavailable) as exc:
                    if isinstance(exc, NotFound):  # deleted: it leaves the memory
                        await remember(self.memory, queued.repository, gone=int(queued.number or 0))
                    log.warning("event %d for %s#%s: %s", queued.id, queued.repository, queued.number, exc)
                    continue  # not marked done: claimed again later; the sweep covers it meanwhile
                handled.add(key)
            await self.dispatcher.events.emit(
                EventKind.WEBHOOK_RECEIVED,
                f"webhook:{queued.delivery}",
                repository=queued.repository,
                number=queued.number,
                data={"event_type": queued.event_type, "acted": bool(wanted)},
            )
            done.append(queued.id)
        if done and not self.dispatcher.dry_run:
            await self.intake.mark_done(done)
        return len(done)

    # -- the loop ----------------------------------------------------------------------
    async def run_once(self, *, sweep: bool = True) -> list[SweepReport]:
        """One turn: the lease, the labels, the webhook queue and (``sweep``) the sweep of every repository."""
        lease = self.dispatcher.lease
        if not lease.held:
            if not await lease.acquire():
                return []  # a standby: another host holds the lease
            await self.dispatcher.events.emit(
                EventKind.LEASE_ACQUIRED, f"lease:{lease.name}:{lease.epoch}", data={"epoch": lease.epoch}
            )
        elif not await lease.renew():
            return []
        self._renewed = time.monotonic()
        reports = []
        try:
            for repo in self.repos:
                if repo not in self._labels_ready:
                    await self.ensure_labels(repo)
                if self.intake is not None:  # an issue of a webhook event must find the line there
                    await self.seed_line(repo)
            await self.consume()
            await drain(self.dispatcher, self._keep_lease)
            minutes = self.dispatcher.config.dispatcher.full_sweep_minutes
            for repo in self.repos if sweep else ():
                _, last_full = self.cursors.get(repo)
                full = last_full is None or (self._now() - last_full).total_seconds() >= minutes * 60
                reports.append(await self.sweep(repo, full=full))
            if sweep:
                await drain(self.dispatcher, self._keep_lease)
        except LeaseLost as exc:
            await self.dispatcher.events.emit(
                EventKind.LEASE_LOST,
                f"lease-lost:{lease.name}:{lease.epoch}",
                data={"epoch": lease.epoch, "why": str(exc)},
            )
        return reports

    async def run(self, stop: asyncio.Event) -> None:
        """Turn until ``stop`` is set; a failing turn is logged and retried after the poll interval."""
        poll = self.dispatcher.config.dispatcher.poll_seconds
        sweep_at = 0.0  # the first turn sweeps
        while not stop.is_set():
            sweep = time.monotonic() >= sweep_at
            try:
                await self.run_once(sweep=sweep)
            except (ForgeError, ForgeUnavailable) as exc:
                log.warning("dispatcher turn failed: %s", exc)
            if sweep:
                sweep_at = time.monotonic() + poll
            await self.pause(stop, max(0.0, sweep_at - time.monotonic()))

    async def pause(self, stop: asyncio.Event, seconds: float) -> bool:
        """Wait until ``stop``, ``seconds``, or a webhook event for one of the repositories waits unclaimed
        (then True: a turn that only consumes the queue is due; the sweep keeps its own pace)."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            if self._work_waiting():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(left, HINT_SECONDS))
        return False

    def _work_waiting(self) -> bool:
        if self.intake is None:
            return False
        try:
            return self.intake.unclaimed(self.repos)
        except StoreError as exc:
            log.warning("cannot look at the webhook queue: %s (the poll covers it)", exc)
            return False
