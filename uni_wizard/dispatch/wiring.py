"""Build Allegro's lane from settings: the forge client, the dispatcher, its loop.

Used by the daemon (role ``dispatcher``), ``uni-wizard dispatch``, the demo and the benchmarks, so
they all run the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..cascade.types import CompletionClient
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
from .types import Classifier

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
    model: CompletionClient | None = None,
) -> DispatchLoop:
    """The dispatcher for ``settings`` (its forge user is the dispatcher house's ``gitea_user``), under ``lease``
    (default: the forge lease of ``mesh_config`` when set, else a ``LocalLease``). With ``triage_model`` on,
    triage asks ``model`` (default: a cascade from ``cascade_config``) for the kind; else the rules alone."""
    config = config or load_triage_config(settings.triage_config)
    classifier: Classifier | None = None
    if settings.triage_model:
        from ..cascade.agent_wiring import build_classifier, cascade_from_settings

        classifier = build_classifier(settings, model or cascade_from_settings(settings, runtime))
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
        lease=lease or _default_lease(settings, runtime),
        host=settings.host,
        events=EventLog(runtime.store, settings.host),
        metrics=metrics,
        dry_run=dry_run,
        clock=clock,
        classifier=classifier,
    )
    return DispatchLoop(dispatcher, repos=config.dispatcher.repos, intake=intake, clock=clock)


def _default_lease(settings: Settings, runtime: Runtime) -> Lease:
    """The forge lease when ``mesh_config`` is set (failover between hosts), else one host's ``LocalLease``."""
    if settings.mesh_config is None:
        return LocalLease(clock=time.monotonic)
    from ..mesh.failover import build_lease

    return build_lease(settings, runtime)
