"""Build the upgrade queue from settings: ``settings.upgrades_config`` (default: the shipped
``configs/upgrades.yaml``), the reconciler hosts of ``settings.mesh_config``, the host's store.

The queue runs inside Timmy's reviewer (``build_reviewer`` attaches it when the reviewer watches the mesh's
repository); ``uni-wizard upgrades`` and ``GET /api/v1/upgrades`` read the same store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from ..harness.runtime import Runtime
from ..mesh.config import load_mesh_config
from ..observe.events import EventLog
from .config import UpgradeConfig, load_upgrade_config
from .metrics import UpgradeMetrics
from .queue import UpgradeQueue
from .records import Transition, Upgrade, UpgradeStore

if TYPE_CHECKING:
    from ..review.reviewer import Reviewer

__all__ = ["build_upgrade_queue", "reconciler_hosts", "upgrade_records"]


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


def reconciler_hosts(settings: Settings) -> tuple[str, ...]:
    """The hosts of the mesh configuration with the ``reconciler`` role: each must report a deploy."""
    return tuple(h.name for h in load_mesh_config(settings.mesh_config).hosts if "reconciler" in h.roles)


def build_upgrade_queue(
    settings: Settings, runtime: Runtime, reviewer: Reviewer, *, config: UpgradeConfig | None = None
) -> UpgradeQueue:
    """The queue acting through ``reviewer``'s forge client, as its forge user."""
    return UpgradeQueue(
        reviewer.forge,
        upgrade_records(runtime),
        config or load_upgrade_config(settings.upgrades_config),
        review=reviewer.config,
        login=reviewer.login,
        approvers=reviewer.approvers,
        deploy_hosts=reconciler_hosts(settings),
        host=settings.host,
    )
