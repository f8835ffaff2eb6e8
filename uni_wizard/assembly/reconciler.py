"""A host's reconciler from its settings (daemon role ``reconciler``, ``uni-wizard reconcile once``).

It reads ``configs/mesh.yaml`` (``settings.mesh_config``) for the ``reconcile`` section, the mesh
repository (``reconcile.repo``, else ``lease.repo``) and this host's roles; ``configs/review.yaml``
for who may approve (the reviewer's rule); ``gitea_token`` for the forge (statuses need write access
to the mesh repository). Disk: ``settings.release_root`` (releases, ``current``, the state file, the
git cache, configuration backups) and ``settings.config_dir`` (``houses/``, ``configs/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from ..config import Settings
from ..deployment.layout import role_port
from ..errors import ConfigError, UniWizardError
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..intake.hints import QueueHint
from ..meshfile.schema import HostEntry
from ..observe.events import EventLog
from ..reconcile.configs import ConfigInstaller
from ..reconcile.loop import PUSH_HINTS, run_reconciler
from ..reconcile.metrics import ReconcileMetrics
from ..reconcile.reconciler import Outcome, Reconciler
from ..reconcile.releases import Releases
from ..reconcile.services import HealthGate, HttpHealthGate, ServiceManager, SystemctlServiceManager
from ..reconcile.source import MeshSource
from ..reconcile.state import StateFile
from ..reporef import RepoRef
from ..tools.git_safety import repository_url
from .configs import Configs
from .shared import role_forge, role_token

__all__ = ["build_reconciler", "check_reconciler_settings", "health_urls", "reconcile_once", "serve_reconciler"]

log = logging.getLogger(__name__)


def health_urls(settings: Settings, configured: tuple[str, ...], entry: HostEntry | None) -> tuple[str, ...]:
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


def _house(settings: Settings) -> str:
    """The house whose forge user the reconciler acts as: this host's, else the dispatcher's."""
    return settings.house or settings.dispatcher_house


async def build_reconciler(
    settings: Settings,
    runtime: Runtime,
    *,
    configs: Configs | None = None,
    closing: contextlib.AsyncExitStack | None = None,
    forge: GiteaClient | None = None,
    services: ServiceManager | None = None,
    health: HealthGate | None = None,
    dry_run: bool = False,
) -> Reconciler:
    """The reconciler of ``settings.host``; ``forge``, ``services`` and ``health`` default to the real ones.
    It asks the forge for the mesh repository (its default branch, its clone URL): ``ForgeUnavailable`` when
    the forge cannot be reached. The client built here closes with ``closing`` (without one, the caller closes
    ``reconciler.forge``, a ``GiteaClient``)."""
    configs = configs or Configs(settings)
    mesh = configs.mesh
    config, repo = mesh.reconcile, mesh.reconcile.repo or mesh.lease.repo
    token = role_token(settings, "reconciler", _house(settings))
    forge = forge or role_forge(settings, runtime, "reconciler", _house(settings), closing=closing)
    described = await forge.get_repo(*RepoRef.parse(repo))
    forge_url = settings.gitea_url or ""  # role_token checked it
    entry = mesh.host(settings.host)
    roles = entry.roles if entry is not None else settings.roles
    if settings.houses_dir != settings.config_dir / "houses":
        log.warning("houses_dir %s is not %s: installed houses are not the ones this host loads",
                    settings.houses_dir, settings.config_dir / "houses")  # fmt: skip
    root = settings.release_root

    def approvers() -> frozenset[str]:
        return frozenset({p.gitea_user for p in runtime.houses.values() if p.rules.may_approve} | {settings.owner})

    return Reconciler(
        forge,
        repo=repo,
        branch=described.default_branch or "main",
        host=settings.host,
        settings=config,
        review=configs.review,
        approvers=approvers,
        source=MeshSource(
            root / "mesh.git",
            repository_url(forge_url, repo, described.clone_url),  # on the forge, or built from it
            token=token,
            pin_path=config.pin_path,
            forge_url=forge_url,
        ),
        releases=Releases(root, config),
        configs=ConfigInstaller(settings.config_dir, root / "config-backups"),
        state=StateFile(root / "reconcile-state.json"),
        services=services or SystemctlServiceManager(),
        health=health or HttpHealthGate(interval=config.health_interval_seconds),
        health_urls=health_urls(settings, config.health_urls, entry),
        units=config.units or tuple(f"uni-wizard@{role}.service" for role in roles if role != "reconciler"),
        events=EventLog(runtime.store, settings.host),
        metrics=ReconcileMetrics.for_registry(runtime.metrics.registry),
        reload_houses=runtime.reload_houses,
        dry_run=dry_run,
    )


def check_reconciler_settings(settings: Settings, *, configs: Configs | None = None) -> None:
    """``ConfigError`` now for what would stop the reconciler later: the mesh and review files, the forge
    settings."""
    configs = configs or Configs(settings)
    configs.mesh  # noqa: B018 - loads and validates the file
    configs.review  # noqa: B018
    role_token(settings, "reconciler", _house(settings))


async def serve_reconciler(
    settings: Settings, runtime: Runtime, stop: asyncio.Event, *, configs: Configs | None = None
) -> None:
    """The daemon role: build the reconciler (retrying while the forge is unreachable), then run it."""
    configs = configs or Configs(settings)
    poll = configs.mesh.reconcile.poll_seconds
    while not stop.is_set():
        try:
            reconciler, forge = await _build(settings, runtime, configs)
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
        await _run(reconciler, runtime, stop, forge)
        return


async def reconcile_once(settings: Settings, runtime: Runtime, *, dry_run: bool = False) -> Outcome:
    """One pass of this host's reconciler (``uni-wizard reconcile once``), its forge client closed after."""
    reconciler, forge = await _build(settings, runtime, Configs(settings), dry_run=dry_run)
    try:
        return await reconciler.reconcile_once()
    finally:
        await forge.aclose()


async def _build(
    settings: Settings, runtime: Runtime, configs: Configs, *, dry_run: bool = False
) -> tuple[Reconciler, GiteaClient]:
    """The reconciler and its forge client (closed here when the reconciler cannot be built)."""
    configs.mesh  # noqa: B018 - a broken mesh file is reported before the forge settings
    forge = role_forge(settings, runtime, "reconciler", _house(settings))
    try:
        return await build_reconciler(settings, runtime, configs=configs, forge=forge, dry_run=dry_run), forge
    except BaseException:
        await forge.aclose()
        raise


async def _run(reconciler: Reconciler, runtime: Runtime, stop: asyncio.Event, forge: GiteaClient) -> None:
    """Run ``reconciler`` until ``stop``, woken early by a push to the mesh repository queued by any daemon of
    this host; ``forge`` is closed at the end."""
    wake = asyncio.Event()
    hint = QueueHint(runtime.store, {reconciler.repo}, wake.set, event_types=PUSH_HINTS, name="the reconciler")
    hints = asyncio.create_task(hint.run(stop), name="reconciler-hint")
    try:
        await run_reconciler(reconciler, stop, wake)
    finally:
        hints.cancel()
        await asyncio.gather(hints, return_exceptions=True)
        await forge.aclose()
