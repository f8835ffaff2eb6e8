"""Build a host's reconciler from its settings (daemon role ``reconciler``, ``uni-wizard reconcile once``).

It reads ``configs/mesh.yaml`` (``settings.mesh_config``) for the ``reconcile`` section, the mesh
repository (``reconcile.repo``, else ``lease.repo``) and this host's roles; ``configs/review.yaml``
for who may approve (the reviewer's rule); ``gitea_token`` for the forge (statuses need write access
to the mesh repository). Disk: ``settings.release_root`` (releases, ``current``, the state file, the
git cache, configuration backups) and ``settings.config_dir`` (``houses/``, ``configs/``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from urllib.parse import urlsplit

from ..config import Settings
from ..deployment.layout import role_port
from ..errors import ConfigError, UniWizardError
from ..forge.client import GiteaClient
from ..forge.hints import QueueHint
from ..harness.runtime import Runtime
from ..mesh.config import HostEntry, load_mesh_config
from ..observe.events import EventLog
from ..review.config import load_review_config
from ..roles import role_token
from .configs import ConfigInstaller
from .metrics import ReconcileMetrics
from .reconciler import Reconciler
from .releases import Releases
from .services import HealthGate, HttpHealthGate, ServiceManager, SystemctlServiceManager
from .source import MeshSource
from .state import StateFile

__all__ = ["build_reconciler", "check_reconciler_settings", "next_wait", "run_reconciler", "serve_reconciler"]

# Webhook events that may mean a new merge on the mesh repository: they wake the poll early.
PUSH_HINTS = ("push", "pull_request")

log = logging.getLogger(__name__)


def _health_urls(settings: Settings, configured: tuple[str, ...], entry: HostEntry | None) -> tuple[str, ...]:
    """``reconcile.health_urls``, else ``/ready`` of every role daemon of this host but the reconciler (each
    on its ``role_port``), else the host's url (a host that runs only the reconciler), else this daemon."""
    if configured:
        return configured
    if entry is None:
        return (f"http://127.0.0.1:{settings.port}/ready",)
    others = [role for role in entry.roles if role != "reconciler"]
    if not others:
        return (entry.url.rstrip("/") + "/ready",)
    parts = urlsplit(entry.url)
    return tuple(f"{parts.scheme}://{parts.hostname}:{role_port(entry, role)}/ready" for role in others)


async def build_reconciler(
    settings: Settings,
    runtime: Runtime,
    *,
    forge: GiteaClient | None = None,
    services: ServiceManager | None = None,
    health: HealthGate | None = None,
    dry_run: bool = False,
) -> Reconciler:
    """The reconciler of ``settings.host``; ``forge``, ``services`` and ``health`` default to the real ones."""
    mesh = load_mesh_config(settings.mesh_config)
    config = mesh.reconcile
    repo = config.repo or mesh.lease.repo
    token = role_token(settings, "reconciler", settings.house or settings.dispatcher_house)
    assert settings.gitea_url is not None
    forge = forge or GiteaClient(settings.gitea_url, token, registry=runtime.metrics.registry)
    owner, name = repo.split("/", 1)
    described = await forge.get_repo(owner, name)
    branch = described.default_branch or "main"
    clone_url = described.clone_url or f"{settings.gitea_url.rstrip('/')}/{repo}.git"
    entry = mesh.host(settings.host)
    roles = entry.roles if entry is not None else settings.roles
    units = config.units or tuple(f"uni-wizard@{role}.service" for role in roles if role != "reconciler")
    if settings.houses_dir != settings.config_dir / "houses":
        log.warning("houses_dir %s is not %s: installed houses are not the ones this host loads",
                    settings.houses_dir, settings.config_dir / "houses")  # fmt: skip
    root = settings.release_root
    review = load_review_config(settings.review_config)

    def approvers() -> frozenset[str]:
        houses = runtime.houses
        return frozenset({p.gitea_user for p in houses.values() if p.rules.may_approve} | {settings.owner})

    reload_houses: Callable[[], None] = runtime.reload_houses
    return Reconciler(
        forge,
        repo=repo,
        branch=branch,
        host=settings.host,
        settings=config,
        review=review,
        approvers=approvers,
        source=MeshSource(root / "mesh.git", clone_url, token=token, pin_path=config.pin_path),
        releases=Releases(root, config),
        configs=ConfigInstaller(settings.config_dir, root / "config-backups"),
        state=StateFile(root / "reconcile-state.json"),
        services=services or SystemctlServiceManager(),
        health=health or HttpHealthGate(interval=config.health_interval_seconds),
        health_urls=_health_urls(settings, config.health_urls, entry),
        units=units,
        events=EventLog(runtime.store, settings.host),
        metrics=ReconcileMetrics.for_registry(runtime.metrics.registry),
        reload_houses=reload_houses,
        dry_run=dry_run,
    )


def next_wait(poll: float, jitter: float, rng: Callable[[], float] = random.random) -> float:
    """``poll`` times a factor drawn uniformly from [1 - jitter, 1 + jitter)."""
    return poll * (1 - jitter + 2 * jitter * rng())


async def run_reconciler(reconciler: Reconciler, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
    """Reconcile, then wait ``poll_seconds`` ± jitter (or until ``wake``, a push hint), until ``stop``."""
    wake = wake or asyncio.Event()
    while not stop.is_set():
        try:
            outcome = await reconciler.reconcile_once()
            reconciler.metrics.polls.labels(outcome="ok").inc()
            if outcome.outcome not in ("idle", "busy"):
                log.info("reconcile %s: %s #%d %s", outcome.outcome, outcome.sha[:12], outcome.number, outcome.reason)
        except UniWizardError as exc:
            reconciler.metrics.polls.labels(outcome="error").inc()
            log.warning("reconcile pass failed: %s: %s", type(exc).__name__, exc)
        wait = next_wait(reconciler.settings.poll_seconds, reconciler.settings.jitter)
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
        _, pending = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        wake.clear()


def check_reconciler_settings(settings: Settings) -> None:
    """``ConfigError`` now for what would stop the reconciler later: the mesh file, the forge settings."""
    load_mesh_config(settings.mesh_config)
    load_review_config(settings.review_config)
    role_token(settings, "reconciler", settings.house or settings.dispatcher_house)


async def serve_reconciler(settings: Settings, runtime: Runtime, stop: asyncio.Event) -> None:
    """The daemon role: build the reconciler (retrying while the forge is unreachable), then run it."""
    poll = load_mesh_config(settings.mesh_config).reconcile.poll_seconds
    while not stop.is_set():
        try:
            reconciler = await build_reconciler(settings, runtime)
        except ConfigError:
            log.exception("reconciler role stopped: fix the configuration and restart")
            return
        except UniWizardError as exc:
            log.warning("reconciler cannot start yet: %s: %s (retrying in %.0f s)", type(exc).__name__, exc, poll)
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll)
            except TimeoutError:
                continue
            return
        wake = asyncio.Event()  # a push to the mesh repository, queued by any daemon of this host
        hint = QueueHint(runtime.store, {reconciler.repo}, wake.set, event_types=PUSH_HINTS, name="the reconciler")
        hints = asyncio.create_task(hint.run(stop), name="reconciler-hint")
        try:
            await run_reconciler(reconciler, stop, wake)
        finally:
            hints.cancel()
            await asyncio.gather(hints, return_exceptions=True)
            await reconciler.forge.aclose()
        return
