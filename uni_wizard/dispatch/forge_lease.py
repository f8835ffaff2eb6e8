"""The dispatcher lease on the forge: a JSON ``LeaseRecord`` on the ``mesh-state`` branch of the mesh
repository, written only with the contents API's compare-and-swap (GITEA_FACTS §3.8, DESIGN §6).

    lease = ForgeLease(forge, mesh.lease, holder=settings.host, house="allegro", events=log, registry=registry)
    if await lease.acquire():           # False: a standby, another host holds it
        epoch = lease.ensure()          # LeaseLost once it is no longer safe to act
    await lease.release()               # graceful stop: an expired record, so a standby takes over at once

The rules (docs/ARCHITECTURE.md, "The dispatcher lease"):

* **Create** with POST (the branch is made from the default branch the first time); 422 means another host
  created it first: read it.
* **Renew and take over** with PUT carrying the blob sha last read. A write that is refused or unanswered
  (422, 409, 404, 5xx, no answer) is never sent again as it was: the file is read again and decides. The
  write landed exactly when the file holds the very record that was sent.
* **Fencing.** The epoch grows by one on every takeover (never below the highest seen here). The holder acts
  only while ``held``: until the start of its last confirmed write plus ``ttl - margin``, on its *own
  monotonic clock*, whatever the forge does.
* **Skew.** A standby judges a lapse on its own monotonic clock as well: it takes over once the file's sha
  has stayed the same for ``ttl + max_clock_skew`` since it first saw that sha, or at once when the record
  was released (``expires <= renewed``, both from the releasing host's clock). No wall clock is compared
  across hosts; the recorded ``expires`` is for people.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry

from ..errors import (
    ForgeError,
    ForgeUnavailable,
    LeaseLost,
    MeshError,
    ServerError,
)
from ..meshfile.schema import LeaseSettings
from ..observe.events import EventKind
from ..reporef import RepoRef
from .lease_file import RETHINK, LeaseForge, read_lease, write_lease
from .lease_metrics import LeaseMetrics, Transition
from .lease_record import LeaseRecord

__all__ = ["ForgeLease", "LapseWatch", "LeaseForge", "read_lease"]

log = logging.getLogger(__name__)


class EventSink(Protocol):
    async def emit(self, kind: str, key: str, *, data: Mapping[str, Any] | None = None) -> int | None: ...


class LapseWatch:
    """A standby's view of a lapse, on its own monotonic clock: how long the file has kept one sha."""

    def __init__(self) -> None:
        self.sha: str | None = None
        self.since = 0.0

    def unchanged_for(self, sha: str, now: float) -> float:
        """Seconds since ``sha`` was first seen in a row (0 for a new sha)."""
        if sha != self.sha:
            self.sha, self.since = sha, now
        return now - self.since

    def forget(self) -> None:
        self.sha = None


class LeaseReports:
    """What a lease tells the world: its transitions as metrics, and as events in the event log."""

    def __init__(self, name: str, holder: str, events: EventSink | None, metrics: LeaseMetrics) -> None:
        self.name, self.holder, self.events, self.metrics = name, holder, events, metrics
        self._lost_epoch = 0  # the epoch whose loss was reported

    def count(self, transition: Transition) -> None:
        self.metrics.transition(self.name, transition)

    async def emit(self, kind: str, key: str, **data: Any) -> None:
        if self.events is not None:
            await self.events.emit(kind, key, data={"lease": self.name, "holder": self.holder, **data})

    async def settled(self, record: LeaseRecord) -> None:
        """A write whose answer was lost did land, as a later read showed: counted like any other."""
        if record.renewed == record.acquired:
            self.count("acquired")
            await self.emit(
                EventKind.LEASE_ACQUIRED, f"lease:{self.name}:{record.epoch}", epoch=record.epoch, how="confirmed"
            )
        else:
            self.count("renewed")

    async def lost(self, epoch: int, why: str) -> None:
        """Report (once per epoch) that the lease of ``epoch`` is lost."""
        if self._lost_epoch == epoch or epoch == 0:
            return
        self._lost_epoch = epoch
        self.count("lost")
        log.warning("%s lease: lost epoch %d: %s; nothing more is written under it", self.name, epoch, why)
        await self.emit(EventKind.LEASE_LOST, f"lease-lost:{self.name}:{epoch}", epoch=epoch, why=why)


