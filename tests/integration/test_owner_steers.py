"""The owner's first day, end to end: the owner's approval counts and merges, and the owner steers from the
thread with comment commands. A real devforge over loopback, real git, a real Harness.

One devforge per module, bootstrapped from ``configs/forge-layout.example.yaml`` (its ``owner: owner`` made
like a house user) plus ``mallory``, a user who is neither the owner nor a house. Each test's world
(owner_world.py) is the shipped ``work`` repository bootstrapped again under a fresh name, so its protection is
the shipped one: approvals and merges whitelisted to timmy and the owner, status check ``uni-wizard/proof``,
stale approvals dismissed. PRs are made through the contents API as bezalel; their change is a note (no re-run
of tests).

Waits are bounded polls (``eventually``): nothing asserts how fast; benchmarks/owner_loop.py measures that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from bootstrapped_forge import Mesh, start_mesh
from owner_world import HOST, ORG, OUTSIDER, OWNER, SECRET, World, open_world
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.assembly.reviewer import reviewer_hint
from uni_wizard.dispatch.audit import marker as audit_marker
from uni_wizard.dispatch.commands import reply_marker
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.forge import GiteaClient
from uni_wizard.observe.events import EventLog
from uni_wizard.review import Reviewer
from uni_wizard.review.loop import review_pass, run_reviewer

TIMEOUT = 60.0  # seconds, for any one wait (a bound, not a speed)

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = TIMEOUT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with start_mesh(tmp_path_factory.mktemp("owner-mesh"), extra_users=(OUTSIDER,)) as started:
        yield started


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(mesh, tmp_path) as world:
        yield world


# -- the owner's approval counts ------------------------------------------------------------------------


async def test_the_shipped_layout_whitelists_the_owner(world: World) -> None:
    (rule,) = await world.timmy.list_branch_protections(ORG, world.name)
    assert rule.enable_approvals_whitelist and set(rule.approvals_whitelist_username) == {"timmy", OWNER}
    assert set(rule.merge_whitelist_usernames) == {"timmy", OWNER} and rule.dismiss_stale_approvals
    assert (world.mesh.secrets / f"{OWNER}.token").is_file()  # the layout made the owner's account


async def test_a_pre_reviewed_pr_merges_once_the_owner_approves_its_head(world: World) -> None:
    pr = await world.open_pr()
    reviewer = world.reviewer()  # the shipped default: auto_approve off
    assert [r.verdict for r in await reviewer.review_once()] == ["pre_reviewed"]
    assert [r.verdict for r in await reviewer.review_once()] == ["reviewed_already"]
    (blocked,) = await reviewer.merge_once()
    assert blocked.outcome == "blocked" and any("no approval yet" in b for b in blocked.reasons)

    review = await world.approve(pr)

    assert review.official  # on the whitelist: it counts
    reviews, merges = await review_pass(reviewer)
    assert [r.verdict for r in reviews] == ["reviewed_already"] and [m.outcome for m in merges] == ["merged"]
    assert await world.merged(pr.number)
    merged = [e for e in EventLog(world.runtime.store, HOST).page(since=0).events if e.kind == "pull.merged"]
    assert [(e.number, e.data["head"]) for e in merged] == [(pr.number, pr.head_sha)]


async def test_a_stale_owner_approval_does_not_merge(world: World) -> None:
    pr = await world.open_pr()
    reviewer = world.reviewer()
    await world.approve(pr)
    head = await world.push(pr)  # after the approval: stale (and dismissed, as the layout dismisses stale ones)

    reviews, merges = await review_pass(reviewer)

    assert [(r.verdict, r.head) for r in reviews] == [("pre_reviewed", head)]
    (blocked,) = merges
    assert blocked.outcome == "blocked" and not await world.merged(pr.number)
    assert any("was dismissed" in b or "is stale" in b for b in blocked.reasons), blocked.reasons


async def test_a_dismissed_owner_approval_does_not_merge(world: World) -> None:
    pr = await world.open_pr()
    reviewer = world.reviewer()
    review = await world.approve(pr)
    await world.timmy.dismiss_review(ORG, world.name, pr.number, review.id, "not yet")

    _, (blocked,) = await review_pass(reviewer)

    assert blocked.outcome == "blocked" and not await world.merged(pr.number)
    assert any("was dismissed" in b for b in blocked.reasons), blocked.reasons


async def test_auto_approve_switched_on_later_approves_a_pre_reviewed_head(world: World) -> None:
    pr = await world.open_pr()
    assert [r.verdict for r in await world.reviewer().review_once()] == ["pre_reviewed"]

    reviews, merges = await review_pass(world.reviewer(auto_approve=True))

    assert [r.verdict for r in reviews] == ["approved"] and [m.outcome for m in merges] == ["merged"]
    timmys = [
        r for r in await world.timmy.list_reviews(ORG, world.name, pr.number) if r.user and r.user.login == "timmy"
    ]
    assert [(r.state, r.commit_id) for r in timmys] == [("APPROVED", pr.head_sha)]
    assert [r.verdict for r in await world.reviewer(auto_approve=True).review_once()] == []  # merged: not waiting


# -- waking -----------------------------------------------------------------------------------------------


async def run_loop(world: World, reviewer: Reviewer, poll: float, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    wake = asyncio.Event()
    return [
        asyncio.create_task(run_reviewer(reviewer, stop, poll, wake=wake)),
        asyncio.create_task(reviewer_hint(world.runtime, reviewer, wake).run(stop)),
    ]


async def test_the_owners_review_webhook_wakes_the_reviewer(world: World) -> None:
    """The loop polls once an hour: only the review webhook, queued by the daemon, can wake it to merge."""
    await world.timmy.create_hook(ORG, world.name, world.daemon(), SECRET)
    pr = await world.open_pr()
    stop = asyncio.Event()
    tasks = await run_loop(world, world.reviewer(), 3600.0, stop)
    try:
        await eventually(lambda: world.timmy.list_comments(ORG, world.name, pr.number), "the pre-review")
        await world.approve(pr)
        await eventually(lambda: world.merged(pr.number), "the merge after the owner's approval")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert world.queued("pull_request_review_approved") == 1


async def test_a_dropped_webhook_is_repaired_by_the_poll(world: World) -> None:
    """No webhook reaches the daemon (none is configured): the reviewer's poll merges the approved PR."""
    pr = await world.open_pr()
    stop = asyncio.Event()
    tasks = await run_loop(world, world.reviewer(), 0.5, stop)
    try:
        await eventually(lambda: world.timmy.list_comments(ORG, world.name, pr.number), "the pre-review")
        await world.approve(pr)
        await eventually(lambda: world.merged(pr.number), "the merge by the poll")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert world.queued("pull_request_review_approved") == 0


