"""Build a house's worker from settings (daemon role ``worker``), and its webhook hint.

The worker acts as ``settings.house``: its forge client and its clones use ``gitea_token``, which
on a worker host is that house's forge user's token. It watches the repositories of
``configs/triage.yaml``'s ``dispatcher.repos``, polls every ``dispatcher.poll_seconds`` and claims
for ``dispatcher.claim_ttl_minutes`` (the TTL the dispatcher's sweep requeues after), so the two
agree without a second setting.

Webhooks are hints: the dispatcher consumes the store's webhook queue, so the worker does not take
events from it; ``QueueHint`` only watches the queue grow for the worker's repositories and wakes
the worker, which then polls the forge (the truth) at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..config import Settings
from ..errors import ConfigError, StoreError
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..store import Store
from .types import Planner
from .worker import Worker

__all__ = ["QueueHint", "build_worker"]

log = logging.getLogger(__name__)


def build_worker(
    settings: Settings,
    runtime: Runtime,
    *,
    forge: GiteaClient | None = None,
    planner: Planner | None = None,
    clock: Callable[[], float] = time.time,
) -> Worker:
    """The worker of ``settings.house`` over the dispatcher's repositories."""
    from ..dispatch.config import load_triage_config

    house = settings.house
    if not house:
        raise ConfigError("the worker role needs `house`: the house this host works as", key="house")
    if house not in runtime.houses:
        raise ConfigError(f"no house {house!r} in {settings.houses_dir}", key="house")
    if not runtime.houses[house].rules.may_take_issues:
        raise ConfigError(f"house {house!r} may not take issues (rules.may_take_issues)", key="house")
    config = load_triage_config(settings.triage_config).dispatcher
    if not config.repos:
        raise ConfigError("the worker watches no repository: set dispatcher.repos", key="dispatcher.repos")
    token = settings.secret("gitea_token")
    if not settings.gitea_url or not token:
        raise ConfigError(
            f"the worker needs gitea_url and gitea_token (the token of {house}'s forge user)", key="gitea_url"
        )
    if forge is None:
        forge = GiteaClient(settings.gitea_url, token, registry=runtime.metrics.registry)
    return Worker(
        forge,
        house=house,
        runtime=runtime,
        repos=config.repos,
        planner=planner,
        claim_ttl=config.claim_ttl_minutes * 60,
        host=settings.host,
        clock=clock,
        token=token,
        poll_seconds=config.poll_seconds,
    )


class QueueHint:
    """Wakes ``worker`` when a webhook for one of its repositories was queued since the last look."""

    def __init__(self, store: Store, worker: Worker, *, interval: float = 1.0) -> None:
        self.store, self.worker, self.interval = store, worker, interval
        self._seen: int | None = None

    def check(self) -> bool:
        """Whether an event for the worker's repositories arrived since the last look (then it is woken)."""
        if self._seen is None:
            self._seen = int(self.store.query("SELECT coalesce(max(id), 0) FROM event_queue")[0][0])
            return False
        rows = self.store.query("SELECT id, repository FROM event_queue WHERE id > ? ORDER BY id", (self._seen,))
        if not rows:
            return False
        self._seen = int(rows[-1][0])
        fresh = any(row[1] in self.worker.repos for row in rows)
        if fresh:
            self.worker.hint()
        return fresh

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.check()  # one indexed query: cheap enough for the event loop
            except StoreError as exc:
                log.warning("webhook hint for the %s worker: %s (the poll covers it)", self.worker.house, exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                continue
