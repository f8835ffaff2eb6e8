"""The dispatcher acts only under a lease: ``Lease`` is the interface, ``LocalLease`` a single-holder one.

The mesh issue brings the forge-backed lease (a file on ``mesh-state`` written with compare-and-swap);
everything that mutates takes ``lease.epoch`` into its audit trail and checks ``lease.held`` first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ..errors import LeaseLost

__all__ = ["Lease", "LeaseLost", "LocalLease"]


class Lease(Protocol):
    name: str

    @property
    def epoch(self) -> int:
        """Grows by one on every takeover; every mutation carries it."""

    @property
    def held(self) -> bool:
        """Held now and safe to mutate (not within the safety margin before expiry)."""

    async def acquire(self) -> bool: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...

    def ensure(self) -> int:
        """The epoch to write under; raises ``LeaseLost`` when the lease is not held."""


class LocalLease:
    """One holder in one process: held from ``acquire`` until ``release`` or until ``ttl`` passes
    without a ``renew``. The epoch grows on every acquisition after a lapse or a release."""

    def __init__(
        self,
        name: str = "dispatcher",
        *,
        ttl: float = 15.0,
        margin: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.ttl = ttl
        self.margin = margin
        self.clock = clock
        self._epoch = 0
        self._expires: float | None = None

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def held(self) -> bool:
        return self._expires is not None and self.clock() < self._expires - self.margin

    async def acquire(self) -> bool:
        if not self.held:
            self._epoch += 1
        self._expires = self.clock() + self.ttl
        return True

    async def renew(self) -> bool:
        if self._expires is None or self.clock() >= self._expires:
            self._expires = None
            return False
        self._expires = self.clock() + self.ttl
        return True

    async def release(self) -> None:
        self._expires = None

    def ensure(self) -> int:
        """The epoch to write under; raises ``LeaseLost`` when the lease is not held."""
        if not self.held:
            raise LeaseLost(f"the {self.name} lease is not held: nothing is written")
        return self._epoch
