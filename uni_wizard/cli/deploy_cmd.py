"""``deploy``: install uni-wizard on every host of the mesh over SSH with pyinfra (deploy/deploy.py)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from .common import console


def _default_wheelhouse() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "uni-wizard" / "wheelhouse"


def register(app: typer.Typer) -> None:
    @app.command("deploy")
    def deploy_command(
        inventory: Path = typer.Option(..., "--inventory", "-i", help="Deploy inventory YAML (names mesh.yaml)."),
        dry: bool = typer.Option(False, "--dry", help="Show what would change; change nothing."),
        wheelhouse: Path | None = typer.Option(
            None, "--wheelhouse", help="Ship these wheels (default: the inventory's, else built from this checkout)."
        ),
    ) -> None:
        """Deploy every host of the mesh: the release venv, configuration, secrets (0600), units for its roles."""
        # here, not at the top: `--help` stays quick (the deployment drives pyinfra)
        from ..deployment.inventory import load_inventory
        from ..deployment.runner import run_deploy, shipped_dir
        from ..deployment.wheelhouse import build_wheelhouse

        wheels = wheelhouse or load_inventory(inventory).wheelhouse
        if wheels is None:
            source = shipped_dir("deploy").parent
            console.print(f"building the wheelhouse from {source} ...", markup=False)
            wheels = build_wheelhouse(source, _default_wheelhouse())
        report = run_deploy(inventory, wheels, dry=dry)
        if dry:
            console.print(report.output, markup=False, highlight=False)
            summary = (
                f"dry run: {report.changed} operations would change, {report.conditional} would if an earlier one "
                f"did, {report.unchanged} unchanged"
            )
        else:
            summary = (
                f"deploy done: {report.changed} operations changed, {report.unchanged} unchanged, "
                f"{report.errors} failed"
            )
        console.print(summary, markup=False)
        for line in report.syncthing:
            console.print(f"syncthing{' (dry run)' if dry else ''}: {line}", markup=False)