class ForgeLease:
    """The ``Lease`` of ``uni_wizard.dispatch.lease``, kept in a file on the forge (see the module docstring).

    ``forge`` is the seam to the forge, ``wall`` the clock written into records (informative), ``monotonic``
    the clock every decision uses. All calls are serialised: the keeper and the dispatch loop share one.
    """

    def __init__(
        self,
        forge: LeaseForge,
        settings: LeaseSettings,
        *,
        holder: str,
        house: str,
        name: str = "dispatcher",
        events: EventSink | None = None,
        registry: CollectorRegistry = REGISTRY,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        close: Callable[[], Any] | None = None,
    ) -> None:
        self.forge = forge
        self.settings = settings
        self.holder = holder
        self.house = house
        self.name = name
        self.events = events
        self.wall = wall
        self.monotonic = monotonic
        self._close = close
        self._owner, self._repo = RepoRef.parse(settings.repo)
        self.metrics = LeaseMetrics.for_registry(registry)
        self.metrics.track(self)
        self.reports = LeaseReports(name, holder, events, self.metrics)
        self.record: LeaseRecord | None = None  # the file as last read or written
        self.sha: str | None = None
        self._mine: LeaseRecord | None = None  # the record this object last wrote, while the file still holds it
        self._pending: tuple[LeaseRecord, float] | None = None  # a write with no answer, and when it was sent
        self._valid_until: float | None = None
        self._last_write = 0.0
        self._epoch = 0
        self._max_epoch = 0
        self._settled: LeaseRecord | None = None  # a write with no answer that a read showed had landed
        self._watch = LapseWatch()
        self._lock = asyncio.Lock()

    # -- the Lease protocol ------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def held(self) -> bool:
        return self._valid_until is not None and self.monotonic() < self._valid_until

    def ensure(self) -> int:
        """The epoch to write under; ``LeaseLost`` when the lease is not held (or is within its margin)."""
        if not self.held:
            raise LeaseLost(f"the {self.name} lease (epoch {self._epoch}) is not held here: nothing is written")
        return self._epoch

    async def acquire(self) -> bool:
        """Hold the lease: renew it if held, else read the file and create it, take it over if it lapsed or
        was released, or stay a standby (False)."""
        async with self._lock:
            if self.held:
                return await self._renew()
            await self._note_lapse()
            try:
                record, sha = await self._read()
            except (ForgeUnavailable, ServerError) as exc:
                log.debug("%s lease: cannot read the file: %s", self.name, exc)
                return False
            if self.held:  # a write that had no answer did land
                await self._announce_settled()
                return True
            if record is None or sha is None:
                return await self._claim(None, None, "created")
            if record == self._mine:
                return await self._claim(record, sha, "resumed after its own lapse")
            if record.expires <= record.renewed:
                return await self._claim(record, sha, f"released by {record.holder}")
            unchanged = self._watch.unchanged_for(sha, self.monotonic())
            if unchanged >= self.settings.ttl_seconds + self.settings.max_clock_skew_seconds:
                return await self._claim(record, sha, f"lapsed: unchanged for {unchanged:.1f} s")
            return False

    async def renew(self) -> bool:
        """Extend the lease (a compare-and-swap write, skipped when the last one is younger than half the renew
        interval). True while the lease is held; False once it is lost."""
        async with self._lock:
            if not self.held:
                await self._note_lapse()
                return False
            return await self._renew()

    async def release(self) -> None:
        """Give the lease up (graceful stop): stop acting first, then write an expired record so that a standby
        takes over at once. A refused release is settled by one re-read (a renewal cut short by the stop may
        have landed) and tried once more; one that does not land only means the standby waits for the lapse."""
        async with self._lock:
            self._valid_until = None
            for attempt in (1, 2):
                mine, sha = self._mine, self.sha
                if mine is None or sha is None:
                    return
                now = self.wall()
                released = replace(mine, renewed=now, expires=now)
                try:
                    self.sha = await write_lease(self.forge, self.settings, self.name, released, sha)
                except RETHINK as exc:
                    if attempt == 2 or not await self._settle_before_release(exc):
                        return
                    continue
                except (ForgeError, MeshError) as exc:
                    log.warning("%s lease: the release was refused (%s); it lapses instead", self.name, exc)
                    return
                self._mine, self.record = None, released
                self.reports.count("released")
                await self.reports.emit(
                    EventKind.LEASE_RELEASED, f"lease-released:{self.name}:{mine.epoch}", epoch=mine.epoch
                )
                log.info("%s lease: released epoch %d", self.name, mine.epoch)
                return

    async def _settle_before_release(self, exc: Exception) -> bool:
        """Read the file after a refused release; whether it is still this host's to release."""
        log.info("%s lease: release not confirmed (%s): reading the file again", self.name, exc)
        try:
            await self._read()
        except (ForgeUnavailable, ServerError) as again:
            log.warning("%s lease: cannot read the file (%s); the lease lapses instead", self.name, again)
            return False
        finally:
            self._valid_until = None  # a settled renewal must not make it held again: it is being given up
        return self._mine is not None

    def next_renewal(self) -> float:
        """Seconds until the holder should renew: ``renew_seconds`` after its last confirmed write, or a quarter
        of that when the renewal is overdue (the last one did not land)."""
        interval = self.settings.renew_seconds
        return max(self._last_write + interval - self.monotonic(), interval / 4)

    async def aclose(self) -> None:
        """Close the forge client if this lease was given one to own."""
        if self._close is not None:
            result = self._close()
            if asyncio.iscoroutine(result):
                await result

    # -- reading and deciding -----------------------------------------------------------
    async def _read(self) -> tuple[LeaseRecord | None, str | None]:
        record, sha = await read_lease(self.forge, self.settings)
        self.record, self.sha = record, sha
        if record is not None:
            self._max_epoch = max(self._max_epoch, record.epoch)
        if self._pending is not None:
            sent, started = self._pending
            self._pending = None
            if record == sent and sha is not None:
                self._confirm(sent, sha, started)
                self._settled = sent
                return record, sha
        if self._mine is not None and record != self._mine:
            who = f"{record.holder} under epoch {record.epoch}" if record else "nobody (the file was removed)"
            await self._lose(f"deposed: the lease file now names {who}")
        return record, sha

    async def _claim(self, previous: LeaseRecord | None, sha: str | None, how: str) -> bool:
        now = self.wall()
        epoch = max(self._max_epoch, previous.epoch if previous else 0) + 1
        record = LeaseRecord(self.holder, self.house, epoch, now, now, now + self.settings.ttl_seconds)
        if not await self._write(record, sha):
            return False
        self.reports.count("acquired")
        if previous is not None:
            self.reports.count("taken_over")
        data: dict[str, Any] = {"epoch": epoch, "how": how}
        if previous is not None:
            data.update(previous_holder=previous.holder, previous_epoch=previous.epoch)
        await self.reports.emit(EventKind.LEASE_ACQUIRED, f"lease:{self.name}:{epoch}", **data)
        log.info("%s lease: acquired epoch %d (%s)", self.name, epoch, how)
        return True

    async def _renew(self) -> bool:
        if self._pending is not None:  # the last write had no answer: settle it before writing again
            try:
                await self._read()
            except (ForgeUnavailable, ServerError) as exc:
                log.info("%s lease: cannot read the file (%s): not renewed", self.name, exc)
                self.reports.count("renew_failed")
                return self.held
            await self._announce_settled()
        mine, sha = self._mine, self.sha
        if mine is None or sha is None or not self.held:
            return False
        if self.monotonic() - self._last_write < self.settings.renew_seconds / 2:
            return True
        now = self.wall()
        if await self._write(replace(mine, renewed=now, expires=now + self.settings.ttl_seconds), sha):
            self.reports.count("renewed")
            return True
        self.reports.count("renew_failed")
        return self.held

    async def _write(self, record: LeaseRecord, sha: str | None) -> bool:
        """Send ``record`` (a create when ``sha`` is None); True when it is known to have landed. A refused or
        unanswered write is settled by reading the file again."""
        started = self.monotonic()
        self._pending = (record, started)
        try:
            new_sha = await write_lease(self.forge, self.settings, self.name, record, sha)
        except RETHINK as exc:
            log.info("%s lease: write not confirmed (%s): reading the file again", self.name, exc)
            try:
                await self._read()
            except (ForgeUnavailable, ServerError) as again:
                log.info("%s lease: cannot read the file either (%s): deciding later", self.name, again)
            self._settled = None  # the caller counts it
            return self._mine == record and self.held
        self._confirm(record, new_sha, started)
        return True

    def _confirm(self, record: LeaseRecord, sha: str, started: float) -> None:
        self._mine, self.record, self.sha = record, record, sha
        self._epoch = record.epoch
        self._max_epoch = max(self._max_epoch, record.epoch)
        self._last_write = started
        self._valid_until = started + self.settings.ttl_seconds - self.settings.margin_seconds
        self._pending = None
        self._watch.forget()

    async def _announce_settled(self) -> None:
        record, self._settled = self._settled, None
        if record is not None:
            await self.reports.settled(record)

    async def _note_lapse(self) -> None:
        """Report (once) that the holder's own clock ended the lease: renewals did not land in time."""
        if self._mine is not None and not self.held:
            safe = self.settings.ttl_seconds - self.settings.margin_seconds
            await self.reports.lost(self._epoch, f"not renewed within {safe:g} s of the last confirmed write")

    async def _lose(self, why: str) -> None:
        self._valid_until = None
        self._mine = None
        await self.reports.lost(self._epoch, why)
