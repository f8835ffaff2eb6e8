"""The seams an apply acts through: systemd (restart, reload) and the health gate (``/ready`` answers 200).

``SystemctlServiceManager`` runs ``systemctl`` as an argv list with a timeout; tests pass a recording
manager. ``HttpHealthGate`` probes every URL until each answered 200 or the deadline passed; its clock
and sleep are injectable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from ..errors import DeployFailed, ToolExecutionError
from ..tools import process

__all__ = ["HealthGate", "HealthReport", "HttpHealthGate", "ServiceManager", "SystemctlServiceManager"]

SYSTEMCTL_TIMEOUT = 90.0


class ServiceManager(Protocol):
    """Restarts and reloads units; raises ``DeployFailed`` when systemd refuses."""

    async def restart(self, units: Sequence[str], *, wait: bool = True) -> None: ...

    async def reload(self, units: Sequence[str]) -> None: ...


class SystemctlServiceManager:
    """``systemctl restart|reload UNIT...``; ``wait=False`` adds ``--no-block`` (the reconciler's own unit)."""

    def __init__(self, *, systemctl: str = "systemctl", timeout: float = SYSTEMCTL_TIMEOUT) -> None:
        self.systemctl = systemctl
        self.timeout = timeout

    async def restart(self, units: Sequence[str], *, wait: bool = True) -> None:
        await self._call(["restart", *([] if wait else ["--no-block"]), *units])

    async def reload(self, units: Sequence[str]) -> None:
        await self._call(["reload", *units])

    async def _call(self, args: list[str]) -> None:
        if not args[-1:] or args[-1].startswith("-"):
            return  # no unit named
        try:
            done = await process.run([self.systemctl, *args], timeout=self.timeout)
        except ToolExecutionError as exc:
            raise DeployFailed(f"systemctl {' '.join(args)}: {exc}") from exc
        if not done.ok:
            raise DeployFailed(f"systemctl {' '.join(args)} failed (exit {done.returncode}): {done.stderr.strip()}")


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    reason: str
    waited: float


class HealthGate(Protocol):
    async def wait_ready(self, urls: Sequence[str], deadline: float) -> HealthReport: ...


class HttpHealthGate:
    """GET each URL every ``interval`` seconds until all answered 200 once, within ``deadline`` seconds."""

    def __init__(
        self,
        *,
        interval: float = 1.0,
        probe_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.interval = interval
        self.probe_timeout = probe_timeout
        self.clock = clock
        self.sleep = sleep
        self.transport = transport

    async def wait_ready(self, urls: Sequence[str], deadline: float) -> HealthReport:
        started = self.clock()
        waiting = list(urls)
        last: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=self.probe_timeout, transport=self.transport) as http:
            while True:
                for url in list(waiting):
                    last[url] = await self._probe(http, url)
                    if last[url] == "200":
                        waiting.remove(url)
                waited = self.clock() - started
                if not waiting:
                    return HealthReport(True, "ready", waited)
                if waited >= deadline:
                    why = "; ".join(f"{url}: {last[url]}" for url in waiting)
                    return HealthReport(False, f"not ready within {deadline:g} s ({why})", waited)
                await self.sleep(min(self.interval, max(deadline - waited, 0.0)))

    @staticmethod
    async def _probe(http: httpx.AsyncClient, url: str) -> str:
        try:
            response = await http.get(url)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return str(response.status_code)
