"""``events tail``: the event log, oldest first, and with ``--follow`` each new event as it is committed."""

from __future__ import annotations

import asyncio
import json

import typer

from ..errors import EventRejected
from ..observe.events import Event, EventLog, check_kind
from .common import Col, console, fit_table, options, print_json

events_app = typer.Typer(help="The event log: what the mesh did, in order, with a cursor.", no_args_is_help=True)


def _kinds(values: list[str] | None) -> list[str]:
    try:
        return [check_kind(v) for v in values or []]
    except EventRejected as exc:
        raise typer.BadParameter(str(exc), param_hint="--kind") from None


def _issue(event: Event) -> str:
    if event.repository is None:
        return ""
    return event.repository if event.number is None else f"{event.repository}#{event.number}"


def _data(event: Event, width: int | None = None) -> str:
    text = json.dumps(event.data, ensure_ascii=False, separators=(",", ":")) if event.data else ""
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def _line(event: Event, as_json: bool) -> str:
    if as_json:
        return json.dumps(event.as_dict())
    parts = (str(event.seq), event.at, event.kind, event.host, _issue(event), event.key, _data(event))
    return "  ".join(p for p in parts if p)


def _print_line(event: Event, as_json: bool) -> None:
    console.print(_line(event, as_json), markup=False, highlight=False, soft_wrap=True)
    console.file.flush()


async def _follow(log: EventLog, since: int, kinds: list[str], as_json: bool) -> None:
    async for event in log.follow(since, kinds=kinds):
        _print_line(event, as_json)


def _follow_until_interrupted(log: EventLog, since: int | None, limit: int, kinds: list[str], as_json: bool) -> None:
    """Every event after ``since`` (or the latest ``limit``), then each new one, until Ctrl-C."""
    cursor = since
    if cursor is None:  # the latest --limit, then what comes after them
        cursor = log.last_seq()
        for event in log.recent(limit, kinds, until=cursor):
            _print_line(event, as_json)
    try:
        asyncio.run(_follow(log, cursor, kinds, as_json))
    except KeyboardInterrupt:  # Ctrl-C is how --follow ends: a normal exit, status 0
        return


EVENT_COLUMNS = (
    Col("seq"),
    Col("at", width=10, wrap=True, drop=2),
    Col("kind"),
    Col("host", width=8, wrap=True, drop=3),
    Col("issue", width=10, wrap=True),
    Col("key", width=12, wrap=True, drop=1),
    Col("data", width=20, wrap=True),
)


@events_app.command("tail")
def tail(
    ctx: typer.Context,
    since: int | None = typer.Option(
        None,
        "--since",
        min=0,
        help="Events after this seq (a cursor), oldest first; default: the latest --limit. "
        "With --follow: every event after it, then the new ones.",
    ),
    limit: int = typer.Option(20, "-n", "--limit", min=1, help="How many events."),
    kind: list[str] | None = typer.Option(None, "--kind", help="Only this kind, e.g. issue.routed (repeatable)."),
    follow: bool = typer.Option(
        False, "-f", "--follow", help="Then print each new event as it arrives, until Ctrl-C (one per line)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON (with --follow: one object per line)."),
) -> None:
    """The event log: the latest events, or those after --since; --follow keeps printing new ones."""
    kinds = _kinds(kind)
    runtime = options(ctx).runtime()
    log = EventLog(runtime.store, runtime.host)
    if follow:
        _follow_until_interrupted(log, since, limit, kinds, as_json)
        return
    events = log.recent(limit, kinds) if since is None else log.tail(since, limit, kinds)
    if as_json:
        print_json([e.as_dict() for e in events])
        return
    rows = [(str(e.seq), e.at, e.kind, e.host, _issue(e), e.key, _data(e, 200)) for e in events]
    console.print(fit_table(EVENT_COLUMNS, rows))


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
