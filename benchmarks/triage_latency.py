"""Triage latency on loopback: webhook → labelled, assigned and commented, and full sweeps, against baselines.

    .venv/bin/python benchmarks/triage_latency.py [--issues 200] [--open 5000] [--untriaged 500] [--held 500]
                                                  [--rounds 3] [--warmup 10] [--poll-ms 5]

Setup, all in this process on 127.0.0.1: the devforge (``DevforgeServer``, with its webhook-delivery
thread) and the daemon's app (``uni_wizard.web.app.create_app`` on a ``make_runtime`` runtime, with a
webhook secret), each served by uvicorn from its own thread (``ThreadedServer``). The mesh is
``configs/forge-layout.example.yaml`` created by ``uni_wizard.forge.bootstrap`` through the API, with
its hook pointed at this daemon, plus four repositories like ``work`` but without a hook: ``plain``
(the baseline of (a)), ``backlog`` (b1), ``untriaged`` (b2) and ``held`` (b3). A user ``reporter``
with no role in the mesh opens the issues. The dispatcher is ``build_dispatch_loop(settings,
runtime, forge=..., intake=app.state.intake, config=...)`` acting as allegro, watching ``mesh/work``
and the three sweep repositories; its ``LocalLease`` is renewed before each sweep, as ``run_once``
does at the start of a turn, and by the loop as it goes. It runs in the benchmark's event loop. Its
client's transport counts every request, by route, and the time spent waiting for the answers.

One departure from a production daemon, so that the thing measured is the one asked about: the
houses' ``max_concurrency`` is raised (``model_copy``, past the policy's limit of 64) so that every
issue of (a), (b1) and (b2) can be routed and assigned. With the shipped capacities, 5 issues in all,
the sixth would be held in ``status/triage``, unassigned: (b3) measures that case.

(a) Webhook → triaged, over ``--issues`` issues (after ``--warmup`` unmeasured ones). The dispatcher is
    driven by the webhook queue only: a task calls ``DispatchLoop.consume()`` in a tight loop, sleeping
    ``--poll-ms`` when the queue is empty; no sweep runs. For each issue the clock (``perf_counter``) is
    read before ``create_issue`` on ``mesh/work`` (hooked); the end is the moment
    ``Dispatcher.handle`` returns for that issue having applied a triage: the audit comment, the
    labels, the assignee, and the recorded decision (ledger row, ``issue.routed`` event), in that
    order. The stamp is taken by a wrapper put on the dispatcher instance's ``handle``: exact, and it
    costs nothing (polling the event log for ``issue.routed`` would add up to one poll of error).
    A second wrapper, on the intake instance's ``receive``, stamps the moment the ``opened`` event is
    durably queued, which splits the latency into delivery and dispatch. Package code is not modified.
    The baseline, interleaved with it (alternating which goes first), is the bare API call:
    ``create_issue`` on ``mesh/plain`` (no hook), until the answer is received.
    Between issues everything is left to settle: the devforge's deliverer is idle and the daemon's
    queue is empty, including the events the dispatcher's own writes caused (the comment, label and
    assign webhooks come back to the daemon and are consumed too: one ``GET`` of the issue per batch).
    Requests per issue are counted until the issue is triaged, and until it has settled. Afterwards
    every measured issue is checked through the API (routed, assigned, one audit comment).

(b1) A full sweep (``DispatchLoop.sweep(repo, full=True)``) over ``--open`` open issues that are already
    triaged: ``status/routed``, ``house/<h>``, ``kind/<k>``, ``priority/P<n>`` and assigned to the house's
    user; the steady state, where every issue should be a no-op. The issues are seeded through the
    devforge's data layer (``uni_wizard.devforge.issues.new_issue`` with labels and assignees, in one
    ``db.tx()``, what the POST handler calls; the labels were created by the dispatcher's
    ``ensure_labels``) in well under a second, because triaging 5,000 by a first sweep takes 14 to 19
    minutes here (measured once each: ``--untriaged 5000``, and the first triage of ``--held 5000``):
    every triage compares the issue with every other open one. The sweep is checked to repair nothing.
    The baseline is listing the same issues with the same client (``list_issues(state="open",
    type="issues")``, what the sweep lists); ``--rounds`` rounds, interleaved; medians.

(b2) The first triage of ``--untriaged`` issues (seeded through the data layer, no labels) by one full
    sweep, then a second full sweep over them (now a no-op); the baseline is listing them. One run
    each (a first triage cannot be repeated). Skipped with ``--untriaged 0``.

(b3) ``--held`` issues that no house can take: the dispatcher's houses are set back to the shipped
    policies (every house is full by then: (a) and (b1) routed far more than 5 issues), the issues are
    seeded untriaged and triaged by one sweep (routed to nobody: ``status/triage``, an audit comment
    saying why), then full sweeps over them are measured as in (b1). Skipped with ``--held 0``.

Everything shares one process and the GIL on the machine's cores: the baselines pay the same tax, so
read the ratios before the absolute times. Prints Markdown tables with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.config import default_houses_dir
from uni_wizard.devforge import DevforgeServer, Forge
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.dispatch.dispatcher import Action, Dispatcher
from uni_wizard.dispatch.loop import DispatchLoop, SweepReport
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.bootstrap import bootstrap, load_layout
from uni_wizard.forge.models import Issue
from uni_wizard.intake.queue import IntakeResult, WebhookIntake
from uni_wizard.policy.loader import load_houses
from uni_wizard.testing import Exchange, RecordingTransport, make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "configs" / "forge-layout.example.yaml"
ADMIN = ("root", "root-password-1")
REPORTER = ("reporter", "reporter-password-1")
SECRET = "bench-webhook-secret"
SCOPES = ("write:repository", "write:issue", "read:user")
ORG = "mesh"
HOOKED, PLAIN, BACKLOG, UNTRIAGED, HELD = "work", "plain", "backlog", "untriaged", "held"
CAPACITY = 1_000_000  # every house's max_concurrency in this benchmark (see the module docstring)
WAIT = 30.0  # seconds: give up on an issue after this long
TARGET_A_P95 = 0.250  # seconds, webhook → triaged at p95
TARGET_B1 = 30.0  # seconds, a full sweep over the open issues


# -- issue texts: varied, deterministic --------------------------------------------------------------------------------

TITLES = (
    "Server crashes on start with a traceback in {area}",
    "Write the architecture document for {area}",
    "Deploy {area} to the staging host",
    "Security: token leaked in the logs of {area}",
    "Refactor {area} to drop its global state",
    "Decide whether {area} needs a cache",
    "Add tests for {area}",
    "{area} is slow under load",
    "Investigate flaky failures in {area}",
    "Document the configuration of {area}",
)
AREAS = (
    "the webhook intake", "the router", "the store", "the sweep", "the CLI", "the git tools", "the devforge",
    "provenance", "the metrics endpoint", "the lease", "the harness", "the policy loader", "the event log",
    "the backup job", "the syncthing bridge", "the systemd units", "the forge client", "the audit comments",
)  # fmt: skip
DETAILS = (
    "after the upgrade", "on arm64", "when the disk is full", "since last week", "with two hosts",
    "under systemd", "in the demo", "with a slow network", "on a fresh install", "for large repositories",
)  # fmt: skip
BODIES = (
    "Steps to reproduce:\n1. run it {detail}\n2. watch it fail\n\nExpected behaviour: it works.",
    "## Acceptance criteria\n- [ ] {detail}, it is done\n- [ ] the docs say so",
    "Seen {detail}. No idea why yet.",
    "",
)


def issue_text(i: int) -> tuple[str, str]:
    """A title and body for issue ``i``: the same for the same ``i``, varied across ``i``."""
    rng = random.Random(i)
    area = rng.choice(AREAS)
    title = rng.choice(TITLES).format(area=area)
    title = title[0].upper() + title[1:] + f" {rng.choice(DETAILS)}"
    return title, rng.choice(BODIES).format(detail=rng.choice(DETAILS))


# -- counting the dispatcher's requests --------------------------------------------------------------------------------

_REPO_PREFIX = re.compile(r"^/api/v1/repos/[^/]+/[^/]+")
_NUMBER = re.compile(r"/\d+(?=/|$)")


def routes(exchanges: Sequence[Exchange]) -> Counter[str]:
    """The requests by route: ``METHOD /path`` with the repository prefix dropped and numbers as ``{n}``
    (``PUT /issues/{n}/labels``)."""
    return Counter(f"{e.method} {_NUMBER.sub('/{n}', _REPO_PREFIX.sub('', e.path)) or '/'}" for e in exchanges)


# -- stamps: queued (daemon thread) and triaged (dispatcher) -----------------------------------------------------------


@dataclass
class Triaged:
    started: float  # Dispatcher.handle called (the issue was already fetched)
    done: float  # Dispatcher.handle returned, every action applied
    http: float  # seconds of it spent waiting for the dispatcher's HTTP requests
    applied: tuple[str, ...]  # the kinds of the actions applied, in order


class Probe:
    """Per issue number of ``mesh/work``: when its ``opened`` event was queued, when it was triaged."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queued: dict[int, float] = {}  # written by the daemon's thread (one dict store: atomic)
        self.triaged: dict[int, Triaged] = {}
        self.waiters: dict[int, asyncio.Future[Triaged]] = {}
        self.error: BaseException | None = None

    def wrap_intake(self, intake: WebhookIntake) -> None:
        receive = intake.receive

        async def timed(headers: Mapping[str, str], body: bytes) -> IntakeResult:
            result = await receive(headers, body)
            stamp = time.perf_counter()  # the commit has happened; the HTTP answer is not sent yet
            if result.outcome == "accepted" and result.event_type == "issues":
                payload = json.loads(body)
                if payload.get("action") == "opened" and payload["repository"]["full_name"] == f"{ORG}/{HOOKED}":
                    self.queued.setdefault(int(payload["issue"]["number"]), stamp)
            return result

        intake.receive = timed  # type: ignore[method-assign]

    def wrap_dispatcher(self, dispatcher: Dispatcher, counter: RecordingTransport) -> None:
        handle = dispatcher.handle

        async def timed(repo: str, issue: Issue) -> list[Action]:
            mark, started = len(counter.exchanges), time.perf_counter()
            actions = await handle(repo, issue)
            done = time.perf_counter()
            http = sum(e.seconds for e in counter.exchanges[mark:])  # waiting for the answers (the headers)
            applied = tuple(a.kind for a in actions if a.apply is not None)
            if repo == f"{ORG}/{HOOKED}" and "triage" in applied and issue.number not in self.triaged:
                self.triaged[issue.number] = record = Triaged(started, done, http, applied)
                waiter = self.waiters.pop(issue.number, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(record)
            return actions

        dispatcher.handle = timed  # type: ignore[method-assign]

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(exc)

    async def wait(self, number: int) -> Triaged:
        if self.error is not None:
            raise self.error
        if number in self.triaged:
            return self.triaged[number]
        waiter = self.waiters[number] = self.loop.create_future()
        try:
            return await asyncio.wait_for(waiter, WAIT)
        except TimeoutError:
            raise RuntimeError(f"issue {number} was not triaged within {WAIT:g} s") from None


async def consume_forever(loop: DispatchLoop, stop: asyncio.Event, poll: float, probe: Probe) -> None:
    """The dispatcher driven by the webhook queue alone: consume, and sleep ``poll`` when it was empty."""
    try:
        while not stop.is_set():
            if not await loop.consume():
                await asyncio.sleep(poll)
    except Exception as exc:
        probe.fail(exc)
        raise


# -- the mesh ----------------------------------------------------------------------------------------------------------


async def build_mesh(forge_url: str, daemon_url: str, secrets_dir: Path, registry: CollectorRegistry) -> str:
    """The example layout (its hook at this daemon) and the four hook-less repositories; the reporter's token."""
    layout = load_layout(LAYOUT)
    hook_url = f"{daemon_url}/hooks/gitea"
    repos = [
        r.model_copy(update={"hooks": tuple(h.model_copy(update={"url": hook_url}) for h in r.hooks)})
        for r in layout.repos
    ]
    work = next(r for r in repos if r.name == HOOKED)
    repos += [work.model_copy(update={"name": name, "hooks": ()}) for name in (PLAIN, BACKLOG, UNTRIAGED, HELD)]
    secrets_dir.mkdir(mode=0o700, parents=True)
    (secrets_dir / "webhook.secret").write_text(SECRET + "\n")  # bootstrap uses it for the hooks
    (secrets_dir / "webhook.secret").chmod(0o600)  # a secret file readable by others is warned about
    await bootstrap(
        layout.model_copy(update={"repos": tuple(repos)}), url=forge_url, admin=ADMIN, secrets_dir=secrets_dir
    )
    async with GiteaClient(forge_url, username=ADMIN[0], password=ADMIN[1], registry=registry) as root:
        await root.create_user(REPORTER[0], f"{REPORTER[0]}@example.com", REPORTER[1])
    async with GiteaClient(forge_url, username=REPORTER[0], password=REPORTER[1], registry=registry) as basic:
        return (await basic.create_token(REPORTER[0], "bench", scopes=SCOPES)).sha1


def seed(forge: Forge, repo: str, count: int, *, houses: Sequence[str], kinds: Sequence[str], triaged: bool) -> float:
    """``count`` open issues in ``mesh/<repo>`` through the devforge's data layer, in one transaction;
    ``triaged``: labelled routed (house, kind, priority) and assigned. Returns the seconds it took."""
    from uni_wizard.devforge.access import WRITE, load_repo
    from uni_wizard.devforge.auth import Caller
    from uni_wizard.devforge.issues import new_issue

    started = time.perf_counter()
    db = forge.db
    poster = db.one("SELECT * FROM users WHERE lower_login = ?", (REPORTER[0],))
    admin = db.one("SELECT * FROM users WHERE lower_login = ?", (ADMIN[0],))
    assert poster is not None and admin is not None
    rc = load_repo(forge, Caller(admin, None, "password"), ORG, repo, need=WRITE, area="issue")
    labels = {row["name"]: row for row in db.all("SELECT * FROM labels WHERE repo_id = ?", (rc.id,))}
    users = {row["lower_login"]: row for row in db.all("SELECT * FROM users WHERE is_org = 0")}
    with db.tx():
        for i in range(count):
            title, body = issue_text(100_000 + i)
            if not triaged:
                new_issue(rc, poster, title, body)
                continue
            house = houses[i % len(houses)]
            names = ("status/routed", f"house/{house}", f"kind/{kinds[i % len(kinds)]}", f"priority/P{i % 4}")
            new_issue(rc, poster, title, body, labels=[labels[n] for n in names], assignees=[users[house]])
    return time.perf_counter() - started


# -- measuring ---------------------------------------------------------------------------------------------------------


@dataclass
class WebhookResults:
    times: dict[str, list[float]]  # seconds per measured issue
    requests_triaged: list[int]  # dispatcher requests per issue until triaged
    requests_settled: list[int]  # ... until everything it caused was consumed
    routes: Counter[str]  # every request of the measured issues, by route
    events: int  # webhook events the daemon queued for the measured issues
    verified: int  # measured issues found routed, assigned, with one audit comment
    applied: Counter[tuple[str, ...]]


async def settle(forge: Forge, intake: WebhookIntake) -> None:
    """Until the deliverer is idle and the daemon's queue is empty (everything delivered was consumed)."""
    deliverer = forge.deliverer
    assert deliverer is not None
    deadline = time.monotonic() + WAIT
    while True:
        await asyncio.to_thread(deliverer.wait_idle, WAIT)
        if intake.depth() == 0 and deliverer.wait_idle(0):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the queue did not drain within {WAIT:g} s")
        await asyncio.sleep(0.002)


async def measure_webhook(
    reporter: GiteaClient,
    forge: Forge,
    intake: WebhookIntake,
    probe: Probe,
    counter: RecordingTransport,
    args: argparse.Namespace,
) -> WebhookResults:
    keys = ("baseline", "api", "queued", "triaged", "pickup", "handle", "http", "local")
    times: dict[str, list[float]] = {k: [] for k in keys}
    out = WebhookResults(times, [], [], Counter(), 0, 0, Counter())
    measured: list[int] = []

    async def hooked(i: int, keep: bool) -> None:
        title, body = issue_text(i)
        before = len(counter.exchanges)
        started = time.perf_counter()
        issue = await reporter.create_issue(ORG, HOOKED, title, body)
        answered = time.perf_counter()
        triaged = await probe.wait(issue.number)
        at_triaged = len(counter.exchanges)
        await settle(forge, intake)
        if not keep:
            return
        measured.append(issue.number)
        queued = probe.queued[issue.number]
        times["api"].append(answered - started)
        times["queued"].append(queued - started)
        times["triaged"].append(triaged.done - started)
        times["pickup"].append(triaged.started - queued)
        times["handle"].append(triaged.done - triaged.started)
        times["http"].append(triaged.http)
        times["local"].append(triaged.done - triaged.started - triaged.http)
        out.requests_triaged.append(at_triaged - before)
        out.requests_settled.append(len(counter.exchanges) - before)
        out.routes.update(routes(counter.exchanges[before:]))
        out.applied[triaged.applied] += 1

    async def plain(i: int, keep: bool) -> None:
        title, body = issue_text(i)
        started = time.perf_counter()
        await reporter.create_issue(ORG, PLAIN, title, body)
        if keep:
            times["baseline"].append(time.perf_counter() - started)

    for i in range(args.warmup + args.issues):
        first, second = (hooked, plain) if i % 2 == 0 else (plain, hooked)
        await first(i, i >= args.warmup)
        await second(i, i >= args.warmup)

    numbers = set(measured)
    rows = intake.store.query("SELECT number FROM event_queue WHERE repository = ?", (f"{ORG}/{HOOKED}",))
    out.events = sum(1 for row in rows if row["number"] in numbers)
    for issue in await reporter.list_issues(ORG, HOOKED, state="open", type="issues"):
        if issue.number not in numbers:
            continue
        labels = {label.name for label in issue.labels}
        house = next((n[6:] for n in labels if n.startswith("house/")), None)
        comments = await reporter.list_comments(ORG, HOOKED, issue.number)
        audits = [c for c in comments if c.user is not None and c.user.login == "allegro"]
        if (
            "status/routed" in labels
            and house is not None
            and [u.login for u in issue.assignees] == [house]
            and len(audits) == 1
            and "uni-wizard:audit triage" in audits[0].body
        ):
            out.verified += 1
    return out


@dataclass
class SweepResults:
    seconds: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    reports: list[SweepReport] = field(default_factory=list)
    routes: Counter[str] = field(default_factory=Counter)


async def timed_list(loop: DispatchLoop, counter: RecordingTransport, repo: str, count: int, out: SweepResults) -> None:
    before, started = len(counter.exchanges), time.perf_counter()
    issues = await loop.forge.list_issues(ORG, repo, state="open", type="issues")
    out.seconds.append(time.perf_counter() - started)
    out.requests.append(len(counter.exchanges) - before)
    if len({i.number for i in issues}) != count:
        raise RuntimeError(f"listed {len(issues)} open issues in {ORG}/{repo}, expected {count}")


async def hold_lease(loop: DispatchLoop) -> None:
    """Renew the lease (take it if it lapsed), as ``run_once`` does at the start of every turn."""
    lease = loop.dispatcher.lease
    if not await lease.renew():
        await lease.acquire()


async def timed_sweep(loop: DispatchLoop, counter: RecordingTransport, repo: str, out: SweepResults) -> None:
    await hold_lease(loop)
    before, started = len(counter.exchanges), time.perf_counter()
    report = await loop.sweep(f"{ORG}/{repo}", full=True)
    out.seconds.append(time.perf_counter() - started)
    out.requests.append(len(counter.exchanges) - before)
    out.routes.update(routes(counter.exchanges[before:]))
    out.reports.append(report)
    if report.failed:
        raise RuntimeError(f"the sweep of {ORG}/{repo} failed on {report.failed[:3]}")


@dataclass
class Results:
    webhook: WebhookResults
    listing: SweepResults  # b1 baseline
    steady: SweepResults  # b1
    seed_open: float
    untriaged_listing: SweepResults  # b2 baseline
    first: SweepResults  # b2, the first triage
    second: SweepResults  # b2, the sweep after it
    seed_untriaged: float
    held_listing: SweepResults  # b3 baseline
    held_first: SweepResults  # b3, their first triage (routed to nobody)
    held_steady: SweepResults  # b3
    held: int  # b3 issues left in status/triage by their first triage
    epoch: int  # the lease's epoch at the end (1: it never lapsed)
    storage: str


async def interleaved(
    loop: DispatchLoop, counter: RecordingTransport, repo: str, count: int, rounds: int
) -> tuple[SweepResults, SweepResults]:
    """``rounds`` of (listing, full sweep), alternating which goes first."""
    listing, sweeps = SweepResults(), SweepResults()
    if loop.memory is not None:  # the memory's first indexing and reconcile of the repository: not the steady state
        await loop.memory.update(f"{ORG}/{repo}", full=True)
    for r in range(rounds):
        if r % 2 == 0:
            await timed_list(loop, counter, repo, count, listing)
            await timed_sweep(loop, counter, repo, sweeps)
        else:
            await timed_sweep(loop, counter, repo, sweeps)
            await timed_list(loop, counter, repo, count, listing)
    return listing, sweeps


async def measure(args: argparse.Namespace) -> Results:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("UNIWIZARD_")}
    registry = CollectorRegistry()
    shipped = load_houses(default_houses_dir())
    houses = {name: policy.model_copy(update={"max_concurrency": CAPACITY}) for name, policy in shipped.items()}
    takers = [name for name, policy in houses.items() if policy.rules.may_take_issues]
    with tempfile.TemporaryDirectory(prefix="uw-triage-bench-") as tmp:
        root = Path(tmp)
        probe = Probe(asyncio.get_running_loop())
        runtime = make_runtime(root / "daemon", houses=houses)
        forge_server = DevforgeServer(root / "devforge", ADMIN).start()
        forge: Forge = forge_server.forge
        app = create_app(runtime, webhook_secret=SECRET)
        intake: WebhookIntake = app.state.intake
        probe.wrap_intake(intake)
        daemon = ThreadedServer(app, name="daemon").start()
        counter = RecordingTransport()  # the network transport: what the dispatcher sent, and its waits
        stop = asyncio.Event()
        consumer: asyncio.Task[None] | None = None
        empty = SweepResults
        b2: tuple[SweepResults, SweepResults, SweepResults, float] = (empty(), empty(), empty(), 0.0)
        b3: tuple[SweepResults, SweepResults, SweepResults, int] = (empty(), empty(), empty(), 0)
        try:
            token = await build_mesh(forge_server.url, daemon.url, root / "secrets", registry)
            allegro_token = (root / "secrets" / "allegro.token").read_text().strip()
            config = load_triage_config(runtime.settings.triage_config)
            watched = tuple(f"{ORG}/{name}" for name in (HOOKED, BACKLOG, UNTRIAGED, HELD))
            config = config.model_copy(update={"dispatcher": config.dispatcher.model_copy(update={"repos": watched})})
            async with (
                GiteaClient(
                    forge_server.url, allegro_token, registry=runtime.metrics.registry, timeout=60, transport=counter
                ) as dispatcher_client,
                GiteaClient(forge_server.url, token, registry=registry, timeout=60) as reporter,
            ):
                loop = build_dispatch_loop(
                    runtime.settings, runtime, forge=dispatcher_client, intake=intake, config=config
                )
                probe.wrap_dispatcher(loop.dispatcher, counter)
                await loop.dispatcher.lease.acquire()  # a LocalLease: renewed before each turn, and by the loop
                for repo in watched:
                    await loop.ensure_labels(repo)

                # (a) the webhook queue drives the dispatcher
                await hold_lease(loop)
                consumer = asyncio.create_task(consume_forever(loop, stop, args.poll_ms / 1000, probe))
                webhook = await measure_webhook(reporter, forge, intake, probe, counter, args)
                stop.set()
                await consumer

                # (b1) the steady state: a full sweep over triaged open issues
                seeded_open = await asyncio.to_thread(
                    seed, forge, BACKLOG, args.open, houses=takers, kinds=tuple(config.kinds), triaged=True
                )
                listing, steady = await interleaved(loop, counter, BACKLOG, args.open, args.rounds)

                # (b2) the first triage of untriaged issues by a sweep, then the sweep after it
                if args.untriaged:
                    seeded = await asyncio.to_thread(
                        seed, forge, UNTRIAGED, args.untriaged, houses=takers, kinds=(), triaged=False
                    )
                    b2 = (empty(), empty(), empty(), seeded)
                    await timed_list(loop, counter, UNTRIAGED, args.untriaged, b2[0])
                    await timed_sweep(loop, counter, UNTRIAGED, b2[1])
                    await timed_sweep(loop, counter, UNTRIAGED, b2[2])

                # (b3) held issues: the houses at their shipped capacities, all full by now
                if args.held:
                    await asyncio.to_thread(seed, forge, HELD, args.held, houses=takers, kinds=(), triaged=False)
                    loop.dispatcher.houses = dict(shipped)
                    first_triage = empty()
                    await timed_sweep(loop, counter, HELD, first_triage)
                    rows = runtime.store.query(
                        "SELECT count(*) FROM issue_states WHERE repository = ? AND status = 'triage'",
                        (f"{ORG}/{HELD}",),
                    )
                    held_listing, held_steady = await interleaved(loop, counter, HELD, args.held, args.rounds)
                    b3 = (held_listing, first_triage, held_steady, int(rows[0][0]))
                    loop.dispatcher.houses = dict(houses)
                epoch = loop.dispatcher.lease.epoch
        finally:
            stop.set()
            if consumer is not None and not consumer.done():
                consumer.cancel()
            daemon.stop()
            forge_server.stop()
            runtime.close()
            os.environ.update(saved)
    return Results(webhook, listing, steady, seeded_open, *b2, *b3, epoch, storage_of(tmp))


