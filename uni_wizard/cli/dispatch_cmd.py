"""``dispatch sweep`` (one pass, optionally dry) and ``dispatch run`` (the loop in the foreground)."""

from __future__ import annotations

import asyncio
import signal

import typer
from rich.table import Table

from .common import console, options

dispatch_app = typer.Typer(help="Allegro's lane: triage, routing and the sweep.", no_args_is_help=True)


@dispatch_app.command("sweep")
def sweep(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Every open issue, not only those updated since the last sweep."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be done; write nothing."),
    repo: list[str] = typer.Option([], "--repo", help="owner/name (repeat); default: dispatcher.repos."),
) -> None:
    """One sweep of every watched repository, under the lease; prints each action."""
    from ..dispatch.wiring import build_dispatch_loop

    opts = options(ctx)
    runtime = opts.runtime()
    loop = build_dispatch_loop(opts.settings(), runtime, dry_run=dry_run)

    async def once() -> list[tuple[str, int, str, str, bool]]:
        rows = []
        try:
            await loop.dispatcher.lease.acquire()
            for name in repo or loop.repos:
                if not dry_run:
                    await loop.ensure_labels(name)
                report = await loop.sweep(name, full=full)
                rows += [(name, n, a.kind, a.description, a.apply is not None) for n, a in report.actions]
                rows += [(name, n, "failed", why, False) for n, why in report.failed]
        finally:
            await loop.dispatcher.lease.release()  # a forge lease: the daemons' standbys need not wait for a lapse
            await loop.forge.aclose()
        return rows

    table = Table("repository", "issue", "action", "what", "writes" if not dry_run else "would write")
    for name, number, kind, what, writes in asyncio.run(once()):
        table.add_row(name, f"#{number}", kind, what, "yes" if writes else "-")
    console.print(table)


@dispatch_app.command("run")
def run(ctx: typer.Context) -> None:
    """The dispatcher loop in the foreground until Ctrl-C or SIGTERM (the daemon runs it with role dispatcher)."""
    from ..dispatch.wiring import build_dispatch_loop
    from ..mesh.failover import run_dispatcher

    opts = options(ctx)
    loop = build_dispatch_loop(opts.settings(), opts.runtime())

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        try:
            await run_dispatcher(loop, stop)  # a standby under the forge lease when mesh_config is set
        finally:
            await loop.forge.aclose()

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.add_typer(dispatch_app, name="dispatch")
