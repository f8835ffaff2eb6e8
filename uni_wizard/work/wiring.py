"""Build a house's worker from settings (daemon role ``worker``).

The worker acts as ``settings.house``: its forge client and its clones use ``gitea_token``, which
on a worker host is that house's forge user's token. It watches the repositories of
``configs/triage.yaml``'s ``dispatcher.repos``, polls every ``dispatcher.poll_seconds`` and claims
for ``dispatcher.claim_ttl_minutes`` (the TTL the dispatcher's sweep requeues after), so the two
agree without a second setting.

With ``planner: model`` in the settings the worker gets the model planner (the agent loop on the cascade,
within the ``planner_max_*`` budgets) for issues without a playbook; a daemon passes its one cascade as
``model``, otherwise one is built from ``cascade_config``. With the default ``planner: playbook`` no model
is contacted and such issues are blocked with a comment asking for a playbook.

Webhooks are hints: the dispatcher consumes the store's webhook queue, so the worker does not take
events from it; ``forge.hints.QueueHint`` only watches the queue grow for the worker's repositories and
wakes the worker, which then polls the forge (the truth) at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..cascade.types import CompletionClient
from ..config import Settings
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..roles import role_forge, role_house, role_repos, role_token
from .types import AgentRunner, Planner
from .worker import Worker

__all__ = ["build_worker"]

log = logging.getLogger(__name__)


def build_worker(
    settings: Settings,
    runtime: Runtime,
    *,
    forge: GiteaClient | None = None,
    planner: Planner | None = None,
    agent: AgentRunner | None = None,
    model: CompletionClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Worker:
    """The worker of ``settings.house`` over the dispatcher's repositories; its ``agent`` is the model
    planner on ``model`` when ``settings.planner`` is ``model`` (unless one is given)."""
    from ..dispatch.config import load_triage_config

    house = role_house(settings, runtime, "worker", settings.house, rule="may_take_issues")
    role_repos(settings, "worker")
    config = load_triage_config(settings.triage_config).dispatcher
    token = role_token(settings, "worker", house)
    if agent is None and settings.planner == "model":
        from ..cascade.agent_wiring import build_agent_planner, cascade_from_settings

        agent = build_agent_planner(settings, model or cascade_from_settings(settings, runtime))
    if forge is None:
        forge = role_forge(settings, runtime, "worker", house)
    return Worker(
        forge,
        house=house,
        runtime=runtime,
        repos=config.repos,
        planner=planner,
        agent=agent,
        claim_ttl=config.claim_ttl_minutes * 60,
        host=settings.host,
        clock=clock,
        token=token,
        poll_seconds=config.poll_seconds,
    )
