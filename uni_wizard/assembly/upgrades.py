"""The upgrade queue from settings: ``settings.upgrades_config`` (default: the shipped
``configs/upgrades.yaml``), the reconciler hosts of ``settings.mesh_config``, the host's store.

The queue runs inside Timmy's reviewer as a review extension: the composition passes
``upgrade_extension(settings, runtime)`` to ``build_reviewer(..., extend=...)``, which attaches the queue's
hook when the reviewer watches the mesh's repository; ``attached_queue`` finds the queue again.
``uni-wizard upgrades`` and ``GET /api/v1/upgrades`` read the same store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable

from ..config import Settings
from ..errors import ConfigError
from ..harness.runtime import Runtime
from ..observe.events import EventLog
from ..review.extension import ReviewerView, ReviewExtension
from ..upgrade.config import UpgradeConfig
from ..upgrade.forge_api import UpgradeForge
from ..upgrade.hook import UpgradeHook
from ..upgrade.metrics import UpgradeMetrics
from ..upgrade.queue import UpgradeQueue
from ..upgrade.records import Transition, Upgrade, UpgradeStore
from .configs import Configs
from .reviewer import ExtensionFactory, build_reviewer

__all__ = [
    "ApproveHead",
    "act_on_upgrades",
    "attached_queue",
    "build_upgrade_queue",
    "reconciler_hosts",
    "upgrade_extension",
    "upgrade_records",
]

ApproveHead = Callable[..., Awaitable[object]]
"""The reviewer's ``approve_head``: how an approved upgrade's head is approved on the forge."""


def upgrade_records(runtime: Runtime) -> UpgradeStore:
    """The queue's tables in the runtime's store; transitions are counted in the runtime's metrics and
    logged as events ``upgrade.<state>``."""
    records = UpgradeStore(runtime.store)
    UpgradeMetrics.for_registry(runtime.metrics.registry).watch(records)
    events = EventLog(runtime.store, runtime.host)

    def log_event(upgrade: Upgrade, transition: Transition) -> None:
        events.emit_sync(
            f"upgrade.{transition.to_state}",
            f"upgrade:{upgrade.repository}#{upgrade.number}:{transition.at}:{transition.to_state}",
            repository=upgrade.repository,
            number=upgrade.number,
            data={
                "from": transition.from_state,
                "to": transition.to_state,
                "head": transition.head_sha,
                "actor": transition.actor,
                "reason": transition.reason[:500],
            },
        )

    records.listeners.append(log_event)
    return records


def reconciler_hosts(configs: Configs) -> tuple[str, ...]:
    """The hosts of the mesh configuration with the ``reconciler`` role: each must report a deploy."""
    return tuple(h.name for h in configs.mesh.hosts if "reconciler" in h.roles)


def build_upgrade_queue(
    settings: Settings,
    runtime: Runtime,
    reviewer: ReviewerView,
    forge: UpgradeForge,
    *,
    configs: Configs | None = None,
    config: UpgradeConfig | None = None,
) -> UpgradeQueue:
    """The queue acting through ``forge``, the client of ``reviewer``'s forge user."""
    configs = configs or Configs(settings)
    return UpgradeQueue(
        forge,
        upgrade_records(runtime),
        config or configs.upgrades,
        review=reviewer.config,
        login=reviewer.login,
        approvers=reviewer.approvers,
        deploy_hosts=reconciler_hosts(configs),
        host=settings.host,
    )


def upgrade_extension(settings: Settings, runtime: Runtime, *, configs: Configs | None = None) -> ExtensionFactory:
    """For ``build_reviewer(..., extend=...)``: the queue's hook, acting through the reviewer's forge client,
    when the reviewer watches the mesh's own repository (``configs/upgrades.yaml`` ``repo``), else no
    extension."""
    configs = configs or Configs(settings)

    def extend(reviewer: ReviewerView, forge: UpgradeForge) -> list[ReviewExtension]:
        config = configs.upgrades
        if config.repo not in reviewer.repos:
            return []
        return [UpgradeHook(build_upgrade_queue(settings, runtime, reviewer, forge, configs=configs, config=config))]

    return extend


def attached_queue(extensions: Iterable[ReviewExtension]) -> UpgradeQueue | None:
    """The upgrade queue among a reviewer's ``extensions``, or None."""
    return next((e.queue for e in extensions if isinstance(e, UpgradeHook)), None)


async def act_on_upgrades(
    settings: Settings,
    runtime: Runtime,
    configs: Configs,
    act: Callable[[UpgradeQueue, ApproveHead], Awaitable[Upgrade]],
) -> Upgrade:
    """``act`` on the upgrade queue attached to this host's reviewer (``uni-wizard upgrades approve|reject`` and
    the dashboard's form); a ``ConfigError`` when the reviewer does not watch the mesh's repository."""
    async with contextlib.AsyncExitStack() as closing:
        extend = upgrade_extension(settings, runtime, configs=configs)
        reviewer = build_reviewer(settings, runtime, configs=configs, closing=closing, extend=extend)
        queue = attached_queue(reviewer.extensions)
        if queue is None:
            key = "repos" if configs.review.repos is not None else "dispatcher.repos"
            raise ConfigError(f"the reviewer does not watch the mesh's repository: add it to {key}", key=key)
        return await act(queue, reviewer.approve_head)
