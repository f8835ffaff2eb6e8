"""A house's worker from settings (daemon role ``worker``).

The worker acts as ``settings.house``: its forge client and its clones use ``gitea_token``, which on a
worker host is that house's forge user's token. It watches ``worker_repos`` (default: the dispatcher's
``dispatcher.repos`` of ``configs/triage.yaml``), polls every ``worker_poll_seconds`` (default:
``dispatcher.poll_seconds``) and claims for ``dispatcher.claim_ttl_minutes``: the TTL after which the
dispatcher's sweep requeues a claim, so the two agree without a second setting.

Issues without a playbook go to the model planner (the agent loop on the cascade, within the
``planner_max_*`` budgets) as ``planner`` says: ``auto`` (the default) asks the cascade before each such issue
whether a provider answers (``work.model_gate.CascadeGate``) and blocks the issue, naming the cascade file in
force, its ``providers`` and the ``planner`` setting, when none does; ``model`` always runs the planner;
``playbook`` never contacts a model. A daemon passes its one cascade as ``model``; otherwise one is built from
the cascade file (closed with ``closing``). A ``model`` that is not a ``Cascade`` (a scripted one) is taken as
usable: ``auto`` then behaves as ``model``.

Webhooks are hints: the dispatcher consumes the store's webhook queue, so the worker does not take events
from it; ``intake.hints.QueueHint`` only watches the queue grow for the worker's repositories with an event
that can hand it an issue (``WORKER_HINTS``: an issue opened, edited, labelled or assigned) and wakes the
worker, which then polls the forge (the truth) at once. The poll every ``worker_poll_seconds`` stays as the
safety net.

Each clone is made from a bare mirror of its repository (``work.mirror.Mirrors``) under
``<data_dir>/cache/work/<house>``, out of the workspace; a house whose write roots reach that directory
turns the mirrors off (the worker then clones from the forge, and says so in the log).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from ..cascade.cascade import Cascade
from ..cascade.config import default_cascade_path
from ..cascade.types import CompletionClient
from ..config import Settings
from ..dispatch.history import RoutingLedger
from ..dispatch.spend import SpendRecorder, TokenSpend
from ..errors import ConfigError
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..observe.events import EventLog
from ..work.agent_loop import AgentBudget, AgentPlanner
from ..work.metrics import WorkMetrics
from ..work.mirror import Mirrors
from ..work.model_gate import CascadeGate
from ..work.repo import forge_root
from ..work.report import ArtifactStore
from ..work.types import AgentRunner, ModelGate, ModelSetup, Planner
from ..work.worker import Worker
from .configs import Configs
from .shared import house_harness, role_forge, role_house, role_poll_seconds, role_token, watched_repos

__all__ = ["WORKER_HINTS", "build_worker", "mirrors_of", "model_setup", "worker_on"]

WORKER_HINTS = ("issues", "issue_label", "issue_assign")
"""The webhook event types that can hand a worker an issue (the dispatcher's routing labels and assigns it;
its sweep's requeue relabels it): the worker's ``QueueHint`` wakes it on these only."""


def build_worker(
    settings: Settings,
    runtime: Runtime,
    *,
    configs: Configs | None = None,
    closing: contextlib.AsyncExitStack | None = None,
    forge: GiteaClient | None = None,
    planner: Planner | None = None,
    agent: AgentRunner | None = None,
    model: CompletionClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Worker:
    """The worker of ``settings.house``; its ``agent`` is the model planner on ``model`` when
    ``settings.planner`` is ``auto`` or ``model`` (unless one is given), behind a ``CascadeGate`` for ``auto``.
    The clients built here (the forge's, the cascade's) close with ``closing`` (without one, the caller closes
    ``worker.forge``, a ``GiteaClient``, and a cascade built here: ``worker.gate.cascade``)."""
    configs = configs or Configs(settings)
    house = role_house(settings, runtime, "worker", settings.house, rule="may_take_issues")
    own = settings.worker_repos or None  # empty: the dispatcher's
    repos = watched_repos(configs, "worker", own, source=settings.origin("worker_repos"), key="worker_repos")
    token = role_token(settings, "worker", house)
    dispatcher = configs.triage.dispatcher
    gate: ModelGate | None = None
    if agent is None and settings.planner != "playbook":
        if model is None:
            model = Cascade.from_config(configs.cascade, registry=runtime.metrics.registry)
            model.listeners.append(SpendRecorder(TokenSpend(runtime.store, clock=clock), house))  # the ledger
            if closing is not None:
                closing.push_async_callback(model.aclose)
        budget = AgentBudget(settings.planner_max_steps, settings.planner_max_tokens, settings.planner_max_seconds)
        agent = AgentPlanner(model, budget=budget)
        if settings.planner == "auto" and isinstance(model, Cascade):
            gate = CascadeGate(model)
    return worker_on(
        runtime,
        forge or role_forge(settings, runtime, "worker", house, closing=closing),
        house=house,
        repos=repos,
        claim_ttl=dispatcher.claim_ttl_minutes * 60,
        host=settings.host,
        token=token,
        planner=planner,
        agent=agent,
        gate=gate,
        setup=model_setup(settings),
        clock=clock,
        poll_seconds=role_poll_seconds(configs, settings.worker_poll_seconds),
    )


def model_setup(settings: Settings) -> ModelSetup:
    """What a worker's blocked comment names: the ``planner`` setting, where it came from, the cascade file."""
    origin = settings.origin("planner") if "planner" in settings.model_fields_set else "default"
    return ModelSetup(
        planner=settings.planner,
        planner_from=origin,
        cascade_file=str(settings.cascade_config or default_cascade_path()),
        shipped=settings.cascade_config is None,
    )


def worker_on(
    runtime: Runtime,
    forge: GiteaClient,
    *,
    house: str,
    repos: Sequence[str],
    claim_ttl: float,
    host: str,
    token: str | None = None,
    planner: Planner | None = None,
    agent: AgentRunner | None = None,
    gate: ModelGate | None = None,
    setup: ModelSetup | None = None,
    clock: Callable[[], float] = time.time,
    artifacts: ArtifactStore | None = None,
    poll_seconds: float = 5.0,
    mirror: bool = True,
) -> Worker:
    """The worker of ``house`` on ``runtime``'s store, tools, policies and workspace, acting through ``forge``
    (the house's forge user) with ``token`` (default: the runtime's ``gitea_token``): what ``build_worker``
    builds from settings, and what a process that holds its runtime and forge clients (the demo) builds.
    ``mirror`` (default) makes the clones from bare mirrors under the data directory (``mirrors_of``)."""
    token = token or runtime.env.gitea_token
    if not token:
        raise ConfigError(f"the {house} worker needs its forge token (gitea_token)", key="gitea_token")
    policy = runtime.policy(house)
    return Worker(
        forge,
        house=house,
        policy=policy,
        harness=house_harness(runtime, house, mode=policy.default_mode, token=token, forge_url=forge_root(forge)),
        tools=runtime.registry,
        events=EventLog(runtime.store, host),
        ledger=RoutingLedger(runtime.store, clock=clock),
        repos=repos,
        workspace=runtime.settings.workspace,
        token=token,
        artifacts=artifacts or ArtifactStore(runtime.settings.data_dir / "artifacts"),
        claim_ttl=claim_ttl,
        host=host,
        planner=planner,
        agent=agent,
        gate=gate,
        setup=setup or model_setup(runtime.settings),
        clock=clock,
        poll_seconds=poll_seconds,
        mirrors=mirrors_of(runtime, house) if mirror else None,
        metrics=WorkMetrics.for_registry(runtime.metrics.registry),
    )


def mirrors_of(runtime: Runtime, house: str) -> Mirrors:
    """The bare mirrors ``house``'s worker clones from: ``<data_dir>/cache/work/<house>``, used only while no
    house's write roots (as the policies in force say, reloads included) reach that directory."""

    def write_roots() -> list[str]:
        return [root for name in runtime.houses for root in runtime.policy(name).paths.write]

    return Mirrors(runtime.settings.data_dir / "cache" / "work" / house, write_roots=write_roots)
