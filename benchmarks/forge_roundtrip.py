"""Forge round trips on loopback: webhook latency and issue listing, each against a baseline from the same run.

    .venv/bin/python benchmarks/forge_roundtrip.py [--issues 500] [--list 5000] [--rounds 3]
                                                    [--seed-concurrency 16] [--seed-direct]

Setup, all in this process on 127.0.0.1: the devforge's app (``uni_wizard.devforge.create_app``, with
its webhook-delivery thread) and the daemon's app (``uni_wizard.web.app.create_app`` on a
``make_runtime`` runtime with a webhook secret; the store has its writer thread), each served by
uvicorn from its own thread with its own event loop, on an ephemeral port. The mesh (users, token,
organisation, repositories, hook) is bootstrapped through ``GiteaClient``; the benchmark talks to
the devforge through ``GiteaClient`` over real HTTP.

Both apps are served by ``uni_wizard.web.threaded.ThreadedServer`` (uvicorn in a thread, a socket with
``TCP_NODELAY``).

(a) Webhook latency, over ``--issues`` issues. For each issue the clock (``perf_counter``) is read
    before ``create_issue`` on a repository whose hook points at the daemon's ``/hooks/gitea``; the
    end is the moment the daemon's intake has verified the delivery, parsed it and committed it to
    the durable event queue. That moment is taken by a small wrapper around the intake's
    ``receive``: the daemon's ``WebhookIntake`` is replaced, while ``create_app`` builds the app, by
    a subclass whose ``receive`` reads the clock right after ``super().receive()`` returns (the
    commit has happened, the HTTP answer is not sent yet) and hands the stamp to the benchmark's
    loop with ``call_soon_threadsafe``, resolving that issue's future (an asyncio.Event per issue
    that also carries the stamp; the event may even come before the API's answer). This was
    preferred to polling the queue: polling adds up to one poll interval of error and its reads
    compete with the writes being measured; the stamp is exact and costs next to nothing. Package
    code is not modified: only the name ``WebhookIntake`` in ``uni_wizard.web.app`` is swapped for
    the duration of ``create_app``.
    The baseline, interleaved with it (alternating which goes first), is the bare API call:
    ``create_issue`` on a repository without a hook, until the answer is received. Between
    measurements the devforge's deliverer is drained, so no delivery overlaps the next one.
    The clock is ``perf_counter`` in both threads of one process, so the stamps compare directly.

(b) Listing ``--list`` issues with ``GiteaClient.list_issues(state="all")``: total time and the
    number of HTTP requests, counted by a counting wrapper around the client's transport, against
    the ideal ceil(M/50) (Gitea caps pages at 50). The baseline is the time of one page (one
    request: ``list_issues(..., limit=50)``, 50 issues decoded and validated) times the number of
    pages. ``--rounds`` rounds, each one full listing and ``PAGE_SAMPLES`` single pages (their order
    alternating); the figures are medians. The devforge reads every matching row for each page and
    slices (``filter_issues`` + ``Page.slice``), so its cost per page is the same for page 1 and
    page M/50, and one page is a fair unit.
    The M issues are seeded through the API (``--seed-concurrency`` creates in flight, a bounded
    semaphore), or with ``--seed-direct`` through the devforge's own data layer
    (``uni_wizard.devforge.issues.new_issue`` in one ``db.tx()``, what the POST handler calls).

Everything shares one process and the GIL with the servers on 2 cores: the baselines pay the same
tax, so read the ratios, not the absolute times. In (a) the hooked create also pays for building
the webhook payload and for the delivery thread and the daemon running while the devforge is still
answering. ``--seed-direct`` is not the default because seeding 5,000 issues through the API takes
about 25 s here (well under the 2 minutes that would justify it). Prints Markdown tables with the
command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from prometheus_client import CollectorRegistry

import uni_wizard.web.app as web_app
from uni_wizard.devforge import DevforgeServer, Forge
from uni_wizard.forge import MESH_EVENTS, GiteaClient
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.queue import IntakeResult, WebhookIntake
from uni_wizard.testing import RecordingTransport, make_runtime
from uni_wizard.threaded_server import ThreadedServer

ADMIN = ("root", "root-password-1")
ALICE = ("alice", "alice-password-1")
SECRET = "bench-webhook-secret"
SCOPES = ("write:repository", "write:issue", "read:user", "write:organization")
ORG = "mesh"
HOOKED, PLAIN, LISTING = "hooked", "plain", "listing"
PAGE = 50
WAIT = 30.0  # seconds: give up on a webhook after this long
WARMUP = 10
PAGE_SAMPLES = 10  # single-page requests per round (the baseline of (b) is their median)


# -- the daemon, with a stamp taken when an event is durably queued ---------------------------------------------------


class QueueProbe:
    """Stamps of durably queued ``issues``/``opened`` events by issue number, delivered to one asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.stamps: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future[float]] = {}

    def queued(self, result: IntakeResult, body: bytes, stamp: float) -> None:
        """Called in the daemon's thread right after the commit."""
        if result.outcome != "accepted" or result.event_type != "issues":
            return
        payload = json.loads(body)
        if payload.get("action") == "opened":
            self.loop.call_soon_threadsafe(self._arrive, int(payload["issue"]["number"]), stamp)

    def _arrive(self, number: int, stamp: float) -> None:
        self.stamps[number] = stamp
        waiter = self.waiters.pop(number, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(stamp)

    async def wait(self, number: int) -> float:
        """The stamp of issue ``number``'s event (it may have been queued before the API answered)."""
        if number in self.stamps:
            return self.stamps.pop(number)
        waiter = self.waiters[number] = self.loop.create_future()
        try:
            return await asyncio.wait_for(waiter, WAIT)
        except TimeoutError:
            raise RuntimeError(f"the webhook for issue {number} was not queued within {WAIT:g} s") from None
        finally:
            self.stamps.pop(number, None)


def timed_intake(probe: QueueProbe) -> type[WebhookIntake]:
    class TimedIntake(WebhookIntake):
        async def receive(self, headers: Mapping[str, str], body: bytes) -> IntakeResult:
            result = await super().receive(headers, body)
            probe.queued(result, body, time.perf_counter())
            return result

    return TimedIntake


def daemon_app(runtime: Runtime, secret: str, probe: QueueProbe) -> Any:
    """The daemon's app, its intake's ``receive`` wrapped to stamp every durably queued event."""
    with mock.patch.object(web_app, "WebhookIntake", timed_intake(probe)):
        return web_app.create_app(runtime, webhook_secret=secret)


# -- measuring --------------------------------------------------------------------------------------------------------


async def bootstrap(url: str, daemon_url: str, registry: CollectorRegistry) -> str:
    """Users, token, org, the three repositories and the hook; returns alice's token."""
    async with GiteaClient(url, username=ADMIN[0], password=ADMIN[1], registry=registry) as root:
        await root.create_user(ALICE[0], f"{ALICE[0]}@example.com", ALICE[1])
    async with GiteaClient(url, username=ALICE[0], password=ALICE[1], registry=registry) as basic:
        token = (await basic.create_token(ALICE[0], "bench", scopes=SCOPES)).sha1
    async with GiteaClient(url, token, registry=registry) as alice:
        await alice.create_org(ORG)
        for name in (HOOKED, PLAIN, LISTING):
            await alice.create_repo(name, org=ORG)
        await alice.create_hook(ORG, HOOKED, f"{daemon_url}/hooks/gitea", SECRET, events=MESH_EVENTS)
    return token


async def measure_webhook(alice: GiteaClient, forge: Forge, probe: QueueProbe, issues: int) -> dict[str, list[float]]:
    deliverer = forge.deliverer
    assert deliverer is not None
    out: dict[str, list[float]] = {"baseline": [], "api_hooked": [], "queued": [], "lag": []}

    async def hooked(keep: bool) -> None:
        started = time.perf_counter()
        issue = await alice.create_issue(ORG, HOOKED, "webhook latency")
        answered = time.perf_counter()
        queued = await probe.wait(issue.number)
        deliverer.wait_idle()  # the delivery's bookkeeping finishes before the next measurement
        if keep:
            out["api_hooked"].append(answered - started)
            out["queued"].append(queued - started)
            out["lag"].append(queued - answered)

    async def plain(keep: bool) -> None:
        started = time.perf_counter()
        await alice.create_issue(ORG, PLAIN, "bare API call")
        if keep:
            out["baseline"].append(time.perf_counter() - started)

    for i in range(WARMUP + issues):
        first, second = (hooked, plain) if i % 2 == 0 else (plain, hooked)
        await first(i >= WARMUP)
        await second(i >= WARMUP)
    return out


async def seed(alice: GiteaClient, forge: Forge, count: int, concurrency: int, direct: bool) -> float:
    """Create ``count`` issues in the listing repository; returns the seconds it took."""
    started = time.perf_counter()
    if direct:
        from uni_wizard.devforge.access import WRITE, load_repo
        from uni_wizard.devforge.auth import Caller
        from uni_wizard.devforge.issues import new_issue

        db = forge.db
        user = db.one("SELECT * FROM users WHERE lower_login = ?", (ALICE[0],))
        assert user is not None
        rc = load_repo(forge, Caller(user, None, "password"), ORG, LISTING, need=WRITE, area="issue")
        with db.tx():
            for i in range(count):
                new_issue(rc, user, f"seeded issue {i}", "seeded through the devforge's data layer")
    else:
        limit = asyncio.Semaphore(max(1, concurrency))

        async def one(i: int) -> None:
            async with limit:
                await alice.create_issue(ORG, LISTING, f"seeded issue {i}", "seeded through the API")

        await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


async def measure_listing(
    lister: GiteaClient, counter: RecordingTransport, count: int, rounds: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"full": [], "requests": [], "page": [], "page_requests": []}

    async def full() -> None:
        before, started = len(counter.exchanges), time.perf_counter()
        items = await lister.list_issues(ORG, LISTING, state="all")
        out["full"].append(time.perf_counter() - started)
        out["requests"].append(len(counter.exchanges) - before)
        distinct = len({issue.number for issue in items})
        if len(items) != count or distinct != count:
            raise RuntimeError(f"listed {len(items)} issues ({distinct} distinct), expected {count}")

    async def pages() -> None:
        for _ in range(PAGE_SAMPLES):
            before, started = len(counter.exchanges), time.perf_counter()
            await lister.list_issues(ORG, LISTING, state="all", limit=PAGE)
            out["page"].append(time.perf_counter() - started)
            out["page_requests"].append(len(counter.exchanges) - before)

    await lister.list_issues(ORG, LISTING, state="all", limit=PAGE)  # warm the connection
    for r in range(rounds):
        for step in (full, pages) if r % 2 == 0 else (pages, full):
            await step()
    return out


@dataclass
class Results:
    webhook: dict[str, list[float]]  # seconds: baseline, api_hooked, queued, lag
    listing: dict[str, list[float]]  # seconds (full, page) and request counts (requests, page_requests)
    seed_seconds: float
    queued: int  # events in the daemon's queue at the end


async def measure(args: argparse.Namespace) -> Results:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("UNIWIZARD_")}
    registry = CollectorRegistry()
    with tempfile.TemporaryDirectory(prefix="uw-forge-bench-") as tmp:
        root = Path(tmp)
        probe = QueueProbe(asyncio.get_running_loop())
        runtime = make_runtime(root / "daemon")
        forge_server = DevforgeServer(root / "devforge", ADMIN).start()
        forge: Forge = forge_server.forge
        daemon = ThreadedServer(daemon_app(runtime, SECRET, probe), name="daemon").start()
        counter = RecordingTransport()  # the network transport, counting the requests sent through it
        try:
            token = await bootstrap(forge_server.url, daemon.url, registry)
            async with (
                GiteaClient(forge_server.url, token, registry=registry, timeout=60) as alice,
                GiteaClient(forge_server.url, token, registry=registry, timeout=60, transport=counter) as lister,
            ):
                webhook = await measure_webhook(alice, forge, probe, args.issues)
                seeded = await seed(alice, forge, args.list, args.seed_concurrency, args.seed_direct)
                listing = await measure_listing(lister, counter, args.list, args.rounds)
            queued = int(runtime.store.query("SELECT count(*) FROM event_queue")[0][0])
        finally:
            daemon.stop()
            forge_server.stop()
            runtime.close()
            os.environ.update(saved)
    return Results(webhook, listing, seeded, queued)


