"""Chapter 7, the mesh upgrades itself: a house-policy change proposed, proven, approved, merged, applied.

A devforge of the chapter's own with the mesh's users, organisation and ``mesh/mesh`` repository
bootstrapped from ``mesh_layout`` (twice: without the protection while Timmy seeds the shipped houses and
a test loading them, then whole, so ``main`` is protected as the mesh protects it). Bezalel raises Ezra's
``max_concurrency`` from 2 to 3 on a branch, opens a PR labelled ``upgrade``, runs the tests through his
Harness and posts the proof as the worker does (``post_proof``). Timmy's real reviewer, with the real
upgrade queue (``configs/upgrades.yaml``) as its extension, records it proposed; a ``houses/`` change is
never low risk, so the sovereign approves it (``UpgradeQueue.approve`` with the reviewer's ``approve_head``: the
code path of ``uni-wizard upgrades approve``), bound to the head; the reviewer merges it (applying). Then
the real reconciler of two hosts (``upgrade_world``) applies the merged sha: validated, the house file
installed, reloaded live (a reload, no restart), ``uni-wizard/deploy/<host>`` success; the queue's sync
moves the upgrade applying → applied.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.table import Table

from ..assembly.reviewer import reviewer_on
from ..assembly.upgrades import upgrade_records
from ..config import Settings
from ..devforge import DevforgeServer
from ..forge import GiteaClient
from ..forge.bootstrap import bootstrap
from ..harness.core import Harness
from ..harness.runtime import Runtime
from ..review import ReviewConfig, Reviewer
from ..review.gate import short
from ..testing.worlds import git_as
from ..tools.env import ToolEnv
from ..upgrade import State, UpgradeHook, UpgradeQueue, load_upgrade_config
from ..work.publish import post_proof
from .mesh_world import mesh_layout
from .tour import Tour, UpgradePath
from .upgrade_world import DemoHost, make_host, seed_files

__all__ = ["BRANCH", "HOSTS", "REPO", "chapter_upgrade", "raise_concurrency"]

ADMIN = ("demo-admin", "demo-admin-password")
OWNER, NAME = "mesh", "mesh"
REPO = f"{OWNER}/{NAME}"
HOST = "demo-host"
HOSTS = ("host-a", "host-b")
BRANCH = "bezalel/upgrade-ezra-concurrency"
TITLE = "Upgrade: Ezra takes 3 issues at once"


def raise_concurrency(text: str) -> str:
    """Ezra's house file with ``max_concurrency: 3`` (the shipped one says 2)."""
    if "max_concurrency: 2\n" not in text:
        raise ValueError("houses/ezra.yaml has no `max_concurrency: 2` line")
    return text.replace("max_concurrency: 2\n", "max_concurrency: 3\n", 1)


def chapter_upgrade(tour: Tour) -> None:
    tour.console.rule("7. The mesh upgrades itself: a house change proposed, approved, merged, applied")
    asyncio.run(_upgrade(tour))


class _Clock:
    """Each step's time from the chapter's start, printed as it happens."""

    def __init__(self, tour: Tour) -> None:
        self.tour = tour
        self.started = time.perf_counter()
        self.stages: dict[str, float] = {}

    def stamp(self, stage: str, ok: bool, what: str, failure: str | None = None) -> bool:
        at = time.perf_counter() - self.started
        if ok:
            self.stages.setdefault(stage, at)
        return self.tour.check(ok, f"{at:5.2f} s  {what}", failure)


async def _upgrade(tour: Tour) -> None:
    root = tour.root / "upgrade"
    secrets_dir = root / "secrets"
    clock = _Clock(tour)
    async with AsyncExitStack() as stack:
        forge = await asyncio.to_thread(DevforgeServer(root / "devforge", ADMIN).start)
        stack.callback(forge.stop)
        await _seed(forge.url, secrets_dir)

        def token(user: str) -> str:
            return (secrets_dir / f"{user}.token").read_text(encoding="utf-8").strip()

        clients: dict[str, GiteaClient] = {}
        for user in ("timmy", "bezalel"):
            clients[user] = GiteaClient(forge.url, token(user), registry=CollectorRegistry())
            stack.push_async_callback(clients[user].aclose)
        timmy, bezalel = clients["timmy"], clients["bezalel"]
        clock.stamp(
            "forge",
            True,
            f"devforge at {forge.url}: {REPO} bootstrapped from the mesh layout, seeded with "
            "the shipped houses and a test loading them, main protected (1 approval by timmy, proof)",
        )

        workspace = root / "workspace"
        workspace.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            host=HOST, data_dir=root / "data", workspace=workspace, gitea_url=forge.url, gitea_token=token("timmy")
        )
        runtime = Runtime(
            settings, env=ToolEnv(gitea_url=forge.url, gitea_token=token("timmy")), metrics_registry=CollectorRegistry()
        )
        stack.callback(runtime.close)
        reviewer, queue = _reviewer(runtime, timmy)
        hosts: list[DemoHost] = []
        for name in HOSTS:
            host = await make_host(root / "hosts", name, HOSTS, repo=REPO, url=forge.url, token=token("allegro"))
            stack.push_async_callback(host.close)
            hosts.append(host)
        before = [h.runtime.houses["ezra"].max_concurrency for h in hosts]
        tour.console.print(
            f"  hosts {', '.join(HOSTS)}: real reconcilers, recording systemd; Ezra's max_concurrency "
            f"live: {', '.join(map(str, before))}"
        )

        number, head = await _propose(clock, forge.url, token("bezalel"), bezalel, runtime)
        await _review_and_merge(tour, clock, reviewer, queue, timmy, number, head)
        merge_sha = queue.get(number).merge_sha or ""
        await _apply(tour, clock, hosts, timmy, merge_sha)
        await _applied(tour, clock, queue, hosts, timmy, (number, head, merge_sha))


