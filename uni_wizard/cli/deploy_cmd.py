"""``deploy``: install uni-wizard on every host of the mesh over SSH with pyinfra (deploy/deploy.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import console, err_console, print_json

if TYPE_CHECKING:
    from ..deployment.runner import DeployReport


def _default_wheelhouse() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "uni-wizard" / "wheelhouse"


def summary(report: DeployReport, *, dry: bool, wheelhouse: Path) -> dict[str, Any]:
    """The deploy's outcome as ``deploy --json`` prints it (pyinfra's own output stays out: ``deploy`` shows it)."""
    return {
        "dry": dry,
        "ok": report.ok,
        "changed": report.changed,
        "conditional": report.conditional,
        "unchanged": report.unchanged,
        "errors": report.errors,
        "wheelhouse": str(wheelhouse),
        "syncthing": list(report.syncthing),
    }


def _print_summary(report: DeployReport, *, dry: bool) -> None:
    if dry:
        console.print(report.output, markup=False, highlight=False)
        line = (
            f"dry run: {report.changed} operations would change, {report.conditional} would if an earlier one "
            f"did, {report.unchanged} unchanged"
        )
    else:
        line = f"deploy done: {report.changed} operations changed, {report.unchanged} unchanged, {report.errors} failed"
    console.print(line, markup=False)
    for item in report.syncthing:
        console.print(f"syncthing{' (dry run)' if dry else ''}: {item}", markup=False)


def register(app: typer.Typer) -> None:
    @app.command("deploy")
    def deploy_command(
        inventory: Path = typer.Option(..., "--inventory", "-i", help="Deploy inventory YAML (names mesh.yaml)."),
        dry: bool = typer.Option(False, "--dry", help="Show what would change; change nothing (no secret needed)."),
        wheelhouse: Path | None = typer.Option(
            None, "--wheelhouse", help="Ship these wheels (default: the inventory's, else built from this checkout)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the deploy's summary as JSON."),
    ) -> None:
        """Deploy every host of the mesh: the release venv, configuration, secrets (0600), units for its roles."""
        # here, not at the top: `--help` stays quick (the deployment drives pyinfra)
        from ..deployment.inventory import load_inventory
        from ..deployment.runner import run_deploy, shipped_dir
        from ..deployment.wheelhouse import build_wheelhouse

        wheels = wheelhouse or load_inventory(inventory).wheelhouse
        if wheels is None:
            source = shipped_dir("deploy").parent
            (err_console if as_json else console).print(f"building the wheelhouse from {source} ...", markup=False)
            wheels = build_wheelhouse(source, _default_wheelhouse())
        report = run_deploy(inventory, wheels, dry=dry)
        if as_json:
            print_json(summary(report, dry=dry, wheelhouse=wheels))
        else:
            _print_summary(report, dry=dry)
