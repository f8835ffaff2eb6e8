"""Triage runs off the event loop and reads bounded text: the loop keeps serving ``/health`` and pinging the watchdog.

The ordering is what is asserted, never a duration: ``/health`` (served by uvicorn on the same loop) is
answered and the watchdog pings again *while* the triage of a 5 MB body is still running. Were the triage
on the loop, neither could happen before it ended.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from bootstrapped_forge import ADMIN, Mesh, start_mesh
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.dispatch.audit import marker
from uni_wizard.dispatch.config import TriageLimits, load_triage_config
from uni_wizard.dispatch.engine import TriageEngine
from uni_wizard.dispatch.lease import LocalLease
from uni_wizard.dispatch.loop import HINT_SECONDS
from uni_wizard.dispatch.offload import Offload
from uni_wizard.dispatch.triage import Duplicates
from uni_wizard.dispatch.types import IssueText, TriageResult
from uni_wizard.forge import GiteaClient
from uni_wizard.sdnotify import watchdog_pings
from uni_wizard.testing import make_runtime
from uni_wizard.web.app import create_app

ORG = "mesh"
LOG_LINE = "the server crashes when the disk is full and a traceback shows the error in the logs"
WORDS = tuple(LOG_LINE.split(" "))


def filler(size: int, seed: int = 0) -> str:
    """``size`` characters of words (deterministic)."""
    words = [f"{WORDS[(i * 7 + seed) % len(WORDS)]}{i % 997}" for i in range(size // 6 + 1)]
    return " ".join(words)[:size]


@pytest.fixture
def health_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.mark.parametrize("kind", ["process", "thread"])
async def test_the_triage_of_a_5_mb_body_runs_off_the_loop(
    kind: str, tmp_path: Path, health_socket: socket.socket
) -> None:
    runtime = make_runtime(tmp_path)
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[health_socket]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{health_socket.getsockname()[1]}/health"
        config = load_triage_config()
        # read the whole 5 MB (the default limits would cut it to 32 KiB): seconds of pure-Python work
        config = config.model_copy(update={"limits": TriageLimits(body_chars=6_000_000)})
        engine = TriageEngine(config, Offload(kind))  # type: ignore[arg-type]
        big = engine.bound(IssueText(1, "Server crashes on start", filler(5_000_000)))
        others = [engine.bound(IssueText(n, f"Issue {n}", filler(2_000, n))) for n in range(2, 40)]

        async def triage() -> tuple[Duplicates, TriageResult]:
            duplicates = await engine.duplicates("o/r", big, others)
            return duplicates, await engine.triage(big, duplicates, None)

        running = asyncio.create_task(triage())
        await asyncio.sleep(0)  # it starts: its first step hands the work to the worker
        pings: list[bool] = []  # whether the triage was still running at each ping
        watchdog = asyncio.create_task(
            watchdog_pings(0.01, lambda: "x", send=lambda _: pings.append(running.done()) or True)
        )
        answer = await asyncio.to_thread(httpx.get, url, timeout=60)
        answered_while_running = not running.done()
        while len(pings) < 3 and not running.done():
            await asyncio.sleep(0.01)
        watchdog.cancel()
        duplicates, verdict = await running
        assert answer.status_code == 200
        assert answered_while_running, "/health was answered only after the triage ended"
        assert pings[:3] == [False, False, False], "the watchdog did not ping while the triage ran"
        assert verdict.kind == "bug" and verdict.labels[0] == "kind/bug"
        assert duplicates == ()
    finally:
        server.should_exit = True
        await serving
        runtime.close()


# -- a 5 MB issue through the real dispatcher, against the devforge -------------------------------------------------


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with start_mesh(tmp_path_factory.mktemp("offload-mesh")) as started:
        yield started


async def test_a_5_mb_issue_is_triaged_on_its_first_characters_and_the_audit_says_so(
    mesh: Mesh, tmp_path: Path
) -> None:
    repo = f"big-{uuid.uuid4().hex[:8]}"
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(repo, org=ORG)
        for user in ("timmy", "allegro", "ezra", "bezalel"):
            await root.add_collaborator(ORG, repo, user, "admin" if user == "timmy" else "write")
    runtime = make_runtime(tmp_path, gitea_url=mesh.url)
    config = load_triage_config()
    config = config.model_copy(
        update={"dispatcher": config.dispatcher.model_copy(update={"repos": (f"{ORG}/{repo}",)})}
    )
    body = "It crashed again.\n\n" + filler(5_000_000) + "\n\n## Acceptance criteria\n- [ ] it starts"
    async with (
        GiteaClient(mesh.url, mesh.token("timmy"), registry=CollectorRegistry()) as timmy,
        GiteaClient(mesh.url, mesh.token("allegro"), registry=runtime.metrics.registry) as allegro,
    ):
        big = await timmy.create_issue(ORG, repo, "Server crashes on start with a traceback", body)
        small = await timmy.create_issue(ORG, repo, "Server crashes on start with a traceback", "Steps to reproduce")
        loop = build_dispatch_loop(runtime.settings, runtime, forge=allegro, config=config, lease=LocalLease())
        allegro.json_decoder = loop.dispatcher.engine.offload.json_decoder  # the listing page is > 1 MiB
        assert allegro.json_decoder is not None
        assert await loop.dispatcher.lease.acquire()
        await loop.ensure_labels(f"{ORG}/{repo}")
        report = await loop.sweep(f"{ORG}/{repo}", full=True)
        assert report.failed == [] and report.issues == 2
        comments = await timmy.list_comments(ORG, repo, big.number)
        audit = next(c.body for c in comments if marker("triage", big.number) in c.body)
        labels = {label.name for label in (await timmy.get_issue(ORG, repo, big.number)).labels}
        small_labels = {label.name for label in (await timmy.get_issue(ORG, repo, small.number)).labels}
    runtime.close()
    # the criteria heading lies past the cut: the verdict is the one on the first 32,768 characters, and says so
    assert f"read the first 32,768 of the body's {len(body):,} characters only" in audit
    assert {"kind/bug", "needs-info", "status/routed"} <= labels
    assert len(loop.dispatcher.open_issues[f"{ORG}/{repo}"][big.number].body) == 32_768
    assert {"kind/bug", "status/routed"} <= small_labels


# -- between turns: a queued webhook ends the wait; its turn consumes the queue and does not sweep -----------------

WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "gitea-webhooks"
SECRET = "offload-webhook-secret"


def delivery_for(repo: str, number: int) -> tuple[dict[str, str], bytes]:
    payload = json.loads((WEBHOOKS / "webhook-issues-opened.json").read_text())
    payload["repository"]["full_name"] = repo
    payload["repository"]["name"] = repo.split("/", 1)[1]
    payload["issue"]["number"] = number
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Gitea-Event-Type": "issues",
        "X-Gitea-Delivery": str(uuid.uuid4()),
        "X-Gitea-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }
    return headers, body


async def test_a_queued_webhook_ends_the_wait_and_that_turn_only_consumes(mesh: Mesh, tmp_path: Path) -> None:
    repo = f"hint-{uuid.uuid4().hex[:8]}"
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(repo, org=ORG)
        await root.add_collaborator(ORG, repo, "allegro", "write")
        await root.add_collaborator(ORG, repo, "timmy", "admin")
    runtime = make_runtime(tmp_path, gitea_url=mesh.url)
    intake = create_app(runtime, webhook_secret=SECRET).state.intake
    config = load_triage_config()
    update = {"repos": (f"{ORG}/{repo}",), "poll_seconds": 3600.0}
    config = config.model_copy(update={"dispatcher": config.dispatcher.model_copy(update=update)})
    async with (
        GiteaClient(mesh.url, mesh.token("allegro"), registry=runtime.metrics.registry) as allegro,
        GiteaClient(mesh.url, mesh.token("timmy"), registry=CollectorRegistry()) as timmy,
    ):
        loop = build_dispatch_loop(
            runtime.settings, runtime, forge=allegro, config=config, intake=intake, lease=LocalLease()
        )
        stop = asyncio.Event()
        assert [r.full for r in await loop.run_once()] == [True]  # the first turn: labels and a full sweep
        waiting = asyncio.create_task(loop.pause(stop, 3600))
        await intake.receive(*delivery_for("someone/else", 1))  # another repository's event: no reason to wake
        await asyncio.sleep(HINT_SECONDS * 3)
        assert not waiting.done()
        issue = await timmy.create_issue(ORG, repo, "Server crashes on start", "Steps to reproduce: run it")
        await intake.receive(*delivery_for(f"{ORG}/{repo}", issue.number))
        assert await asyncio.wait_for(waiting, 60) is True  # woken well before the hour is up
        assert await loop.run_once(sweep=False) == []  # no sweep ...
        labels = {label.name for label in (await timmy.get_issue(ORG, repo, issue.number)).labels}
        assert {"kind/bug", "status/routed"} <= labels  # ... and the issue is triaged from the queue
        assert await loop.pause(stop, 0.01) is False  # nothing waits now: the wait runs out
    runtime.close()
