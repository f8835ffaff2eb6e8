"""A provider's circuit breaker: pybreaker, plus what pybreaker lacks under asyncio.

- Used only as ``with breaker.calling(): await ...`` (pybreaker's ``call()`` does not await a coroutine
  and would count a success for a call that has not run; CASCADE_FACTS §2).
- ``CancelledError``, ``GeneratorExit`` (a consumer closed a stream it no longer wants) and permanent
  errors (``ProviderRejected``) are excluded: they never count as failures.
- A single-probe guard: pybreaker's half-open state admits every concurrent caller; ``admit()`` lets one
  trial through and refuses the others as if the breaker were open.
- pybreaker counts an excluded exception as a success, so a *cancelled* trial would close the breaker
  without evidence; ``trial_cancelled()`` puts it back to half-open (the next caller is the trial).
- A listener keeps the state gauge and the transitions counter level-triggered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pybreaker

from ..errors import ProviderBreakerOpen, ProviderRejected, ProviderUnavailable
from .config import BreakerSettings
from .metrics import BREAKER_STATE_VALUES, CascadeMetrics

__all__ = ["ProviderBreaker"]

log = logging.getLogger(__name__)


class _Watch(pybreaker.CircuitBreakerListener):
    def __init__(self, provider: str, metrics: CascadeMetrics) -> None:
        self.provider = provider
        self.metrics = metrics

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", None) or "closed"
        new = str(getattr(new_state, "name", "closed"))
        if old == new:
            return
        self.metrics.breaker_state.labels(self.provider).set(BREAKER_STATE_VALUES.get(new, 2))
        self.metrics.transitions.labels(self.provider, old, new).inc()
        log.info("cascade: %s breaker %s -> %s", self.provider, old, new)


class ProviderBreaker:
    """The breaker of one provider; ``breaker`` is the pybreaker object (use ``calling()`` only)."""

    def __init__(self, provider: str, settings: BreakerSettings, metrics: CascadeMetrics) -> None:
        self.provider = provider
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.fail_max,
            reset_timeout=settings.reset_timeout_seconds,
            exclude=[asyncio.CancelledError, GeneratorExit, ProviderRejected],
            listeners=[_Watch(provider, metrics)],
            name=provider,
        )
        self.trial_in_flight = False

    @property
    def state(self) -> str:
        return str(self.breaker.current_state)

    @property
    def failures(self) -> int:
        return int(self.breaker.fail_counter)

    def admit(self, model: str) -> bool:
        """Before an attempt: True if it is the breaker's one trial (call ``done(True)`` after it); raises
        ``ProviderBreakerOpen`` while another trial is in flight. Closed: False."""
        if self.state == pybreaker.STATE_CLOSED:
            return False
        if self.trial_in_flight:
            raise ProviderBreakerOpen(
                f"{self.provider}: circuit breaker {self.state}, a trial call is in flight",
                provider=self.provider,
                model=model,
            )
        self.trial_in_flight = True  # an open breaker still inside reset_timeout refuses it itself
        return True

    def done(self, trial: bool) -> None:
        if trial:
            self.trial_in_flight = False

    def trial_cancelled(self) -> None:
        """A cancelled trial proves nothing: back to half-open, so the next caller is the trial."""
        if self.state == pybreaker.STATE_CLOSED:
            self.breaker.half_open()

    def readmit(self) -> bool:
        """The health probe saw the provider answer: an open breaker goes half-open at once (the next
        request is the trial; one more failure opens it again). False if there was nothing to do."""
        if self.state != pybreaker.STATE_OPEN or self.trial_in_flight:
            return False
        self.breaker.half_open()
        return True

    def refused(self, exc: pybreaker.CircuitBreakerError, model: str) -> ProviderBreakerOpen:
        """What a ``CircuitBreakerError`` means: this attempt tripped the breaker (its own failure is the
        context), or the open breaker refused it without contacting the provider."""
        cause = exc.__context__
        if isinstance(cause, ProviderUnavailable):
            message = f"{cause}; the circuit breaker opened"
        else:
            message = f"{self.provider}: circuit breaker open, not contacted"
        return ProviderBreakerOpen(message, provider=self.provider, model=model)
