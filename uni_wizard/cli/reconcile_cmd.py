"""``reconcile once [--dry-run]``: one pass of this host's reconciler (resume, or apply the next upgrade)."""

from __future__ import annotations

import asyncio

import typer

from .common import EXIT_FAILED, Exit, console, options, print_json

reconcile_app = typer.Typer(help="Apply approved upgrades of the mesh repository to this host.", no_args_is_help=True)


@reconcile_app.command("once")
def once(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be applied; change and post nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Resume an apply cut short, or apply the next approved upgrade; prints the outcome (exit 4 if failed)."""
    from ..assembly.reconciler import reconcile_once  # here, not at the top: `--help` stays quick

    opts = options(ctx)
    done = asyncio.run(reconcile_once(opts.settings(), opts.runtime(), dry_run=dry_run))
    outcome, sha, number, reason, seconds = done.outcome, done.sha, done.number, done.reason, done.seconds

    if as_json:
        print_json(
            {"dry_run": dry_run, "outcome": outcome, "number": number, "sha": sha, "reason": reason, "seconds": seconds}
        )
    else:
        where = f" #{number} {sha[:12]}" if sha else ""
        took = f" ({seconds:.1f} s)" if seconds else ""
        console.print(f"{outcome}{where}{took}: {reason}", markup=False, highlight=False)
    if outcome == "failed":
        raise Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.add_typer(reconcile_app, name="reconcile")
