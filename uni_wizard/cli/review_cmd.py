"""``review once`` (one review pass and one merge pass, optionally dry) and ``queue`` (the merge queue now)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import typer

from .common import Col, console, fit_table, options, print_json

review_app = typer.Typer(help="Timmy's reviewer and merge gate.", no_args_is_help=True)


@review_app.command("once")
def once(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the verdicts and merges planned; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts and merges as JSON."),
) -> None:
    """Review every PR waiting in status/review, then merge what nothing blocks; prints each verdict and merge."""
    # here, not at the top: `--help` stays quick
    from ..assembly.configs import Configs
    from ..assembly.reviewer import build_reviewer
    from ..assembly.upgrades import upgrade_extension
    from ..review.loop import review_pass

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()
    configs = Configs(settings)
    extend = upgrade_extension(settings, runtime, configs=configs)

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with contextlib.AsyncExitStack() as closing:
            reviewer = build_reviewer(
                settings, runtime, configs=configs, closing=closing, dry_run=dry_run, extend=extend
            )
            reviews, merges = await review_pass(reviewer)
        verdicts = [
            {"repository": r.repository, "number": r.number, "head": r.head, "verdict": r.verdict,
             "why": list(r.reasons or r.notes)}
            for r in reviews
        ]  # fmt: skip
        merged = [
            {
                "repository": m.repository,
                "number": m.number,
                "head": m.head,
                "outcome": m.outcome,
                "why": list(m.reasons),
            }
            for m in merges
        ]
        return verdicts, merged

    verdicts, merged = asyncio.run(run())
    if as_json:
        print_json({"dry_run": dry_run, "reviews": verdicts, "merges": merged})
        return
    dry = " (dry run)" if dry_run else ""
    console.print(fit_table(_columns("verdict"), _rows(verdicts, "verdict"), title="reviews" + dry))
    console.print(fit_table(_columns("outcome"), _rows(merged, "outcome"), title="merges" + dry))


def _rows(items: list[dict[str, Any]], outcome: str) -> list[tuple[str, ...]]:
    return [(i["repository"], f"#{i['number']}", i["head"][:10], i[outcome], "; ".join(i["why"])) for i in items]


def _columns(outcome: str) -> tuple[Col, ...]:
    return (
        Col("repository", width=10, wrap=True, drop=2),
        Col("pr"),
        Col("head", drop=1),
        Col(outcome),
        Col("why", width=20, wrap=True),
    )


QUEUE_HELP = "The merge queue: approved PRs with green proof in the order they land, per target branch."


def queue(
    ctx: typer.Context,
    everything: bool = typer.Option(False, "--all", help="Also list the PRs waiting for review and what blocks them."),
    as_json: bool = typer.Option(False, "--json", help="Print the queue as JSON."),
) -> None:
    """The merge queue, read from the forge as the next merge pass reads it: queued PRs in order, held ones
    (`/hold`), and with --all the others waiting for review with what blocks them."""
    from ..assembly.configs import Configs
    from ..assembly.reviewer import build_reviewer
    from ..review.queue_view import QueueLine, read_queue

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()

    async def run() -> list[QueueLine]:
        async with contextlib.AsyncExitStack() as closing:
            reviewer = build_reviewer(settings, runtime, configs=Configs(settings), closing=closing, dry_run=True)
            return await read_queue(reviewer, everything=everything)

    lines = asyncio.run(run())
    if as_json:
        print_json({"queue": [line.as_json() for line in lines]})
        return
    rows = [
        (line.repository, line.base_ref, str(line.position or "-"), f"#{line.number}", line.head[:10], line.state,
         line.title if line.state == "queued" else "; ".join(line.reasons))
        for line in lines
    ]  # fmt: skip
    columns = (
        Col("repository", width=10, wrap=True, drop=2),
        Col("branch", drop=3),
        Col("#"),
        Col("pr"),
        Col("head", drop=1),
        Col("state"),
        Col("title / why", width=20, wrap=True),
    )
    console.print(fit_table(columns, rows, title="merge queue" if lines else "merge queue: empty"))


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
    app.command("queue", help=QUEUE_HELP)(queue)
