"""Build Allegro's lane from settings: the forge client, the dispatcher, its loop.

Used by the daemon (role ``dispatcher``), ``uni-wizard dispatch``, the demo and the benchmarks, so
they all run the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config import Settings
from ..errors import ConfigError
from ..forge.client import GiteaClient
from ..forge.intake import WebhookIntake
from ..harness.runtime import Runtime
from ..observe.events import EventLog
from ..roles import role_forge
from .config import TriageConfig, load_triage_config
from .dispatcher import Dispatcher
from .lease import Lease, LocalLease
from .loop import DispatchLoop
from .metrics import DispatchMetrics

__all__ = ["build_dispatch_loop"]


def build_dispatch_loop(
    settings: Settings,
    runtime: Runtime,
    *,
    forge: GiteaClient | None = None,
    intake: WebhookIntake | None = None,
    lease: Lease | None = None,
    config: TriageConfig | None = None,
    dry_run: bool = False,
    clock: Callable[[], float] = time.time,
) -> DispatchLoop:
    """The dispatcher for ``settings`` (its forge user is the dispatcher house's ``gitea_user``)."""
    config = config or load_triage_config(settings.triage_config)
    houses = runtime.houses
    if settings.dispatcher_house not in houses:
        raise ConfigError(f"no house {settings.dispatcher_house!r} in {settings.houses_dir}", key="dispatcher_house")
    if forge is None:
        forge = role_forge(settings, runtime, "dispatcher", settings.dispatcher_house)
    if not config.dispatcher.repos:
        raise ConfigError("the dispatcher watches no repository: set dispatcher.repos", key="dispatcher.repos")
    metrics = DispatchMetrics.for_registry(runtime.metrics.registry)
    metrics.watch(runtime.store)
    dispatcher = Dispatcher(
        forge,
        login=houses[settings.dispatcher_house].gitea_user,
        store=runtime.store,
        config=config,
        houses=houses,
        lease=lease or LocalLease(clock=time.monotonic),
        host=settings.host,
        events=EventLog(runtime.store, settings.host),
        metrics=metrics,
        dry_run=dry_run,
        clock=clock,
    )
    return DispatchLoop(dispatcher, repos=config.dispatcher.repos, intake=intake, clock=clock)
