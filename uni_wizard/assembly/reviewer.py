"""Timmy's reviewer from settings (daemon role ``reviewer``, ``uni-wizard review once``).

The reviewer acts as ``settings.house``, which must have ``rules.may_approve`` (Timmy in the shipped
houses): its forge client, its clean worktrees and the approve and merge tools use ``gitea_token``, that
house's forge user's token. Its configuration is ``settings.review_config`` (default: the shipped
``configs/review.yaml``): it watches that file's ``repos`` (default: the dispatcher's ``dispatcher.repos``,
the repositories the dispatcher routes and the workers open PRs in) and passes every ``poll_seconds``
(default: ``dispatcher.poll_seconds``). The owner whose approval counts and who is mentioned on escalations
is ``settings.owner``. Extensions: ``extend`` is called with the built reviewer and returns the extensions
to attach (the daemon and the CLI pass ``assembly.upgrades.upgrade_extension``, which attaches the upgrade
queue when the reviewer watches the mesh's own repository).

Waking: ``reviewer_hint`` watches the host's webhook queue for what changes a pull request of the reviewer's
repositories (``REVIEW_HINTS``: a review, a status, a push, a label, a comment) and sets the loop's ``wake``, so
the owner's approval is acted on within about a second instead of a poll interval; the poll still repairs a
webhook that never came.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from ..config import Settings
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..intake.hints import QueueHint
from ..observe.events import EventLog
from ..policy.model import HousePolicy
from ..review.config import ReviewConfig
from ..review.extension import ReviewerView, ReviewExtension
from ..review.metrics import ReviewMetrics
from ..review.proven import ProvenTrees
from ..review.provenance_check import ProvenanceSources
from ..review.reviewer import Reviewer
from ..review.worktree import Worktrees
from .configs import Configs
from .shared import house_harness, role_forge, role_house, role_poll_seconds, role_token, watched_repos

__all__ = [
    "HINT_SECONDS",
    "REVIEW_HINTS",
    "ExtensionFactory",
    "build_reviewer",
    "reviewer_hint",
    "reviewer_on",
    "reviewer_poll_seconds",
]

REVIEW_HINTS = (
    "pull_request_review_approved",
    "pull_request_review_rejected",
    "pull_request_review_comment",
    "status",
    "pull_request",
    "pull_request_sync",
    "pull_request_label",
    "pull_request_comment",
)
"""The webhook event types that wake the reviewer: what changes a PR's reviews, statuses, head, labels or thread."""
HINT_SECONDS = 0.2  # how often the hint looks at the queue (one indexed query)

ExtensionFactory = Callable[[ReviewerView, GiteaClient], Sequence[ReviewExtension]]
"""What ``build_reviewer(..., extend=...)`` calls once the reviewer is built, with the reviewer (as an extension
sees it) and its forge user's client: the extensions to attach."""


def build_reviewer(
    settings: Settings,
    runtime: Runtime,
    *,
    configs: Configs | None = None,
    closing: contextlib.AsyncExitStack | None = None,
    forge: GiteaClient | None = None,
    config: ReviewConfig | None = None,
    dry_run: bool = False,
    extend: ExtensionFactory | None = None,
) -> Reviewer:
    """The reviewer of ``settings.house`` over its repositories, with the extensions ``extend`` makes for it.
    The client built here closes with ``closing`` (without one, the caller closes ``reviewer.forge``, a
    ``GiteaClient``)."""
    configs = configs or Configs(settings)
    house = role_house(settings, runtime, "reviewer", settings.house, rule="may_approve")
    config = config or configs.review
    source = str(configs.review_path)
    repos = watched_repos(configs, "reviewer", config.repos, source=source, key="repos")
    token = role_token(settings, "reviewer", house)
    forge = forge or role_forge(settings, runtime, "reviewer", house, closing=closing)
    reviewer = reviewer_on(
        runtime,
        forge,
        config=config,
        repos=repos,
        house=house,
        host=settings.host,
        owner_login=settings.owner,
        clone_token=token,
        dry_run=dry_run,
        events=EventLog(runtime.store, settings.host),
    )
    if extend is not None:
        reviewer.extensions = tuple(extend(reviewer, forge))
    return reviewer


def reviewer_hint(runtime: Runtime, reviewer: Reviewer, wake: asyncio.Event) -> QueueHint:
    """The hint that sets ``wake`` when a webhook that concerns a PR of the reviewer's repositories is queued on
    this host (run it beside ``run_reviewer(..., wake=wake)``)."""
    return QueueHint(
        runtime.store,
        reviewer.repos,
        wake.set,
        event_types=REVIEW_HINTS,
        name=f"the {reviewer.house} reviewer",
        interval=HINT_SECONDS,
    )


def reviewer_poll_seconds(settings: Settings, *, configs: Configs | None = None) -> float:
    """Seconds between two passes: ``poll_seconds`` of the review file, else the dispatcher's."""
    configs = configs or Configs(settings)
    return role_poll_seconds(configs, configs.review.poll_seconds)


def reviewer_on(
    runtime: Runtime,
    forge: GiteaClient,
    *,
    config: ReviewConfig,
    repos: Sequence[str],
    house: str = "timmy",
    host: str | None = None,
    owner_login: str | None = None,
    clone_token: str | None = None,
    dry_run: bool = False,
    extensions: Sequence[ReviewExtension] = (),
    events: EventLog | None = None,
) -> Reviewer:
    """The reviewer of ``house`` on ``runtime`` (its Harness, provenance, policies, workspace and data
    directory), acting through ``forge``; the clean worktrees fetch with ``clone_token`` (default: the
    runtime's ``gitea_token``). What ``build_reviewer`` builds from settings, and what the demo builds."""

    def policies() -> dict[str, HousePolicy]:
        return {name: runtime.policy(name) for name in runtime.houses}

    settings = runtime.settings
    # the bare caches live out of every house's write roots; the per-review worktrees stay in the workspace
    worktrees = Worktrees(
        settings.workspace / "review",
        cache=settings.data_dir / "cache" / "review",
        token=clone_token or runtime.env.gitea_token,
        forge_url=runtime.env.gitea_url,
    )
    return Reviewer(
        forge,
        config=config,
        repos=repos,
        house=house,
        login=runtime.policy(house).gitea_user,
        harness=house_harness(runtime, house),
        worktrees=worktrees,
        provenance=ProvenanceSources(runtime.provenance, policies, runtime.registry),
        host=host or runtime.host,
        owner_login=owner_login,
        dry_run=dry_run,
        extensions=extensions,
        events=events,
        proven=ProvenTrees(runtime.store),
        metrics=ReviewMetrics.for_registry(runtime.metrics.registry),
        houses={runtime.policy(name).gitea_user: name for name in runtime.houses},
    )
