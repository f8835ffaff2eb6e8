"""``forge serve`` (the devforge) and ``forge bootstrap`` (a mesh layout through the Gitea API)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from ..errors import ConfigError
from .common import Col, console, fit_table, print_json

forge_app = typer.Typer(help="The forge: run the devforge, bootstrap a mesh layout on any Gitea.", no_args_is_help=True)


def parse_admin(admin: str | None, admin_file: Path | None) -> tuple[str, str]:
    """``USER:PASSWORD`` from the option or the first line of the file."""
    if admin_file is not None:
        try:
            admin = admin_file.read_text(encoding="utf-8").strip().splitlines()[0]
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            raise ConfigError("cannot read USER:PASSWORD from it", source=str(admin_file)) from exc
    if not admin:
        raise ConfigError("give the site admin as --admin USER:PASSWORD or --admin-file FILE")
    user, sep, password = admin.partition(":")
    if not sep or not user or not password:
        raise ConfigError("the admin must be written USER:PASSWORD", source="--admin")
    return user, password


admin_help = "The site admin, USER:PASSWORD (visible to `ps`: prefer --admin-file)."
admin_file_help = "A file whose first line is USER:PASSWORD."


@forge_app.command("serve")
def serve(
    data: Path = typer.Option(..., "--data", help="Directory for the devforge's database and git repositories."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(3000, "--port", help="Port to listen on."),
    admin: str | None = typer.Option(None, "--admin", help=admin_help),
    admin_file: Path | None = typer.Option(None, "--admin-file", help=admin_file_help),
    root_url: str | None = typer.Option(None, "--root-url", help="Public URL (default http://HOST:PORT/)."),
) -> None:
    """Run the devforge: a Gitea-compatible forge (API v1 and git over HTTP) for tests and the demo."""
    from ..devforge.server import run  # here, not at the top: `--help` stays quick

    run(data, host, port, parse_admin(admin, admin_file), root_url)


@forge_app.command("bootstrap")
def bootstrap_command(
    layout_file: Path = typer.Argument(..., help="Layout YAML (see configs/forge-layout.example.yaml)."),
    url: str = typer.Option(..., "--url", help="The forge's base URL."),
    admin: str | None = typer.Option(None, "--admin", help=admin_help),
    admin_file: Path | None = typer.Option(None, "--admin-file", help=admin_file_help),
    secrets: Path = typer.Option(..., "--secrets", help="Directory for the users' passwords and tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print each step and its outcome as JSON."),
) -> None:
    """Create users, tokens, the organisation, repositories, labels, protection and hooks; idempotent."""
    from ..forge.bootstrap import bootstrap, load_layout  # here, not at the top: `--help` stays quick

    layout = load_layout(layout_file)
    report = asyncio.run(bootstrap(layout, url=url, admin=parse_admin(admin, admin_file), secrets_dir=secrets))
    if as_json:
        steps = [{"step": what, "outcome": outcome} for what, outcome in report.steps]
        print_json({"url": url, "created": report.created, "secrets": str(secrets), "steps": steps})
        return
    console.print(fit_table((Col("step", width=24, wrap=True), Col("outcome", width=12, wrap=True)), report.steps))
    console.print(f"{report.created} created; secrets in {secrets}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(forge_app, name="forge")
