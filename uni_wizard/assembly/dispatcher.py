"""Allegro's lane from settings: the forge client, the dispatcher, its lease and its loop.

Used by the daemon (role ``dispatcher``), ``uni-wizard dispatch``, the demo and the benchmarks, so they all
run the same thing. The dispatcher acts as the dispatcher house's forge user (``dispatcher_house``), over
``dispatcher.repos`` of ``configs/triage.yaml``; ``settings.owner`` and Timmy may steer it with comment commands.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from ..cascade.cascade import Cascade
from ..cascade.types import CompletionClient
from ..config import Settings
from ..dispatch.classifier import ModelClassifier
from ..dispatch.config import TriageConfig
from ..dispatch.dispatcher import Dispatcher
from ..dispatch.forge_lease import ForgeLease
from ..dispatch.lease import Lease, LocalLease
from ..dispatch.loop import DispatchLoop
from ..dispatch.metrics import DispatchMetrics
from ..dispatch.offload import Offload
from ..dispatch.route_stats import RoutingStatsMetrics
from ..dispatch.spend import SpendRecorder, TokenSpend
from ..dispatch.store_lease import StoreLease
from ..dispatch.types import Classifier
from ..errors import ConfigError
from ..forge.client import GiteaClient
from ..forge.http import forge_breaker
from ..harness.runtime import Runtime
from ..intake.queue import WebhookIntake
from ..memory import MemoryIndex, MemorySync
from ..meshfile.schema import LeaseSettings
from ..observe.events import EventLog
from .configs import Configs
from .shared import blame, role_forge

__all__ = ["build_dispatch_loop", "build_forge_lease", "build_lease"]


def build_dispatch_loop(
    settings: Settings,
    runtime: Runtime,
    *,
    configs: Configs | None = None,
    closing: contextlib.AsyncExitStack | None = None,
    forge: GiteaClient | None = None,
    intake: WebhookIntake | None = None,
    lease: Lease | None = None,
    config: TriageConfig | None = None,
    dry_run: bool = False,
    clock: Callable[[], float] = time.time,
    model: CompletionClient | None = None,
) -> DispatchLoop:
    """The dispatcher for ``settings``, under ``lease`` (default: the forge lease of ``mesh_config`` when set,
    else a ``LocalLease``), reading ``config`` (default: the triage file of ``configs``). With ``triage_model``
    on, triage asks ``model`` (default: a cascade of the cascade file) for the kind; else the rules alone.
    Triage runs in ``dispatcher.triage_workers``; the forge client built here also decodes large answers there
    (a ``forge`` passed in is left as it is). The client built here closes with ``closing`` (without one, the
    caller closes ``loop.forge``, a ``GiteaClient``)."""
    configs = configs or Configs(settings)
    config = config or configs.triage
    classifier = _classifier(settings, runtime, configs, model)
    if settings.dispatcher_house not in runtime.houses:
        source = blame(settings, "dispatcher_house")
        message = f"no house {settings.dispatcher_house!r} in {settings.houses_dir}"
        raise ConfigError(message, source=source, key="dispatcher_house")
    if not config.dispatcher.repos:
        message = "the dispatcher watches no repository: set dispatcher.repos"
        raise ConfigError(message, source=str(configs.triage_path), key="dispatcher.repos")
    offload = Offload(config.dispatcher.triage_workers)
    if forge is None:
        forge = role_forge(settings, runtime, "dispatcher", settings.dispatcher_house, closing=closing)
        forge.json_decoder = offload.json_decoder
    metrics = DispatchMetrics.for_registry(runtime.metrics.registry)
    metrics.watch(runtime.store)
    kinds = {*config.kinds, config.default_kind}
    RoutingStatsMetrics.for_registry(runtime.metrics.registry).watch(runtime.store, houses=runtime.houses, kinds=kinds)
    memory = MemoryIndex(runtime.store) if config.duplicates.search == "memory" else None
    dispatcher = Dispatcher(
        forge,
        login=runtime.houses[settings.dispatcher_house].gitea_user,
        store=runtime.store,
        config=config,
        houses=runtime.houses,
        lease=lease or build_lease(settings, runtime, configs=configs, dry_run=dry_run),
        host=settings.host,
        events=EventLog(runtime.store, settings.host),
        metrics=metrics,
        dry_run=dry_run,
        clock=clock,
        classifier=classifier,
        offload=offload,
        owner=settings.owner,
        memory=memory,
    )
    sync = MemorySync(memory, forge) if memory is not None else None
    return DispatchLoop(dispatcher, repos=config.dispatcher.repos, intake=intake, clock=clock, memory=sync)


def _classifier(
    settings: Settings, runtime: Runtime, configs: Configs, model: CompletionClient | None
) -> Classifier | None:
    """The model classifier with ``triage_model`` on (on ``model``, else a cascade of the cascade file)."""
    if not settings.triage_model:
        return None
    if model is None:
        cascade = Cascade.from_config(configs.cascade, registry=runtime.metrics.registry)
        cascade.listeners.append(SpendRecorder(TokenSpend(runtime.store), settings.dispatcher_house))  # the ledger
        model = cascade
    return ModelClassifier(model)


def build_lease(
    settings: Settings, runtime: Runtime, *, configs: Configs | None = None, dry_run: bool = False
) -> Lease:
    """The dispatcher's lease: on the forge when ``mesh_config`` is set (failover between hosts), else one
    host's lease kept in its store (``StoreLease``; a dry run's is not recorded: a plain ``LocalLease``)."""
    if settings.mesh_config is None:
        if dry_run:
            return LocalLease(clock=time.monotonic)
        return StoreLease(runtime.store, holder=settings.host, house=settings.dispatcher_house)
    return build_forge_lease(settings, runtime, (configs or Configs(settings)).mesh.lease)


def build_forge_lease(settings: Settings, runtime: Runtime, lease: LeaseSettings) -> ForgeLease:
    """A ``ForgeLease`` acting as the dispatcher house's forge user, with a client of its own: a short
    timeout (one renew interval), no retries, and a breaker that admits a trial every standby poll. The
    lease closes its client (``ForgeLease.aclose``)."""
    client = role_forge(
        settings,
        runtime,
        "dispatcher",
        settings.dispatcher_house,
        timeout=lease.renew_seconds,
        retries=0,
        breaker=forge_breaker(reset_timeout=lease.standby_poll_seconds, name="forge-lease"),
    )
    return ForgeLease(
        client,
        lease,
        holder=settings.host,
        house=settings.dispatcher_house,
        events=EventLog(runtime.store, settings.host),
        registry=runtime.metrics.registry,
        close=client.aclose,
    )
