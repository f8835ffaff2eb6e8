"""``init DIR``: an owner's mesh in one directory (a devforge or a real Gitea, users, repositories, settings)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from ..errors import ConfigError

OLLAMA_URL = "http://127.0.0.1:11434"  # uni_wizard.ownermesh.probe.OLLAMA_URL, repeated: `--help` stays quick
HELP = "Prepare an owner's mesh in DIR: the forge, users, repositories, settings, secrets."


def say(line: str) -> None:
    """One line on stdout, as written (no markup, no wrapping)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    @app.command("init", help=HELP)
    def init_command(
        directory: Path = typer.Argument(..., help="The mesh's directory: new, empty, or a mesh made before."),
        devforge: bool = typer.Option(False, "--devforge", help="An embedded devforge (the default)."),
        gitea_url: str | None = typer.Option(None, "--gitea-url", help="A real Gitea instead of the devforge."),
        admin_token_file: Path | None = typer.Option(
            None, "--admin-token-file", help="With --gitea-url: a file holding a site admin's token."
        ),
        owner: str | None = typer.Option(None, "--owner", help="The owner's forge login (default: owner)."),
        repo: str | None = typer.Option(None, "--repo", help="The work repository (default: <owner>/work)."),
        ollama_url: str = typer.Option(OLLAMA_URL, "--ollama-url", help="Where to look for a local Ollama."),
        any_ports: bool = typer.Option(
            False, "--any-ports", help="Free ports the system picks, not 3000 (the forge) and 8643 on (the daemons)."
        ),
    ) -> None:
        """Running it again changes nothing that is there, and says so."""
        # here, not at the top: `--help` stays quick (init brings the forge client and the devforge)
        from ..ownermesh.init import InitOptions, init_mesh

        if devforge and gitea_url is not None:
            raise ConfigError("give --devforge or --gitea-url, not both")
        if gitea_url is None and admin_token_file is not None:
            raise ConfigError("--admin-token-file goes with --gitea-url", source="--admin-token-file")
        options = InitOptions(directory, owner, repo, gitea_url, admin_token_file, ollama_url, any_ports)
        say(f"uni-wizard init {directory}")
        report = asyncio.run(init_mesh(options, say=say))
        say(report.summary())
        say(f"next: uni-wizard up {report.root}")
