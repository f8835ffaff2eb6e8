"""Chapter 5, the mesh: Timmy files issues on a forge; Allegro's dispatcher triages and routes them, live.

Everything runs in the tour's temporary directory, on ephemeral loopback ports:

- a devforge (``DevforgeServer``), with a site admin of the demo's own;
- the mesh layout of ``configs/forge-layout.example.yaml`` (built here, in code, with its hooks pointing
  at this demo's daemon), created by ``bootstrap``: users and their tokens, the ``mesh`` organisation,
  ``mesh/mesh`` and ``mesh/work`` with labels, protection and hooks; secrets in ``mesh/secrets``;
- the daemon's app (``create_app`` on the tour's runtime, with the webhook secret bootstrap made),
  served by a ``ThreadedServer``: the forge delivers its webhooks there, into the durable queue;
- the dispatcher loop (``build_dispatch_loop``) as an asyncio task, turning every ``POLL_SECONDS``:
  each turn consumes the webhook queue, then sweeps.

Timmy files ``ISSUES``; a live table follows the dispatcher's ``issue.routed`` events (at most
``ROUTE_TIMEOUT`` seconds in all), showing each issue's labels and assignee as the forge has them.
Then the routing table of every decision (from ``routing_decisions``) and every audit comment.
Each issue's kind, priority, house and flags are checked against what ``ISSUES`` expects.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from rich.live import Live

from ..assembly.dispatcher import build_dispatch_loop
from ..devforge import DevforgeServer
from ..dispatch.audit import find_audit
from ..dispatch.config import load_triage_config
from ..dispatch.loop import DispatchLoop
from ..dispatch.routing import format_table
from ..dispatch.types import Candidate, RoutingDecision
from ..forge import GiteaClient
from ..forge.bootstrap import bootstrap
from ..observe.events import Event, EventKind, EventLog
from ..threaded_server import ThreadedServer
from ..web.app import create_app
from .board import Board, IssueRow
from .mesh_world import HOUSES, ISSUES, mesh_layout
from .tour import RoutedIssue, Tour

__all__ = ["chapter_mesh"]

ADMIN = ("demo-admin", "demo-admin-password")  # the devforge's site admin; it lives and dies with the demo
OWNER, NAME = "mesh", "work"
REPO = f"{OWNER}/{NAME}"
POLL_SECONDS = 0.2
READY_TIMEOUT = 15.0
ROUTE_TIMEOUT = 30.0


class _LateApp:
    """An ASGI app set after its server's socket is bound: the hooks need the port, the app the secret."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def chapter_mesh(tour: Tour) -> None:
    tour.console.rule("5. The mesh: Allegro triages and routes")
    asyncio.run(_mesh(tour))


def _secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


async def _mesh(tour: Tour) -> None:
    root = tour.root / "mesh"
    secrets_dir = root / "secrets"
    async with AsyncExitStack() as stack:
        forge_dir = root / "devforge"
        forge = await asyncio.to_thread(DevforgeServer(forge_dir, ADMIN).start)
        stack.callback(forge.stop)
        late = _LateApp()
        daemon = ThreadedServer(late, name="demo-daemon")  # bound now; serves once started
        stack.callback(daemon.stop)
        report = await bootstrap(
            mesh_layout(f"{daemon.url}/hooks/gitea"), url=forge.url, admin=ADMIN, secrets_dir=secrets_dir
        )
        created = Counter(what.split()[0] for what, outcome in report.steps if outcome == "created")
        tour.check(True, f"devforge at {forge.url} (data in {forge_dir})")
        tour.check(
            created["user"] == len(HOUSES) and created["hook"] == 2,
            "bootstrapped the mesh layout: "
            + ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for what, n in created.items()),
            "the mesh layout was not bootstrapped as expected",
        )
        late.app = app = create_app(tour.runtime, webhook_secret=_secret(secrets_dir / "webhook.secret"))
        await asyncio.to_thread(daemon.start)
        stack.callback(_drain_deliveries, forge)  # before the daemon stops: no delivery left hanging
        tour.check(True, f"daemon at {daemon.url}: both repositories deliver their webhooks to /hooks/gitea")

        allegro = GiteaClient(forge.url, _secret(secrets_dir / "allegro.token"), registry=tour.runtime.metrics.registry)
        stack.push_async_callback(allegro.aclose)
        timmy = GiteaClient(forge.url, _secret(secrets_dir / "timmy.token"), registry=CollectorRegistry())
        stack.push_async_callback(timmy.aclose)
        config = load_triage_config(tour.runtime.settings.triage_config)
        config = config.model_copy(
            update={"dispatcher": config.dispatcher.model_copy(update={"poll_seconds": POLL_SECONDS})}
        )
        loop = build_dispatch_loop(
            tour.runtime.settings, tour.runtime, forge=allegro, intake=app.state.intake, config=config
        )
        events = loop.dispatcher.events
        cursor = events.last_seq()
        stop = asyncio.Event()
        task = asyncio.create_task(loop.run(stop), name="dispatcher")
        stack.push_async_callback(_stop_dispatcher, task, stop)
        if not await _dispatcher_ready(tour, loop, cursor, task):
            return
        board = Board([IssueRow(spec) for spec in ISSUES], REPO, width=min(100, tour.console.width))
        await _file_and_watch(tour, board, loop, timmy, task)
        _check_routing(tour, board)
        _show_decisions(tour, board, loop)


