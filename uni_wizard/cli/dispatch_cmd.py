"""``dispatch sweep`` (one pass, optionally dry), ``dispatch run`` (the loop in the foreground) and ``dispatch queue``
(the waiting line, read-only)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from .common import Col, console, fit_table, options, print_json

dispatch_app = typer.Typer(help="Allegro's lane: triage, routing and the sweep.", no_args_is_help=True)


@dispatch_app.command("sweep")
def sweep(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Every open issue, not only those updated since the last sweep."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be done; write nothing."),
    repo: list[str] = typer.Option([], "--repo", help="owner/name (repeat); default: dispatcher.repos."),
    as_json: bool = typer.Option(False, "--json", help="Print each action as JSON."),
) -> None:
    """One sweep of every watched repository, under the lease; prints each action."""
    from ..assembly.dispatcher import build_dispatch_loop  # here, not at the top: `--help` stays quick

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()

    async def once() -> list[tuple[str, int, str, str, bool]]:
        rows = []
        async with contextlib.AsyncExitStack() as closing:
            loop = build_dispatch_loop(settings, runtime, closing=closing, dry_run=dry_run)
            # a forge lease is released at the end: the daemons' standbys need not wait for it to lapse
            closing.push_async_callback(loop.dispatcher.lease.release)
            await loop.dispatcher.lease.acquire()
            for name in repo or loop.repos:
                if not dry_run:
                    await loop.ensure_labels(name)
                report = await loop.sweep(name, full=full)
                rows += [(name, n, a.kind, a.description, a.apply is not None) for n, a in report.actions]
                rows += [(name, n, "failed", why, False) for n, why in report.failed]
        return rows

    done = asyncio.run(once())
    if as_json:
        actions = [
            {"repository": name, "issue": number, "action": kind, "what": what, "writes": writes}
            for name, number, kind, what, writes in done
        ]
        print_json({"dry_run": dry_run, "full": full, "actions": actions})
        return
    columns = (
        Col("repository", width=10, wrap=True, drop=1),
        Col("issue"),
        Col("action"),
        Col("what", width=20, wrap=True),
        Col("writes" if not dry_run else "would write"),
    )
    rows = [(name, f"#{number}", kind, what, "yes" if writes else "-") for name, number, kind, what, writes in done]
    console.print(fit_table(columns, rows))


@dispatch_app.command("queue")
def queue(
    ctx: typer.Context,
    repo: list[str] = typer.Option([], "--repo", help="owner/name (repeat); default: dispatcher.repos."),
    as_json: bool = typer.Option(False, "--json", help="Print the line and the houses' room as JSON."),
) -> None:
    """The issues waiting for a house, in the order they will be routed (read-only: no lease, no write)."""
    # here, not at the top: `--help` stays quick
    from ..assembly.configs import Configs
    from ..assembly.shared import role_forge
    from ..dispatch.line_view import LineView, format_age, read_line

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()
    config = Configs(settings).triage

    async def look() -> LineView:
        async with contextlib.AsyncExitStack() as closing:
            forge = role_forge(settings, runtime, "dispatcher", settings.dispatcher_house, closing=closing)
            repos = tuple(repo) or config.dispatcher.repos
            return await read_line(forge, repos, runtime.houses, hold_label=config.dispatcher.hold_label)

    view = asyncio.run(look())
    if as_json:
        print_json(view.as_json())
        return
    room = ", ".join(f"{name} {view.load.get(name, 0)}/{cap}" for name, cap in sorted(view.capacity.items()))
    console.print(f"{len(view.waiting)} waiting; {view.free} free slot(s) ({room or 'no house takes issues'})")
    home = view.repos[0] if len(view.repos) == 1 else ""
    columns = (Col("#"), Col("issue"), Col("priority"), Col("age"), Col("title", width=12, wrap=True, drop=1))
    rows = [
        (str(place), w.ref(home), w.priority, format_age(w.age(view.now)), w.title)
        for place, w in enumerate(view.waiting, start=1)
    ]
    if rows:
        console.print(fit_table(columns, rows))


@dispatch_app.command("run")
def run(ctx: typer.Context) -> None:
    """The dispatcher loop in the foreground until Ctrl-C or SIGTERM (the daemon runs it with role dispatcher)."""
    # here, not at the top: `--help` stays quick
    from ..assembly.dispatcher import build_dispatch_loop
    from ..dispatch.failover import run_dispatcher

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        async with contextlib.AsyncExitStack() as closing:
            loop = build_dispatch_loop(settings, runtime, closing=closing)
            await run_dispatcher(loop, stop)  # a standby under the forge lease when mesh_config is set

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.add_typer(dispatch_app, name="dispatch")
