"""``mesh status``: every host of the mesh with its houses, roles, lease, heartbeat age, health and Syncthing state.

Without ``--daemon`` the command takes its own look, read-only: it probes every host's ``/health`` (this
one included), reads the heartbeats in the shared folder, asks Syncthing and reads the lease from the
forge. With ``--daemon URL`` it prints what that daemon's ``GET /api/v1/mesh`` answers.

``mesh prometheus-config``: the Prometheus scrape configuration of the mesh file's hosts (``mesh/prometheus_config``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import typer

from ..config import Settings
from ..errors import ConfigError, MeshError
from ..harness.runtime import Runtime
from .common import Col, console, fit_table, options, print_json

mesh_app = typer.Typer(help="The mesh: hosts, peers, the lease, Syncthing.", no_args_is_help=True)


HOST_COLUMNS = (
    Col("host", width=10, wrap=True),
    Col("houses", width=8, wrap=True, drop=3),
    Col("roles", width=10, wrap=True, drop=2),
    Col("lease", width=8, wrap=True),
    Col("heartbeat", width=10, wrap=True, drop=1),
    Col("health", width=8, wrap=True),
    Col("syncthing", width=10, wrap=True, drop=4),
)


@mesh_app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the JSON of GET /api/v1/mesh."),
    daemon: str | None = typer.Option(None, "--daemon", help="Ask this daemon (its base URL) instead of looking."),
) -> None:
    """Host, houses, roles, lease holder and epoch, heartbeat age, health and Syncthing state, per host."""
    opts = options(ctx)
    view = _ask(daemon) if daemon else asyncio.run(_look(opts.settings(), opts.runtime()))
    if as_json:
        print_json(view)
        return
    for line in _summary(view):
        console.print(line, markup=False, highlight=False)
    rows = [
        (
            row["host"] + (" (this host)" if row["self"] else ""),
            ", ".join(row["houses"]) or "-",
            ", ".join(row["roles"]) or "-",
            f"holder, epoch {row['lease_epoch']}" if row["lease_holder"] else "-",
            _age(row),
            row["health"] + (f": {row['health_error']}" if row.get("health_error") else ""),
            _syncthing(row["syncthing"]),
        )
        for row in view["hosts"]
    ]
    console.print(fit_table(HOST_COLUMNS, rows, title="mesh"))
    for path in view.get("conflicts") or []:
        console.print(f"conflict file: {path}", markup=False, highlight=False)


@mesh_app.command("prometheus-config")
def prometheus_config(
    ctx: typer.Context,
    mesh_file: Path | None = typer.Option(
        None, "--mesh", help="The mesh file (default: the mesh_config setting).", dir_okay=False
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the configuration here (default: print it).", dir_okay=False
    ),
    rules: list[str] = typer.Option(
        ["../alerts/*.yml"], "--rules", help="A rule file or glob, relative to the configuration's directory (repeat)."
    ),
) -> None:
    """The Prometheus scrape configuration of every host of the mesh file, with the alert rules referenced."""
    # here, not at the top: `--help` stays quick
    from ..mesh.prometheus_config import render_prometheus_config
    from ..meshfile.schema import load_mesh_config

    path = mesh_file or options(ctx).settings().mesh_config
    if path is None:
        raise ConfigError("no mesh file: pass --mesh FILE or set the mesh_config setting", source="--mesh")
    mesh = load_mesh_config(path)
    text = render_prometheus_config(mesh, source=path.name, rule_files=rules)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {len(mesh.hosts)} hosts")


def _ask(url: str) -> dict[str, Any]:
    """What the daemon at ``url`` answers to ``GET /api/v1/mesh``; a ``MeshError`` saying why when it cannot."""
    where = url.rstrip("/") + "/api/v1/mesh"
    try:
        response = httpx.get(where, timeout=10.0)
    except httpx.HTTPError as exc:
        raise MeshError(f"cannot reach the daemon at {url}: {exc}") from exc
    if response.status_code == 404:
        raise MeshError(
            f"the daemon at {url} has no mesh view (GET /api/v1/mesh: HTTP 404): it is a uni-wizard older than "
            "this one running without a mesh file, or not a uni-wizard daemon; run `uni-wizard mesh status` on "
            "that host instead"
        )
    if response.status_code != 200:
        raise MeshError(f"the daemon at {url} answered HTTP {response.status_code} to GET /api/v1/mesh")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list):
        raise MeshError(f"the daemon at {url} answered GET /api/v1/mesh with something that is not a mesh view")
    return data


async def _look(settings: Settings, runtime: Runtime) -> dict[str, Any]:
    from ..assembly.mesh import looked_at  # here, not at the top: `--help` stays quick

    async with looked_at(settings, runtime) as node:
        return node.view.snapshot()


def _lease_text(lease: dict[str, Any] | None) -> str:
    if lease is None:
        return "lease: unknown (no forge configured: gitea_url and gitea_token)"
    source = f" [{lease['source']}]" if lease.get("source") else ""
    if lease.get("error"):
        return f"lease: unreadable ({lease['error']}){source}"
    if lease.get("holder") is None:
        return f"lease: nobody holds it{source}"
    lapsed = " (expired)" if lease.get("expired") else ""
    return f"lease: {lease['holder']} ({lease['house']}), epoch {lease['epoch']}{lapsed}{source}"


def _summary(view: dict[str, Any]) -> list[str]:
    """The lines above the table: who looks, the lease, Syncthing, the telemetry spool (one each, folded by the
    console at its width, never cut)."""
    st = view.get("syncthing") or {}
    if not st.get("configured"):
        st_text = "syncthing: not configured (heartbeats over HTTP)"
    else:
        st_text = f"syncthing: {st.get('state') or 'unknown'}" + (f" ({st['problem']})" if st.get("problem") else "")
    lines = [f"seen from {view['host']}", _lease_text(view.get("lease")), st_text]
    spool = view.get("spool")
    if spool is not None:
        lines.append(f"telemetry: exported to seq {spool['exported_seq']}, {spool['buffered']} buffered")
    return lines


def _age(row: dict[str, Any]) -> str:
    age = row.get("heartbeat_age_seconds")
    if age is None:
        return "never"
    stale = " (stale)" if row.get("heartbeat_stale") else ""
    return f"{age:.1f} s ago via {row['heartbeat_source']}{stale}"


def _syncthing(cell: Any) -> str:
    if isinstance(cell, str):
        return cell
    if "state" in cell:
        return str(cell.get("state") or "unknown")
    if cell.get("device") is None:
        return "device unknown"
    link = {True: "connected", False: "disconnected", None: "unknown"}[cell.get("connected")]
    done = cell.get("completion")
    return link + (f", {done:.0f} % in sync" if done is not None else "")


def register(app: typer.Typer) -> None:
    app.add_typer(mesh_app, name="mesh")
