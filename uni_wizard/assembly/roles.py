"""The roles of one daemon (``settings.roles``): every role's configuration checked before anything starts,
then each role built and its loops started.

    configs = Configs(settings)
    check_roles(settings, runtime, configs)                 # one ConfigError, before anything is opened
    start_roles(settings, runtime, configs, intake=..., cascade=..., stop=stop, start=start, closing=stack)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ..attention import BriefingRunner
from ..attention.sources import follow_events
from ..cascade.cascade import Cascade
from ..config import Settings
from ..dispatch.failover import run_dispatcher
from ..dispatch.offload import shutdown_pools
from ..errors import ConfigError
from ..harness.runtime import Runtime
from ..intake.hints import QueueHint
from ..intake.queue import WebhookIntake
from ..review.loop import run_reviewer
from ..review.reviewer import Reviewer
from .attention import briefing, escalations
from .configs import Configs
from .dispatcher import build_dispatch_loop
from .reconciler import check_reconciler_settings, serve_reconciler
from .reviewer import build_reviewer, reviewer_hint, reviewer_poll_seconds
from .shared import blame, role_house, role_token, watched_repos
from .upgrades import upgrade_extension
from .worker import WORKER_HINTS, build_worker

__all__ = ["Start", "check_roles", "start_roles"]

log = logging.getLogger(__name__)

Start = Callable[[Coroutine[Any, Any, None], str], None]
"""Starts a role's loop as a named background task of the daemon."""


def check_roles(settings: Settings, runtime: Runtime, configs: Configs) -> None:
    """What each role of ``settings.roles`` needs from the configuration, checked before the daemon opens or
    writes anything: a mistake stops the start with one ``ConfigError`` instead of failing a background task."""
    roles = settings.roles
    if "dispatcher" in roles:
        if settings.dispatcher_house not in runtime.houses:
            raise ConfigError(
                f"no house {settings.dispatcher_house!r} in {settings.houses_dir}",
                source=blame(settings, "dispatcher_house"),
                key="dispatcher_house",
            )
        role_token(settings, "dispatcher", settings.dispatcher_house)
        watched_repos(configs, "dispatcher", None, source="", key="dispatcher.repos")
        configs.mesh  # noqa: B018 - loads and validates the file
    if "worker" in roles:
        house = role_house(settings, runtime, "worker", settings.house, rule="may_take_issues")
        own = settings.worker_repos or None
        watched_repos(configs, "worker", own, source=settings.origin("worker_repos"), key="worker_repos")
        role_token(settings, "worker", house)
    if "reviewer" in roles:
        house = role_house(settings, runtime, "reviewer", settings.house, rule="may_approve")
        watched_repos(configs, "reviewer", configs.review.repos, source=str(configs.review_path), key="repos")
        role_token(settings, "reviewer", house)
        configs.upgrades  # noqa: B018
    if "reconciler" in roles:
        check_reconciler_settings(settings, configs=configs)


def start_roles(
    settings: Settings,
    runtime: Runtime,
    configs: Configs,
    *,
    intake: WebhookIntake | None,
    cascade: Cascade,
    stop: asyncio.Event,
    start: Start,
    closing: contextlib.AsyncExitStack,
) -> Reviewer | None:
    """Build each role of ``settings.roles`` and ``start`` its loops; their forge clients close with
    ``closing``. The roles share ``cascade`` (the model, when a role uses one) and ``configs``. Answers the
    reviewer when this host runs one (the dashboard shows its merge queue)."""
    reviewer: Reviewer | None = None
    if "dispatcher" in settings.roles:
        loop = build_dispatch_loop(settings, runtime, configs=configs, closing=closing, intake=intake, model=cascade)
        closing.callback(shutdown_pools)  # the triage worker process
        start(run_dispatcher(loop, stop), "dispatcher")
        lease_kind = type(loop.dispatcher.lease).__name__
        log.info("dispatcher role: watching %s (lease: %s)", ", ".join(loop.repos), lease_kind)
        daily = briefing(settings, runtime, configs, repos=loop.repos, model=cascade, closing=closing)
        if daily is not None:  # the daily briefing: written once a day by the lease holder (uni_wizard/attention/)
            start(BriefingRunner(daily, loop.dispatcher.lease).run(stop), "briefing")
    owned = {"dispatcher", "reviewer"} & set(settings.roles)
    desk = escalations(settings, runtime, configs, closing=closing) if owned else None
    if desk is not None:  # the owner's escalations: digests per window, engagement learned (uni_wizard/attention/)
        start(desk.run(stop), "escalations")
        start(follow_events(desk, stop), "escalation-sources")  # rollbacks, peers down, P0 issues: at once
    if "worker" in settings.roles:
        _start_worker(settings, runtime, configs, cascade, stop, start, closing)
    if "reviewer" in settings.roles:
        extend = upgrade_extension(settings, runtime, configs=configs)
        reviewer = build_reviewer(settings, runtime, configs=configs, closing=closing, extend=extend)
        reviewer.escalations = desk  # an escalated verdict goes through the escalation policy
        wake = asyncio.Event()  # set by a queued webhook about one of its PRs: the owner's approval acts at once
        start(run_reviewer(reviewer, stop, reviewer_poll_seconds(settings, configs=configs), wake=wake), "reviewer")
        start(reviewer_hint(runtime, reviewer, wake).run(stop), "reviewer-hint")
        log.info("reviewer role: %s on %s", reviewer.house, ", ".join(reviewer.repos))
    if "reconciler" in settings.roles:
        check_reconciler_settings(settings, configs=configs)  # a bad mesh.yaml stops the start, not a task
        start(serve_reconciler(settings, runtime, stop, configs=configs), "reconciler")
        log.info("reconciler role: releases under %s, configuration in %s", settings.release_root, settings.config_dir)
    return reviewer


def _start_worker(
    settings: Settings,
    runtime: Runtime,
    configs: Configs,
    cascade: Cascade,
    stop: asyncio.Event,
    start: Start,
    closing: contextlib.AsyncExitStack,
) -> None:
    """The worker and the hint that wakes it when a webhook that can hand it an issue (``WORKER_HINTS``: opened,
    labelled, assigned) is queued for one of its repositories; its poll stays the safety net."""
    worker = build_worker(settings, runtime, configs=configs, closing=closing, model=cascade)  # agent: `planner: model`
    start(worker.run(stop), "worker")
    hint = QueueHint(
        runtime.store, worker.repos, worker.hint, event_types=WORKER_HINTS, name=f"the {worker.house} worker"
    )
    start(hint.run(stop), "worker-hint")
    log.info("worker role: %s on %s", worker.house, ", ".join(worker.repos))
