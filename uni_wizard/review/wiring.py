"""Build Timmy's reviewer from settings (daemon role ``reviewer``, ``uni-wizard review once``) and its loop.

The reviewer acts as ``settings.house``, which must have ``rules.may_approve`` (Timmy in the shipped
houses): its forge client, its clean worktrees and the approve and merge tools use ``gitea_token``,
that house's forge user's token. It watches the repositories of ``configs/triage.yaml``'s
``dispatcher.repos`` (the ones the dispatcher routes and the workers open PRs in). Its configuration is
``settings.review_config`` (default: the shipped ``configs/review.yaml``); the owner whose approval
counts and who is mentioned on escalations is ``settings.owner``. When it watches the mesh's own
repository (``configs/upgrades.yaml`` ``repo``), the upgrade queue is attached (``uni_wizard/upgrade``).
"""

from __future__ import annotations

import asyncio
import logging

from ..config import Settings
from ..errors import UniWizardError
from ..forge.client import GiteaClient
from ..harness.runtime import Runtime
from ..roles import role_forge, role_house, role_repos, role_token
from .config import ReviewConfig, load_review_config
from .reviewer import Reviewer
from .types import MergeReport, ReviewReport

__all__ = ["build_reviewer", "run_reviewer"]

log = logging.getLogger(__name__)


def build_reviewer(
    settings: Settings,
    runtime: Runtime,
    *,
    forge: GiteaClient | None = None,
    config: ReviewConfig | None = None,
    dry_run: bool = False,
) -> Reviewer:
    """The reviewer of ``settings.house`` over the dispatcher's repositories."""
    house = role_house(settings, runtime, "reviewer", settings.house, rule="may_approve")
    repos = role_repos(settings, "reviewer")
    config = config or load_review_config(settings.review_config)
    token = role_token(settings, "reviewer", house)
    if forge is None:
        forge = role_forge(settings, runtime, "reviewer", house)
    reviewer = Reviewer(
        forge,
        runtime=runtime,
        config=config,
        repos=repos,
        owner_login=settings.owner,
        host=settings.host,
        house=house,
        clone_token=token,
        dry_run=dry_run,
    )
    from ..upgrade.config import load_upgrade_config
    from ..upgrade.wiring import build_upgrade_queue

    upgrades = load_upgrade_config(settings.upgrades_config)
    if upgrades.repo in repos:  # the mesh's own repository is watched: its upgrade PRs go through the queue
        reviewer.upgrades = build_upgrade_queue(settings, runtime, reviewer, config=upgrades)
    return reviewer


async def review_pass(reviewer: Reviewer) -> tuple[list[ReviewReport], list[MergeReport]]:
    """One ``review_once`` then one ``merge_once``."""
    return await reviewer.review_once(), await reviewer.merge_once()


async def run_reviewer(reviewer: Reviewer, stop: asyncio.Event, poll_seconds: float) -> None:
    """Review and merge every ``poll_seconds`` until ``stop``; a failed pass is logged and the loop goes on."""
    while not stop.is_set():
        try:
            reviews, merges = await review_pass(reviewer)
            for r in reviews:
                if r.verdict not in ("reviewed_already", "waiting", "skipped"):
                    log.info("review %s#%d at %s: %s %s", r.repository, r.number, r.head[:8], r.verdict, r.reasons)
            for m in merges:
                if m.outcome != "blocked":
                    log.info("merge %s#%d at %s: %s %s", m.repository, m.number, m.head[:8], m.outcome, m.reasons)
        except UniWizardError as exc:
            log.warning("reviewer pass failed: %s: %s (retrying in %.0f s)", type(exc).__name__, exc, poll_seconds)
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
        except TimeoutError:
            continue