def storage_of(path: str) -> str:
    """The filesystem type under ``path`` (the store commits with synchronous=FULL: fsync costs count)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) > 2 and path.startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


# -- reporting ---------------------------------------------------------------------------------------------------------


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def command(args: argparse.Namespace) -> str:
    return (
        f".venv/bin/python benchmarks/triage_latency.py --issues {args.issues} --open {args.open} "
        f"--untriaged {args.untriaged} --held {args.held} --rounds {args.rounds} --warmup {args.warmup} "
        f"--poll-ms {args.poll_ms:g}"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report_webhook(w: WebhookResults, args: argparse.Namespace) -> list[str]:
    ms = 1000.0
    t = w.times
    base50, base95 = p50(t["baseline"]) * ms, p95(t["baseline"]) * ms

    def row(label: str, key: str, target: str = "", ratio: bool = True) -> str:
        v50, v95 = p50(t[key]) * ms, p95(t[key]) * ms
        ratios = f"{v50 / base50:.2f} | {v95 / base95:.2f}" if ratio else " | "
        return f"| {label} | {v50:.2f} | {v95:.2f} | {ratios} | {target} |"

    tri95 = p95(t["triaged"])
    n = args.issues
    per_route = ", ".join(f"`{r}` {c / n:.2f}" for r, c in sorted(w.routes.items(), key=lambda rc: (-rc[1], rc[0])))
    applied = "; ".join(f"{' → '.join(k)}: {c}" for k, c in w.applied.most_common())
    return [
        f"(a) webhook → labelled, assigned and commented, over {n} issues opened by an ordinary user (after "
        f"{args.warmup} warm-up rounds), interleaved with the baseline; the dispatcher consumes the webhook queue "
        f"in a loop (sleeping {args.poll_ms:g} ms when it is empty), no sweep runs; times from the start of the "
        "create call",
        "",
        "| measurement | p50 ms | p95 ms | p50 ratio | p95 ratio | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| create issue API call, repository without a hook (baseline) | {base50:.2f} | {base95:.2f} | 1.00 | 1.00 "
        "| |",
        row("create issue API call, hooked repository (answer received)", "api"),
        row("create → webhook durably queued in the daemon", "queued"),
        row(
            "create → triaged: audit comment, labels, assignee applied, decision recorded",
            "triaged",
            f"p95 < {TARGET_A_P95 * ms:.0f} ms: {verdict(tri95 < TARGET_A_P95)}",
        ),
        row("of which: queued → dispatcher handles it (poll, claim, `GET` the issue)", "pickup", ratio=False),
        row("of which: `Dispatcher.handle` (plan, comment, labels, assignee, record)", "handle", ratio=False),
        row("of `handle`: waiting for its HTTP requests", "http", ratio=False),
        row(
            "of `handle`: the rest (triage, routing, the store's writes, the event loop's other work)",
            "local",
            ratio=False,
        ),
        "",
        "| dispatcher requests per issue | median | min | max | mean |",
        "|---|---:|---:|---:|---:|",
        f"| until triaged | {p50(w.requests_triaged):g} | {min(w.requests_triaged)} | {max(w.requests_triaged)} | "
        f"{statistics.fmean(w.requests_triaged):.2f} |",
        f"| until settled (its own writes' webhooks consumed too) | {p50(w.requests_settled):g} | "
        f"{min(w.requests_settled)} | {max(w.requests_settled)} | {statistics.fmean(w.requests_settled):.2f} |",
        "",
        f"by route, per issue: {per_route}. Webhook events queued per issue: {w.events / n:.2f} (the `opened` "
        "one, and the echoes of the dispatcher's own comment, label and assign writes). Actions applied: "
        f"{applied}. Checked afterwards through the API: {w.verified}/{n} measured issues are `status/routed`, "
        "labelled with a house, assigned to that house's user, with exactly one audit comment by allegro.",
    ]


def report_sweeps(results: Results, args: argparse.Namespace) -> list[str]:
    lst, sw = results.listing, results.steady
    list_s, sweep_s = p50(lst.seconds), p50(sw.seconds)
    list_r, sweep_r = int(p50(lst.requests)), int(p50(sw.requests))
    repairs = sum(r.repairs for r in sw.reports)
    handled = {r.issues for r in sw.reports}
    n = args.open
    lines = [
        f"(b1) full sweep over {n} open, already triaged issues (routed, labelled, assigned: the steady state), "
        f"medians of {args.rounds} rounds interleaved with the baseline; seeded through the devforge's data layer "
        f"(issues.new_issue with labels and assignees, one transaction) in {results.seed_open:.1f} s",
        "",
        "| measurement | time s | HTTP requests | requests per issue | time ratio | requests ratio | target |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| list the {n} open issues with the client (baseline) | {list_s:.2f} | {list_r} | {list_r / n:.3f} | "
        "1.00 | 1.00 | |",
        f"| full sweep (`DispatchLoop.sweep(repo, full=True)`) | {sweep_s:.2f} | {sweep_r} | {sweep_r / n:.3f} | "
        f"{sweep_s / list_s:.2f} | {sweep_r / list_r:.2f} | < {TARGET_B1:g} s: {verdict(sweep_s < TARGET_B1)} |",
        "",
        f"the sweep handled {', '.join(str(h) for h in sorted(handled))} issues per round and repaired {repairs} in "
        f"all; beyond the listing it spent {(sweep_s - list_s) / n * 1000:.3f} ms per issue (derive, and one "
        f"`issue_states` transaction each on the store, synchronous=FULL on {results.storage}). Per-round sweep "
        f"times: {', '.join(f'{s:.2f}' for s in sw.seconds)} s; listings: "
        f"{', '.join(f'{s:.2f}' for s in lst.seconds)} s.",
    ]
    if args.untriaged:
        lines += ["", *report_first_triage(results, args)]
    if args.held:
        lines += ["", *report_held(results, args)]
    return lines


def report_first_triage(results: Results, args: argparse.Namespace) -> list[str]:
    m = args.untriaged
    base, first, second = results.untriaged_listing, results.first, results.second
    b_s, b_r = base.seconds[0], base.requests[0]
    lines = [
        f"(b2) {m} untriaged open issues (seeded through the data layer in {results.seed_untriaged:.1f} s): "
        "their first triage by a full sweep, then the sweep after it; one run each",
        "",
        "| measurement | time s | HTTP requests | requests per issue | actions applied | time ratio | requests ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| list the {m} open issues with the client (baseline) | {b_s:.2f} | {b_r} | {b_r / m:.3f} | | 1.00 | 1.00 |",
    ]
    for label, sweep in (("first triage of them by one full sweep", first), ("the next full sweep (no-op)", second)):
        s, r, rep = sweep.seconds[0], sweep.requests[0], sweep.reports[0]
        lines.append(f"| {label} | {s:.2f} | {r} | {r / m:.3f} | {rep.repairs} | {s / b_s:.2f} | {r / b_r:.2f} |")
    lines += ["", f"first triage: {first.seconds[0] / m * 1000:.1f} ms per issue; its requests: {by_route(first)}."]
    return lines


def report_held(results: Results, args: argparse.Namespace) -> list[str]:
    h = args.held
    lst, sw, first = results.held_listing, results.held_steady, results.held_first
    list_s, sweep_s = p50(lst.seconds), p50(sw.seconds)
    list_r, sweep_r = int(p50(lst.requests)), int(p50(sw.requests))
    applied = sum(r.repairs for r in sw.reports)
    return [
        f"(b3) full sweep over {h} held issues: triaged, but routed to nobody because every house is full at its "
        f"shipped `max_concurrency` (5 issues in all), so they stay in `status/triage` and every sweep re-derives "
        f"them (the steady state of a backlog bigger than the houses' capacity); medians of {args.rounds} rounds "
        "interleaved with the baseline",
        "",
        "| measurement | time s | HTTP requests | requests per issue | time ratio | requests ratio |",
        "|---|---:|---:|---:|---:|---:|",
        f"| list the {h} open issues with the client (baseline) | {list_s:.2f} | {list_r} | {list_r / h:.3f} | "
        "1.00 | 1.00 |",
        f"| full sweep over them | {sweep_s:.2f} | {sweep_r} | {sweep_r / h:.3f} | {sweep_s / list_s:.2f} | "
        f"{sweep_r / list_r:.2f} |",
        "",
        f"held after their first triage: {results.held}/{h} (that sweep took {first.seconds[0]:.2f} s, "
        f"{first.requests[0]} requests: {by_route(first)}); the sweeps after it applied {applied} actions and spent "
        f"{(sweep_s - list_s) / h * 1000:.2f} ms per held issue beyond the listing (while no house is free a held "
        f"issue is only derived from its labels, no request, no triage); their requests: {by_route(sw)}.",
    ]


def by_route(sweeps: SweepResults) -> str:
    return ", ".join(f"`{k}` {c}" for k, c in sorted(sweeps.routes.items(), key=lambda kc: (-kc[1], kc[0])))


def report(results: Results, args: argparse.Namespace) -> str:
    lines = [f"command: `{command(args)}`", ""]
    lines += report_webhook(results.webhook, args)
    lines.append("")
    lines += report_sweeps(results, args)
    lines += ["", f"the dispatcher's lease epoch at the end: {results.epoch} (1: it never lapsed)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--issues", type=int, default=200, help="issues for the webhook latency (a)")
    parser.add_argument("--open", type=int, default=5000, help="triaged open issues for the steady sweep (b1)")
    parser.add_argument(
        "--untriaged", type=int, default=500, help="issues for the first triage by a sweep (b2; 0: skip)"
    )
    parser.add_argument("--held", type=int, default=500, help="issues held for lack of a free house (b3; 0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (b1) and (b3)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured rounds before (a)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="the consumer's sleep when the queue is empty")
    args = parser.parse_args(argv)
    if args.issues < 1 or args.open < 1 or args.rounds < 1 or min(args.untriaged, args.held, args.warmup) < 0:
        parser.error("--issues, --open and --rounds must be at least 1; --untriaged, --held and --warmup at least 0")
    if args.poll_ms <= 0:
        parser.error("--poll-ms must be positive")
    text = report(asyncio.run(measure(args)), args)
    print(text)
    return text


if __name__ == "__main__":
    main()
