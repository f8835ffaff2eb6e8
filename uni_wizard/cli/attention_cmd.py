"""``briefing [--dry-run] [--json]``: today's daily briefing, written now (or shown); ``escalations [--pin
CATEGORY=ROUTE] [--unpin CATEGORY] [--json]``: each category's threshold and why, and the owner's pins."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import typer

from ..errors import ConfigError
from .common import Col, console, fit_table, options, print_json


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)


def briefing_command(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show today's briefing; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the briefing's day, figures and issue as JSON."),
) -> None:
    """Write today's daily briefing issue now (once: an existing one is shown), or show it (--dry-run)."""
    from ..assembly.attention import briefing  # here, not at the top: `--help` stays quick
    from ..assembly.configs import Configs
    from ..cascade.cascade import Cascade

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()
    configs = Configs(settings)

    async def run() -> dict[str, Any]:
        async with contextlib.AsyncExitStack() as closing:
            model = None
            if settings.briefing_model:
                model = Cascade.from_config(configs.cascade, registry=runtime.metrics.registry)
                closing.push_async_callback(model.aclose)
            daily = briefing(
                settings, runtime, configs, repos=configs.triage.dispatcher.repos, model=model, closing=closing
            )
            if daily is None:
                raise ConfigError("the briefing needs a forge: set gitea_url and gitea_token", key="gitea_url")
            day = datetime.now(UTC).astimezone(daily.tz).date()
            if dry_run:
                facts, body = await daily.compose(day)
                return {"day": day.isoformat(), "dry_run": True, "figures": facts.figures(), "body": body}
            written = await daily.write(day)
            return {
                "day": day.isoformat(),
                "dry_run": False,
                "issue": written.issue,
                "url": written.url,
                "created": written.created,
                "figures": written.figures,
            }

    done = asyncio.run(run())
    if as_json:
        print_json(done)
        return
    if dry_run:
        _say(done["body"])
        return
    verb = "written" if done["created"] else "already written"
    _say(f"briefing {done['day']} {verb}: #{done['issue']} {done['url']}")
    _say(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in done["figures"].items()))


def escalations_command(
    ctx: typer.Context,
    pin: list[str] = typer.Option([], "--pin", help="CATEGORY=immediate or CATEGORY=digest (repeatable)."),
    unpin: list[str] = typer.Option([], "--unpin", help="A category the threshold decides again (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the thresholds and recent escalations as JSON."),
) -> None:
    """Each escalation category's threshold and why (what the owner acted on); pin or unpin a category."""
    from ..assembly.attention import calibration
    from ..attention.calibration import Thresholds

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()
    cal = calibration(settings)
    thresholds = Thresholds(runtime.store, cal)
    for item in pin:
        category, _, route = item.partition("=")
        if not category or route not in ("immediate", "digest"):
            raise ConfigError(f"--pin takes CATEGORY=immediate or CATEGORY=digest, not {item!r}")
        thresholds.pin(category, "immediate" if route == "immediate" else "digest")
    for category in unpin:
        thresholds.pin(category, None)
    states: list[dict[str, Any]] = [state.as_dict(cal) for state in thresholds.all()]
    recent = runtime.store.query(
        "SELECT category, kind, route, why, outcome FROM attention_escalations ORDER BY id DESC LIMIT 10"
    )
    data: dict[str, Any] = {
        "bounds": [cal.low, cal.high],
        "urgent": sorted(cal.urgent),
        "window_hours": cal.window_seconds / 3600,
        "engage_hours": cal.engage_seconds / 3600,
        "categories": states,
        "recent": [dict(row) for row in recent],
    }
    if as_json:
        print_json(data)
        return
    _say(
        f"thresholds within [{cal.low:.2f}, {cal.high:.2f}]; urgent (always at once): {', '.join(data['urgent'])}; "
        f"digest every {data['window_hours']:g} h; ignored after {data['engage_hours']:g} h"
    )
    if not states:
        _say("no category has a threshold yet: every escalation starts at the starting threshold")
        return
    columns = (
        Col("category"),
        Col("threshold"),
        Col("acted"),
        Col("ignored"),
        Col("pinned"),
        Col("why", wrap=True),
    )
    rows = [
        (s["category"], f"{s['threshold']:.2f}", str(s["acted"]), str(s["ignored"]), s["pinned"] or "", s["why"])
        for s in states
    ]
    console.print(fit_table(columns, rows))


def register(app: typer.Typer) -> None:
    app.command("briefing")(briefing_command)
    app.command("escalations")(escalations_command)