# -- reporting --------------------------------------------------------------------------------------------------------


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def command(args: argparse.Namespace) -> str:
    parts = [
        ".venv/bin/python benchmarks/forge_roundtrip.py",
        f"--issues {args.issues}",
        f"--list {args.list}",
        f"--rounds {args.rounds}",
        f"--seed-concurrency {args.seed_concurrency}",
    ]
    if args.seed_direct:
        parts.append("--seed-direct")
    return " ".join(parts)


def report(results: Results, args: argparse.Namespace) -> str:
    web, lst = results.webhook, results.listing
    ms = 1000.0
    base50, base95 = p50(web["baseline"]) * ms, p95(web["baseline"]) * ms
    hook50, hook95 = p50(web["api_hooked"]) * ms, p95(web["api_hooked"]) * ms
    q50, q95 = p50(web["queued"]) * ms, p95(web["queued"]) * ms
    lag50, lag95 = p50(web["lag"]) * ms, p95(web["lag"]) * ms

    pages = max(1, math.ceil(args.list / PAGE))
    page = p50(lst["page"])
    full = p50(lst["full"])
    ideal_total = page * pages
    requests = int(statistics.median(lst["requests"]))
    seed_seconds = results.seed_seconds
    how = (
        "through the devforge's data layer (--seed-direct: issues.new_issue in one transaction)"
        if args.seed_direct
        else f"through the API, {args.seed_concurrency} creates in flight"
    )
    lines = [
        f"command: `{command(args)}`",
        "",
        f"(a) webhook latency over {args.issues} issues (after {WARMUP} warm-up rounds), interleaved with the "
        "baseline; times from the start of the create call",
        "",
        "| measurement | p50 ms | p95 ms | p50 ratio | p95 ratio |",
        "|---|---:|---:|---:|---:|",
        f"| create issue API call, repository without a hook (baseline) | {base50:.2f} | {base95:.2f} | 1.00 | 1.00 |",
        f"| create issue API call, repository with the hook | {hook50:.2f} | {hook95:.2f} | "
        f"{hook50 / base50:.2f} | {hook95 / base95:.2f} |",
        f"| create issue → webhook received, parsed, durably queued | {q50:.2f} | {q95:.2f} | "
        f"{q50 / base50:.2f} | {q95 / base95:.2f} |",
        f"| of which: API answer → queued (per issue) | {lag50:.2f} | {lag95:.2f} | | |",
        "",
        f"webhook adds {q50 - base50:.2f} ms at p50 ({q95 - base95:.2f} ms at p95) to the bare API call: "
        f"ratio {q50 / base50:.2f} (p95 {q95 / base95:.2f}); the daemon queued "
        f"{results.queued} events, one per created issue in the hooked repository.",
        "",
        f'(b) listing {args.list} issues with `list_issues(state="all")`, medians of {args.rounds} rounds '
        f"(each: 1 full listing, {PAGE_SAMPLES} single pages); "
        f"seeded {how} in {seed_seconds:.1f} s ({args.list / seed_seconds:,.0f} issues/s)",
        "",
        "| measurement | time ms | HTTP requests | time ratio | requests ratio |",
        "|---|---:|---:|---:|---:|",
        f"| one page of {PAGE} through the client (`limit={PAGE}`) | {page * ms:.1f} | "
        f"{int(statistics.median(lst['page_requests']))} | | |",
        f"| baseline: one page x ceil({args.list}/{PAGE}) = {pages} pages | {ideal_total * ms:.1f} | {pages} (ideal) | "
        "1.00 | 1.00 |",
        f'| list_issues(state="all"), every page followed | {full * ms:.1f} | {requests} | '
        f"{full / ideal_total:.2f} | {requests / pages:.2f} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--issues", type=int, default=500, help="issues for the webhook latency (a)")
    parser.add_argument("--list", type=int, default=5000, help="issues to seed and list (b)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the listing measurement")
    parser.add_argument("--seed-concurrency", type=int, default=16, help="API creates in flight while seeding")
    parser.add_argument(
        "--seed-direct", action="store_true", help="seed through the devforge's data layer instead of the API"
    )
    args = parser.parse_args(argv)
    if args.issues < 1 or args.list < 1 or args.rounds < 1:
        parser.error("--issues, --list and --rounds must be at least 1")
    text = report(asyncio.run(measure(args)), args)
    print(text)
    return text


if __name__ == "__main__":
    main()
