"""``up DIR``: run the owner's mesh of DIR in the foreground (made by ``init``)."""

from __future__ import annotations

from pathlib import Path

import typer

from .root import Exit

HELP = "Run the owner's mesh of DIR in the foreground: the forge and every daemon."


def register(app: typer.Typer) -> None:
    @app.command("up", help=HELP)
    def up_command(
        directory: Path = typer.Argument(..., help="The mesh's directory (made by `uni-wizard init`)."),
    ) -> None:
        # here, not at the top: `--help` stays quick (up brings the supervisor and the HTTP client)
        from ..ownermesh.up import run_up

        code = run_up(directory)
        if code:
            raise Exit(code)