async def _until(work: Awaitable[object], dispatcher: asyncio.Task[None], timeout: float) -> str | None:
    """Run ``work`` for at most ``timeout`` seconds while the dispatcher runs; None when it finished,
    otherwise why not (the dispatcher stopped, or the time ran out)."""

    async def run() -> None:
        await work

    job = asyncio.create_task(run())  # a task, cancelled as a whole (a cancelled gather raises, instead)
    try:
        await asyncio.wait({job, dispatcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not job.done():
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
    if not job.cancelled():
        job.result()  # an error of the work itself (a forge error filing an issue) is raised here
        return None
    if dispatcher.done():
        crash = None if dispatcher.cancelled() else dispatcher.exception()
        return f"the dispatcher stopped unexpectedly ({crash!r})"
    return f"not within {timeout:g} s"


async def _dispatcher_ready(tour: Tour, loop: DispatchLoop, cursor: int, dispatcher: asyncio.Task[None]) -> bool:
    """Wait for the dispatcher's first sweep of every repository (labels ensured, lease held)."""

    async def first_sweeps() -> None:
        swept: set[str] = set()
        async with _follow(loop.dispatcher.events, cursor, EventKind.SWEEP_FINISHED) as stream:
            async for event in stream:
                swept.add(event.repository or "")
                if swept >= set(loop.repos):
                    return

    why = await _until(first_sweeps(), dispatcher, READY_TIMEOUT)
    if why is not None:
        return tour.check(False, f"the dispatcher did not finish its first sweep: {why}")
    lease = loop.dispatcher.lease
    return tour.check(
        True,
        f"dispatcher running as @{loop.dispatcher.login} (lease epoch {lease.epoch}, a turn every "
        f"{POLL_SECONDS:g} s): labels ensured and first sweep done on {', '.join(loop.repos)}",
    )


@asynccontextmanager
async def _follow(events: EventLog, since: int, kind: str) -> AsyncIterator[AsyncIterator[Event]]:
    """The events of ``kind`` after ``since``, then each new one; closed when the ``async with`` ends."""
    stream = events.follow(since, poll=0.1, kinds=[kind])
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)  # an async generator: stop following now, not at collection
        if close is not None:
            await close()


async def _file_and_watch(
    tour: Tour, board: Board, loop: DispatchLoop, timmy: GiteaClient, dispatcher: asyncio.Task[None]
) -> None:
    """Timmy files every issue while a live table follows the dispatcher's ``issue.routed`` events."""
    events = loop.dispatcher.events
    cursor = events.last_seq()

    async def settle(row: IssueRow, event: Event) -> None:
        row.routed = event
        number = event.number or 0
        row.issue = await timmy.get_issue(OWNER, NAME, number)
        audit = find_audit(await timmy.list_comments(OWNER, NAME, number), "triage", number, loop.dispatcher.login)
        row.audit = audit.body if audit else None
        dupes = re.search(r"possible duplicates: ([^\n]*)", row.audit or "")
        row.duplicates = tuple(int(n) for n in re.findall(r"#(\d+)", dupes.group(1))) if dupes else ()

    async def file_all(live: Live) -> None:
        for row in board.rows:
            row.filed_at = time.time()
            issue = await timmy.create_issue(OWNER, NAME, row.spec.title, row.spec.body)
            row.number = issue.number
            if (early := board.early.pop(issue.number, None)) is not None:
                await settle(row, early)
            live.update(board.table())

    async def watch(live: Live) -> None:
        async with _follow(events, cursor, EventKind.ISSUE_ROUTED) as stream:
            async for event in stream:
                if event.repository != REPO:
                    continue
                row = board.row(event.number)
                if row is None:
                    board.early[event.number or 0] = event
                    continue
                await settle(row, event)
                live.update(board.table())
                if board.done:
                    return

    started = time.perf_counter()
    with Live(board.table(), console=tour.console, refresh_per_second=10) as live:
        why = await _until(asyncio.gather(file_all(live), watch(live)), dispatcher, ROUTE_TIMEOUT)
        live.update(board.table())
    if not tour.console.is_terminal:
        tour.console.print()  # the last frame of a Live that is not on a terminal ends without a newline
    if why is not None:
        missing = ", ".join(f"#{r.number}" if r.number else repr(r.spec.title) for r in board.rows if not r.issue)
        tour.failures.append(
            f"the dispatcher did not route every issue: {why} (not routed: {missing}); "
            "`uni-wizard demo --keep` keeps the data dir and its event log"
        )
    decided = [r for r in board.rows if r.issue]
    held = sum(1 for r in decided if r.routed is not None and r.routed.data.get("house") is None)
    webhooks = events.tail(cursor, 1000, [EventKind.WEBHOOK_RECEIVED])
    tour.console.print(
        f"  {len(decided)} of {len(board.rows)} issues triaged in {time.perf_counter() - started:.1f} s "
        f"({len(decided) - held} routed, {held} held); the dispatcher consumed {len(webhooks)} webhooks meanwhile",
        highlight=False,
    )


def _check_routing(tour: Tour, board: Board) -> None:
    """Each routed issue against what ``ISSUES`` expects; each goes to ``tour.routed``."""
    for row in board.rows:
        if row.routed is None or row.issue is None or row.number is None:
            continue
        spec, data = row.spec, row.routed.data
        kind, priority, house = str(data.get("kind")), str(data.get("priority")), data.get("house")
        assignees = [u.login for u in row.issue.assignees]
        labels = {label.name for label in row.issue.labels}
        dupe_of = board.rows[spec.duplicate_of].number if spec.duplicate_of is not None else None
        got = (kind, priority, house, "needs-info" in labels, row.duplicates)
        want = (spec.kind, spec.priority, spec.house, spec.needs_info, (dupe_of,) if dupe_of else ())
        on_forge = (
            assignees == [spec.house] and {"status/routed", f"house/{spec.house}"} <= labels
            if spec.house
            else not assignees and "status/triage" in labels
        )
        where = (
            f"→ {house} (@{', @'.join(assignees)})" if house else "→ nobody: held in status/triage (no house eligible)"
        )
        flags = ", ".join(row.flags)
        tour.check(
            got == want and on_forge,
            f"#{row.number} {kind} {priority} {where}" + (f" [{flags}]" if flags else "") + f" in {row.ms:.0f} ms",
            f"#{row.number} {spec.title!r}: expected kind, priority, house, needs-info, duplicates {want}, "
            f"got {got} with assignees {assignees} and labels {sorted(labels)}",
        )
        tour.routed.append(RoutedIssue(REPO, row.number, spec.title, kind, priority, house, row.ms, row.flags))


def _decision(row: dict[str, Any]) -> RoutingDecision:
    candidates = tuple(Candidate(**c) for c in row["candidates"])
    return RoutingDecision(row["chosen"], candidates, row["runner_up"], row["reason"])


def _show_decisions(tour: Tour, board: Board, loop: DispatchLoop) -> None:
    """The routing table of every decision (``routing_decisions``), then every audit comment as posted."""
    console = tour.console
    routed = [r for r in board.rows if r.routed is not None and r.number is not None]
    console.print("\n  [bold]Routing tables[/] (each decision as recorded in routing_decisions)")
    for row in routed:
        assert row.number is not None
        rows = loop.dispatcher.ledger.decisions(REPO, row.number)
        if not rows:
            tour.check(False, f"#{row.number}: no routing decision recorded")
            continue
        table = format_table(_decision(rows[-1]))
        console.print(f"\n  #{row.number} {row.spec.title}", style="bold", highlight=False, markup=False)
        console.print(_indent(table), soft_wrap=True, highlight=False, markup=False)
        if row.audit is None or table not in row.audit:
            tour.check(False, f"#{row.number}: the audit comment does not show this table")
    console.print("\n  [bold]Audit comments[/] (as @allegro posted them on the forge)")
    for row in routed:
        console.print(f"\n  ── {REPO}#{row.number} ──", style="bold", highlight=False, markup=False)
        console.print(_indent(row.audit or "(missing)"), soft_wrap=True, highlight=False, markup=False)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}".rstrip() for line in text.splitlines())


async def _stop_dispatcher(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Let the dispatcher finish its turn; cancel it if it has not within a few seconds."""
    stop.set()
    await asyncio.wait({task}, timeout=5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _drain_deliveries(forge: DevforgeServer) -> None:
    deliverer = forge.forge.deliverer
    if deliverer is not None:
        deliverer.wait_idle(timeout=5)
