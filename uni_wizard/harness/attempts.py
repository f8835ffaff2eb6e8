"""The attempts of one call: the tool under its group's breaker and a timeout, blocking tools in the house's
thread pool, retried on transient errors (idempotent tools only), every failure turned into a typed error.

    output, error, attempts = await Attempts(runtime, house).run(spec, kwargs, timeout=5.0, retries=2)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pybreaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..errors import ToolExecutionError, ToolTimeout, TransientToolError, UniWizardError
from ..tools.anchor import AnchoredPath
from ..tools.spec import ToolSpec
from .runtime import Runtime

__all__ = ["Attempts"]


class Attempts:
    """Runs tools for ``house`` on ``runtime``'s breakers, pools and sleep."""

    def __init__(self, runtime: Runtime, house: str) -> None:
        self.runtime, self.house = runtime, house

    async def run(
        self, spec: ToolSpec, values: Mapping[str, Any], *, timeout: float, retries: int
    ) -> tuple[Any, BaseException | None, int]:
        """``(output, error, attempts)``: the tool's output, or the error that ended the call (typed:
        ``ToolTimeout``, a ``UniWizardError`` as raised, anything else wrapped in ``ToolExecutionError``)."""
        kwargs = dict(values)
        if spec.env_param is not None:
            kwargs[spec.env_param] = self.runtime.env
        counted = [0]
        try:
            return await self._retried(spec, kwargs, timeout, retries, counted), None, counted[0]
        except TimeoutError as exc:
            if not isinstance(exc, ToolTimeout):
                exc = ToolTimeout(f"{spec.name} did not finish within {timeout:g} s")
            return None, exc, counted[0]
        except UniWizardError as exc:
            return None, exc, counted[0]
        except Exception as exc:  # a bug or an unexpected failure inside the tool: report it, typed
            wrapped = ToolExecutionError(f"{spec.name} raised {type(exc).__name__}: {exc}")
            wrapped.__cause__ = exc
            return None, wrapped, counted[0]

    async def _retried(
        self, spec: ToolSpec, kwargs: Mapping[str, Any], timeout: float, retries: int, counted: list[int]
    ) -> Any:
        try:
            return await self._once(spec, kwargs, timeout, counted)
        except TransientToolError as first:
            if retries <= 0:
                raise
            first_failure: TransientToolError | None = first

        async def again() -> Any:
            # tenacity is built only once a call has failed (it costs more than a whole SIMPLE call);
            # its first attempt replays that failure, so it waits before calling the tool again.
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await self._once(spec, kwargs, timeout, counted)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientToolError),
            stop=stop_after_attempt(retries + 1),
            wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
            reraise=True,
            sleep=self.runtime.sleep or asyncio.sleep,
        )
        return await retrying(again)

    async def _once(self, spec: ToolSpec, kwargs: Mapping[str, Any], timeout: float, counted: list[int]) -> Any:
        counted[0] += 1
        board = self.runtime.breakers
        try:
            with board.breaker(spec.group).calling():  # never breaker.call(): it would not await (CASCADE_FACTS §2)
                async with asyncio.timeout(timeout):
                    if spec.is_async:
                        return await spec.fn(**kwargs)
                    return await self._in_pool(spec, kwargs, timeout)
        except pybreaker.CircuitBreakerError as exc:
            raise board.translate(spec.group, exc) from None

    async def _in_pool(self, spec: ToolSpec, kwargs: Mapping[str, Any], timeout: float) -> Any:
        """A blocking tool in the house's thread pool; the thread holds the anchored paths while it runs."""
        held = [value.acquire() for value in kwargs.values() if isinstance(value, AnchoredPath)]

        def release() -> None:
            for value in held:
                value.release()

        def in_thread() -> Any:
            try:
                return spec.fn(**kwargs)
            finally:
                release()

        return await self.runtime.pools.run(self.house, in_thread, timeout=timeout, not_run=release)