# -- commands on a pull request ---------------------------------------------------------------------------


async def test_hold_blocks_the_merge_until_unhold(world: World) -> None:
    pr = await world.open_pr()
    reviewer = world.reviewer()
    await reviewer.review_once()
    await world.approve(pr)
    await world.say(pr, "Wait for the release notes.\n/hold")

    _, (held,) = await review_pass(reviewer)

    assert held.outcome == "blocked" and "the `hold` label is set" in held.reasons[0]
    assert not await world.merged(pr.number)
    (answer,) = await world.replies(pr.number)
    assert "held: labelled `hold`" in answer
    await world.say(pr, "/unhold", who=world.timmy)  # Timmy's user may steer too

    _, (merged,) = await review_pass(reviewer)

    assert merged.outcome == "merged" and len(await world.replies(pr.number)) == 2


async def test_someone_else_is_refused_once_and_nothing_is_held(world: World) -> None:
    pr = await world.open_pr()
    reviewer = world.reviewer()
    await world.say(pr, "/hold", who=world.mallory)
    await reviewer.review_once()
    await reviewer.review_once()  # the refusal is on the thread: not again

    (answer,) = await world.replies(pr.number)
    assert "not done, sorry @mallory: only @owner and @timmy may use it" in answer
    assert "hold" not in {label.name for label in (await world.pull(pr.number)).labels}
    await world.approve(pr)
    assert [m.outcome for m in await reviewer.merge_once()] == ["merged"]


async def test_explain_says_why_a_pr_does_not_merge(world: World) -> None:
    pr = await world.open_pr()
    reviewer = world.reviewer()
    await world.say(pr, "/explain")
    await reviewer.review_once()
    (answer,) = await world.replies(pr.number)
    assert f"What blocks the merge of `{pr.head_sha[:12]}` now:" in answer
    assert f"no approval yet: {OWNER} or timmy must approve head {pr.head_sha[:12]}" in answer


# -- commands on an issue ---------------------------------------------------------------------------------


async def test_route_overrides_routing_and_the_audit_comment_says_so(world: World, tmp_path: Path) -> None:
    config = load_triage_config()
    config = config.model_copy(update={"dispatcher": config.dispatcher.model_copy(update={"repos": (world.repo,)})})
    allegro = GiteaClient(world.mesh.url, world.mesh.token("allegro"), registry=CollectorRegistry())
    loop = build_dispatch_loop(world.runtime.settings, world.runtime, forge=allegro, config=config)
    try:
        issue = await world.timmy.create_issue(
            ORG, world.name, "Server crashes on start with a traceback", "Acceptance criteria:\n- [ ] no crash"
        )
        await loop.run_once()
        assert "house/bezalel" in (await world.timmy.get_issue(ORG, world.name, issue.number)).label_names
        asked = await world.owner.create_comment(ORG, world.name, issue.number, "/route ezra")

        await loop.run_once()
        await loop.run_once()  # answered once

        after = await world.timmy.get_issue(ORG, world.name, issue.number)
        assert {"house/ezra", "status/routed"} <= set(after.label_names) and "house/bezalel" not in after.label_names
        assert [u.login for u in after.assignees] == ["ezra"]
        comments = await world.timmy.list_comments(ORG, world.name, issue.number)
        (audit,) = [c.body for c in comments if audit_marker(f"route-{asked.id}", issue.number) in c.body]
        assert reply_marker(asked.id) in audit and "**routed to `ezra`**" in audit and "had chosen `bezalel`" in audit
        assert "lease epoch" in audit
    finally:
        await allegro.aclose()
