"""``review once`` (one review pass and one merge pass, optionally dry)."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from .common import console, options

review_app = typer.Typer(help="Timmy's reviewer and merge gate.", no_args_is_help=True)


@review_app.command("once")
def once(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the verdicts and merges planned; write nothing."),
) -> None:
    """Review every PR waiting in status/review, then merge what nothing blocks; prints each verdict and merge."""
    from ..review.wiring import build_reviewer, review_pass

    opts = options(ctx)
    reviewer = build_reviewer(opts.settings(), opts.runtime(), dry_run=dry_run)

    async def run() -> tuple[list[tuple[str, str, str, str, str]], list[tuple[str, str, str, str, str]]]:
        try:
            reviews, merges = await review_pass(reviewer)
        finally:
            await reviewer.forge.aclose()
        rows = [
            (r.repository, f"#{r.number}", r.head[:10], r.verdict, "; ".join(r.reasons or r.notes)) for r in reviews
        ]
        done = [(m.repository, f"#{m.number}", m.head[:10], m.outcome, "; ".join(m.reasons)) for m in merges]
        return rows, done

    reviews, merges = asyncio.run(run())
    verdicts = Table("repository", "pr", "head", "verdict", "why", title="reviews" + (" (dry run)" if dry_run else ""))
    for row in reviews:
        verdicts.add_row(*row)
    console.print(verdicts)
    merged = Table("repository", "pr", "head", "outcome", "why", title="merges" + (" (dry run)" if dry_run else ""))
    for row in merges:
        merged.add_row(*row)
    console.print(merged)


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
