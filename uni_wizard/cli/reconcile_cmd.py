"""``reconcile once [--dry-run]``: one pass of this host's reconciler (resume, or apply the next upgrade)."""

from __future__ import annotations

import asyncio

import typer

from .common import EXIT_FAILED, Exit, console, options

reconcile_app = typer.Typer(help="Apply approved upgrades of the mesh repository to this host.", no_args_is_help=True)


@reconcile_app.command("once")
def once(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be applied; change and post nothing."),
) -> None:
    """Resume an apply cut short, or apply the next approved upgrade; prints the outcome (exit 4 if failed)."""
    from ..reconcile.wiring import build_reconciler

    opts = options(ctx)

    async def run() -> tuple[str, str, int, str, float]:
        reconciler = await build_reconciler(opts.settings(), opts.runtime(), dry_run=dry_run)
        try:
            done = await reconciler.reconcile_once()
        finally:
            await reconciler.forge.aclose()
        return done.outcome, done.sha, done.number, done.reason, done.seconds

    outcome, sha, number, reason, seconds = asyncio.run(run())
    where = f" #{number} {sha[:12]}" if sha else ""
    took = f" ({seconds:.1f} s)" if seconds else ""
    console.print(f"{outcome}{where}{took}: {reason}", markup=False, highlight=False)
    if outcome == "failed":
        raise Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.add_typer(reconcile_app, name="reconcile")
