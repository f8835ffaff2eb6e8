"""One pybreaker breaker per tool group, used from asyncio the only safe way.

``pybreaker``'s ``call()`` does not await coroutines (it would count a success
for a call that has not run), so calls are made as ``with breaker.calling():
await ...`` (CASCADE_FACTS §2). Only failures that say something about the
group's health count: transient errors and timeouts. A tool's ordinary errors
("not a git repository") and cancellation are excluded, so bad input never
opens a breaker for everyone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pybreaker

from ..errors import CircuitOpen, ToolTimeout, TransientToolError

__all__ = ["BreakerBoard"]


def _not_a_health_signal(exc: BaseException) -> bool:
    return not isinstance(exc, TransientToolError | ToolTimeout | TimeoutError)


# Not failures: cancellation, and every error that says nothing about the group's health.
EXCLUDED: list[Any] = [asyncio.CancelledError, _not_a_health_signal]


class BreakerBoard:
    """Breakers by tool group, created on first use with the same settings."""

    def __init__(
        self, *, fail_max: int = 5, reset_timeout: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self.clock = clock
        self._breakers: dict[str, pybreaker.CircuitBreaker] = {}
        self._opened_at: dict[str, float] = {}

    def breaker(self, group: str) -> pybreaker.CircuitBreaker:
        breaker = self._breakers.get(group)
        if breaker is None:
            breaker = pybreaker.CircuitBreaker(
                fail_max=self.fail_max,
                reset_timeout=self.reset_timeout,
                exclude=EXCLUDED,
                name=group,
                listeners=[_OpenedAt(self._opened_at, self.clock)],
            )
            self._breakers[group] = breaker
        return breaker

    def translate(self, group: str, exc: pybreaker.CircuitBreakerError) -> Exception:
        """What a ``CircuitBreakerError`` from the group's breaker means to the caller.

        The call that trips the breaker reports its own failure (timeout, transient
        error); a call refused by an open breaker reports ``CircuitOpen``.
        """
        cause = exc.__context__
        if isinstance(cause, TransientToolError | ToolTimeout | TimeoutError):
            return cause
        opened = self._opened_at.get(group, self.clock())
        return CircuitOpen(group, max(0.0, self.reset_timeout - (self.clock() - opened)))

    def states(self) -> dict[str, str]:
        return {group: str(b.current_state) for group, b in sorted(self._breakers.items())}


class _OpenedAt(pybreaker.CircuitBreakerListener):
    def __init__(self, opened_at: dict[str, float], clock: Callable[[], float]) -> None:
        self.opened_at = opened_at
        self.clock = clock

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: object, new_state: object) -> None:
        if getattr(new_state, "name", None) == pybreaker.STATE_OPEN:
            self.opened_at[str(cb.name)] = self.clock()
