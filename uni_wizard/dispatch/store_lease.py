"""The dispatcher lease of a mesh of one (no mesh file, no forge lease): a ``LocalLease`` kept in the store.

    lease = StoreLease(runtime.store, holder=settings.host, house="allegro")
    read_store_lease(runtime.store)      # what `uni-wizard mesh status` shows: holder, epoch, expiry

The lease itself stays a ``LocalLease`` (one host: it is always granted). What it holds is written into the
store's ``leases`` table on every acquisition, renewal and release, so another process of the host (the CLI's
``mesh status``) reads the truth, and the epoch keeps growing across restarts instead of starting at 1 again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from ..store import Store
from .lease import LocalLease
from .lease_record import LeaseRecord

__all__ = ["StoreLease", "read_store_lease"]

_COLUMNS = "holder, house, epoch, acquired, renewed, expires"


def read_store_lease(store: Store, name: str = "dispatcher") -> LeaseRecord | None:
    """The lease ``name`` as last written in ``store`` (None: never held on this host)."""
    rows = store.query(f"SELECT {_COLUMNS} FROM leases WHERE name = ?", (name,))  # noqa: S608 - fixed columns
    if not rows:
        return None
    row = rows[0]
    return LeaseRecord(
        holder=row["holder"],
        house=row["house"],
        epoch=int(row["epoch"]),
        acquired=float(row["acquired"]),
        renewed=float(row["renewed"]),
        expires=float(row["expires"]),
    )


class StoreLease(LocalLease):
    """A ``LocalLease`` that records itself in ``store`` (table ``leases``, row ``name``)."""

    def __init__(
        self,
        store: Store,
        *,
        holder: str,
        house: str,
        name: str = "dispatcher",
        ttl: float = 15.0,
        margin: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, ttl=ttl, margin=margin, clock=clock)
        self.store = store
        self.holder = holder
        self.house = house
        self.wall = wall
        self._acquired = 0.0

    async def acquire(self) -> bool:
        if not self.held:
            stored = read_store_lease(self.store, self.name)
            if stored is not None and stored.epoch > self.epoch:
                self._epoch = stored.epoch  # the next acquisition takes the one after it
            self._acquired = self.wall()
        granted = await super().acquire()
        await self._record(expires=self.wall() + self.ttl)
        return granted

    async def renew(self) -> bool:
        renewed = await super().renew()
        if renewed:
            await self._record(expires=self.wall() + self.ttl)
        return renewed

    async def release(self) -> None:
        await super().release()
        if self.epoch:
            await self._record(expires=self.wall())

    async def _record(self, *, expires: float) -> None:
        values = (self.name, self.holder, self.house, self.epoch, self._acquired or self.wall(), self.wall(), expires)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT INTO leases (name, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 - fixed columns
                "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, house = excluded.house, "
                "epoch = excluded.epoch, acquired = excluded.acquired, renewed = excluded.renewed, "
                "expires = excluded.expires",
                values,
            )

        await self.store.asubmit(write)