async def _seed(url: str, secrets_dir: Path) -> None:
    """The mesh layout bootstrapped (``mesh/mesh`` without webhooks), the repository seeded before ``main`` is
    protected."""
    full = mesh_layout("http://127.0.0.1:9/unused")
    (spec,) = [r for r in full.repos if r.name == NAME]
    layout = full.model_copy(update={"repos": (spec.model_copy(update={"hooks": ()}),)})
    seeding = layout.model_copy(update={"repos": (spec.model_copy(update={"hooks": (), "protection": ()}),)})
    await bootstrap(seeding, url=url, admin=ADMIN, secrets_dir=secrets_dir)
    async with GiteaClient(url, username=ADMIN[0], password=ADMIN[1], registry=CollectorRegistry()) as admin:
        for path, content in seed_files().items():
            await admin.create_file(OWNER, NAME, path, content.encode(), f"add {path}")
    await bootstrap(layout, url=url, admin=ADMIN, secrets_dir=secrets_dir)


def _reviewer(runtime: Runtime, timmy: GiteaClient) -> tuple[Reviewer, UpgradeQueue]:
    """Timmy's reviewer of ``mesh/mesh`` with the upgrade queue as its extension, both acting through ``timmy``."""
    review, login = ReviewConfig(), runtime.policy("timmy").gitea_user
    queue = UpgradeQueue(
        timmy,
        upgrade_records(runtime),
        load_upgrade_config(None).model_copy(update={"repo": REPO}),
        review=review,
        login=login,
        approvers=frozenset({login, review.owner_login}),  # the reviewer's: its own and the owner's
        deploy_hosts=HOSTS,
        host=HOST,
    )
    reviewer = reviewer_on(runtime, timmy, config=review, repos=[REPO], host=HOST, extensions=[UpgradeHook(queue)])
    return reviewer, queue


async def _applied(
    tour: Tour,
    clock: _Clock,
    queue: UpgradeQueue,
    hosts: list[DemoHost],
    timmy: GiteaClient,
    upgrade: tuple[int, str, str],
) -> None:
    """The queue catches up with the hosts' reports on ``upgrade`` (number, head, merge sha); its path is
    recorded for the summary."""
    number, head, merge_sha = upgrade
    await queue.sync_once()
    done = queue.get(number)
    clock.stamp(
        "applied",
        done.state is State.APPLIED,
        f"queue: #{number} {done.state.value} ({done.history[-1].actor}: {done.history[-1].reason})",
        f"upgrade #{number}: expected applied, got {done.state.value} ({done.note})",
    )
    tour.console.print(_history(queue, number))
    live = {h.name: f"ezra max_concurrency {h.runtime.houses['ezra'].max_concurrency}" for h in hosts}
    statuses = await _deploys(timmy, merge_sha)
    tour.upgrades.append(
        UpgradePath(REPO, number, TITLE, done.state.value, head, merge_sha, dict(clock.stages), statuses, live)
    )


async def _propose(
    clock: _Clock, url: str, bezalel_token: str, bezalel: GiteaClient, runtime: Runtime
) -> tuple[int, str]:
    """Bezalel's branch, PR (label ``upgrade``) and proof; (number, head sha)."""
    work = runtime.settings.workspace / "mesh"
    origin = url.rstrip("/").replace("://", f"://bezalel:{bezalel_token}@", 1) + f"/{REPO}.git"
    await asyncio.to_thread(git_as, "clone", "-q", origin, str(work), cwd=runtime.settings.workspace)
    ezra = work / "houses" / "ezra.yaml"
    ezra.write_text(raise_concurrency(ezra.read_text(encoding="utf-8")), encoding="utf-8")
    await asyncio.to_thread(git_as, "checkout", "-q", "-b", BRANCH, cwd=work)
    await asyncio.to_thread(git_as, "commit", "-q", "-am", "Ezra takes 3 issues at once", cwd=work)
    await asyncio.to_thread(git_as, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}", cwd=work)
    head = await asyncio.to_thread(git_as, "rev-parse", "HEAD", cwd=work)
    body = "Raise Ezra's max_concurrency from 2 to 3: the archive's queue is the longest."
    pr = await bezalel.create_pull(OWNER, NAME, head=BRANCH, base="main", title=TITLE, body=body)
    await bezalel.add_labels(OWNER, NAME, pr.number, ["upgrade"])
    clock.stamp(
        "PR",
        True,
        f"bezalel opens PR #{pr.number} {TITLE!r} labelled upgrade: houses/ezra.yaml "
        f"max_concurrency 2 → 3, head {short(head)}",
    )
    harness = Harness("bezalel", runtime=runtime, task=f"{REPO}#{pr.number}")
    result = await harness.aexecute("run_tests", workspace=str(work))
    proof = await post_proof(
        bezalel, REPO, pr.number, house="bezalel", login="bezalel", branch=BRANCH, sha=head, result=result, host=HOST
    )
    clock.stamp(
        "proof",
        proof.ok,
        f"bezalel's proof on {short(head)}: uni-wizard/proof {proof.state} ({proof.description})",
        f"upgrade proof: {proof.state} ({proof.description})",
    )
    return pr.number, head


