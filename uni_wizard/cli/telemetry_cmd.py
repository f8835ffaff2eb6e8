"""``telemetry --status``: this host's telemetry pipeline, from the event log to what the peers read of it.

One read-only look (``assembly/mesh.py``'s ``looked_at``, as ``mesh status`` takes it), then one line per stage:
the event log's head, the spool's cursor, buffered events and lag, Syncthing's folder, each peer's heartbeat and
telemetry cursor, the Hermes ingest position (none yet). Syncthing away is a line of the report (exit 0); a host
with no store yet is an error (exit 4), since nothing was ever logged there.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

from .common import Col, console, fit_table, options, print_json

if TYPE_CHECKING:
    from ..assembly.telemetry import SpoolStatus, SyncthingStatus, TelemetryStatus

__all__ = ["register", "status_lines"]

PEER_COLUMNS = (
    Col("peer", width=8, wrap=True),
    Col("heartbeat", width=10, wrap=True),
    Col("its cursor", drop=2),
    Col("read here", drop=1),
    Col("gaps", drop=3),
)


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s ago"


def _spool_lines(spool: SpoolStatus) -> list[str]:
    if not spool.configured:
        return ["spool: not configured (no syncthing section in the mesh file): the events stay in the store"]
    where = "writable" if spool.available else f"unavailable ({spool.problem})"
    return [
        f"spool: {spool.folder}, {where}; last heartbeat written {_age(spool.heartbeat_age_seconds)}",
        f"cursor: exported to seq {spool.exported_seq}, {spool.buffered} buffered, lag {spool.lag_seconds:.1f} s",
    ]


def _syncthing_line(st: SyncthingStatus) -> str:
    if not st.configured:
        return "syncthing: not configured (heartbeats over HTTP)"
    if not st.reachable:
        return f"syncthing: unreachable at {st.url}: {st.problem}"
    need = f", {st.need_files} file(s) to fetch" if st.need_files else ""
    problem = f" ({st.problem})" if st.problem else ""
    devices = f"{st.connected_devices} device(s) connected"
    return f"syncthing: folder {st.folder_id} {st.state or 'unknown'}{need}, {devices}{problem}"


def status_lines(status: TelemetryStatus) -> list[str]:
    """The summary above the peers' table, one line per stage (folded by the console, never cut)."""
    return [
        f"telemetry of {status.host}",
        f"event log: head seq {status.log.head_seq} ({status.log.store})",
        *_spool_lines(status.spool),
        _syncthing_line(status.syncthing),
        f"hermes ingest: {status.hermes.note}",
        "PRs opened by this host's workers, last 24 h (24 h before): "
        + (", ".join(f"{t.house} {t.last_day} ({t.day_before})" for t in status.throughput) or "none"),
    ]


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def show(status: TelemetryStatus) -> None:
    for line in status_lines(status):
        console.print(line, markup=False, highlight=False)
    rows = [
        (
            p.host,
            _age(p.heartbeat_age_seconds) + (f" via {p.heartbeat_source}" if p.heartbeat_source else ""),
            _number(p.telemetry_seq),
            _number(p.read_seq),
            _number(p.gaps),
        )
        for p in status.peers
    ]
    if rows:
        console.print(fit_table(PEER_COLUMNS, rows, title="peers"))
    else:
        console.print("peers: none (this host is the whole mesh)", markup=False, highlight=False)


def telemetry_command(
    ctx: typer.Context,
    status: bool = typer.Option(False, "--status", help="Show this host's telemetry pipeline (the only view so far)."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """This host's telemetry pipeline: event log head, spool cursor, lag and buffer, Syncthing, peers, Hermes."""
    # here, not at the top: `--help` stays quick
    from ..assembly.mesh import looked_at
    from ..assembly.telemetry import check_store, telemetry_status

    if not status:
        raise typer.BadParameter("say what to show: --status", param_hint="--status")
    opts = options(ctx)
    settings = opts.settings()
    check_store(settings.db_path)  # before the look, which would create an empty store
    runtime = opts.runtime()

    async def look() -> TelemetryStatus:
        async with looked_at(settings, runtime) as node:
            return telemetry_status(runtime, node)

    result = asyncio.run(look())
    if as_json:
        print_json(result.as_dict())
    else:
        show(result)


def register(app: typer.Typer) -> None:
    app.command("telemetry")(telemetry_command)
