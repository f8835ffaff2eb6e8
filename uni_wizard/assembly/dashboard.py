"""What the daemon's dashboard pages need from the composition (``web/pages/``): the Now snapshot of this host and
the sovereign's decision on an upgrade, as callables the daemon hands to ``web.pages.Dashboard``.

    now = now_taker(settings, runtime, node=mesh_node, cascade=cascade, refresh_lease=not meshed)
    snapshot = await now()                               # what `uni-wizard houses --now` prints, from the daemon
    decide = upgrade_decider(settings, runtime)          # None unless this host reviews as a sovereign house
    upgrade = await decide(12, True, "")                 # `uni-wizard upgrades approve 12`, on the owner's word
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ..cascade.cascade import Cascade
from ..config import Settings
from ..harness.runtime import Runtime
from ..mesh.node import MeshNode
from ..observe.now import NowSnapshot
from ..upgrade.queue import UpgradeQueue
from ..upgrade.records import Upgrade
from .configs import Configs
from .now import breakers_of, take_now
from .upgrades import ApproveHead, act_on_upgrades

__all__ = ["FRESH", "UpgradeDecider", "now_taker", "upgrade_decider"]

FRESH = 1.0  # seconds a Now snapshot is shown again instead of taken anew

UpgradeDecider = Callable[[int, bool, str], Awaitable[Upgrade]]
"""``(number, approve, reason) -> the upgrade after the decision``."""


def now_taker(
    settings: Settings, runtime: Runtime, *, node: MeshNode, cascade: Cascade, refresh_lease: bool
) -> Callable[[], Awaitable[NowSnapshot]]:
    """The daemon's Now snapshot: its live breakers and cascade, its mesh node's view (a mesh of one reads its
    lease first, ``refresh_lease``). One snapshot serves every page asking within ``FRESH`` seconds, so the
    forge is read at most about once a second however many dashboards poll."""
    lock = asyncio.Lock()
    last: list[tuple[float, NowSnapshot]] = []

    async def take() -> NowSnapshot:
        async with lock:
            if last and time.monotonic() - last[0][0] < FRESH:
                return last[0][1]
            if refresh_lease:
                await node.lease.refresh()
            breakers = breakers_of(runtime.breakers.states(), cascade.status()["providers"], "this daemon")
            snapshot = await take_now(settings, runtime, node=node, breakers=breakers)
            last[:] = [(time.monotonic(), snapshot)]
            return snapshot

    return take


def upgrade_decider(settings: Settings, runtime: Runtime, *, configs: Configs | None = None) -> UpgradeDecider | None:
    """Approve or reject an upgrade as ``uni-wizard upgrades approve|reject`` does (the sovereign house's
    reviewer, its approval at the recorded head); None unless this host runs the reviewer as a house with
    ``rules.may_approve``."""
    house = settings.house
    if "reviewer" not in settings.roles or not house or house not in runtime.houses:
        return None
    if not runtime.houses[house].rules.may_approve:
        return None
    configs = configs or Configs(settings)

    async def decide(number: int, approve: bool, reason: str) -> Upgrade:
        def act(queue: UpgradeQueue, approve_head: ApproveHead) -> Awaitable[Upgrade]:
            return queue.approve(number, approve_head) if approve else queue.reject(number, reason)

        return await act_on_upgrades(settings, runtime, configs, act)

    return decide