async def _review_and_merge(
    tour: Tour, clock: _Clock, reviewer: Reviewer, queue: UpgradeQueue, timmy: GiteaClient, number: int, head: str
) -> None:
    reports = [r for r in await reviewer.review_once() if r.number == number]
    verdict = reports[0].verdict if reports else "none"
    up = queue.get(number)
    clock.stamp(
        "proposed",
        up.state is State.PROPOSED and verdict == "pre_reviewed",
        f"timmy's reviewer: {verdict}; queue: #{number} {up.state.value} at {short(up.head_sha)}, risk "
        f"{up.risk} ({'; '.join(up.risk_reasons)})",
        f"upgrade #{number}: verdict {verdict}, {up.state.value}",
    )
    blocked = [m for m in await reviewer.merge_once() if m.number == number]
    tour.check(
        bool(blocked) and blocked[0].outcome == "blocked",
        f"        merge gate before the approval: {blocked[0].outcome if blocked else '-'} "
        f"({'; '.join(blocked[0].reasons) if blocked else ''})",
    )
    approved = await queue.approve(number, reviewer.approve_head)
    reviews = await timmy.list_reviews(OWNER, NAME, number)
    bound = any(r.state == "APPROVED" and r.commit_id == head and r.user and r.user.login == "timmy" for r in reviews)
    clock.stamp(
        "approved",
        approved.state is State.APPROVED and bound,
        f"timmy approves as the sovereign (`uni-wizard upgrades approve {number}`): {approved.state.value}, "
        f"the review bound to {short(head)}",
        f"upgrade #{number}: approval not bound to {short(head)}",
    )
    merged = None
    for _ in range(50):  # the forge checks mergeability after each push
        merged = next((m for m in await reviewer.merge_once() if m.number == number), None)
        if merged is not None and merged.outcome == "merged":
            break
        await asyncio.sleep(0.05)
    up = queue.get(number)
    clock.stamp(
        "merged",
        up.state is State.APPLYING and bool(up.merge_sha),
        f"timmy merges #{number}: merge {short(up.merge_sha or '')}; queue: {up.state.value}",
        f"upgrade #{number}: expected merged and applying, got {merged.outcome if merged else '-'}, {up.state.value}",
    )


async def _apply(tour: Tour, clock: _Clock, hosts: list[DemoHost], timmy: GiteaClient, sha: str) -> None:
    for host in hosts:
        assert host.reconciler is not None
        done = await host.reconciler.reconcile_once()
        installed = (host.settings.houses_dir / "ezra.yaml").read_text(encoding="utf-8")
        live = host.runtime.houses["ezra"].max_concurrency
        ok = done.outcome == "applied" and done.sha == sha and "max_concurrency: 3\n" in installed and live == 3
        clock.stamp(
            host.name,
            ok,
            f"{host.name}: reconcile {done.outcome} {short(done.sha)} in {done.seconds * 1000:.0f} ms "
            f"({done.reason}); systemd {', '.join(host.services.calls) or 'untouched'}; Ezra's "
            f"max_concurrency live: {live}",
            f"{host.name}: {done.outcome} ({done.reason}), live {live}",
        )
    statuses = await _deploys(timmy, sha)
    tour.check(
        all(statuses.get(h.name) == "success" for h in hosts),
        "        statuses on " + short(sha) + ": " + ", ".join(f"deploy/{h} {s}" for h, s in statuses.items()),
    )


async def _deploys(timmy: GiteaClient, sha: str) -> dict[str, str]:
    """Each host's newest ``uni-wizard/deploy/<host>`` status on ``sha``."""
    latest: dict[str, str] = {}
    for status in await timmy.list_statuses(OWNER, NAME, sha):  # newest first
        if status.context.startswith("uni-wizard/deploy/"):
            latest.setdefault(status.context.removeprefix("uni-wizard/deploy/"), status.status)
    return dict(sorted(latest.items()))


def _history(queue: UpgradeQueue, number: int) -> Table:
    table = Table("from", "to", "actor", "head", "reason", title=f"{REPO}#{number}: the upgrade's history")
    for t in queue.get(number).history:
        table.add_row(t.from_state or "-", t.to_state, t.actor, short(t.head_sha), t.reason[:70])
    return table
