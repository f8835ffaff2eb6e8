"""``cascade``: (being built; see the cascade issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the ``cascade`` commands (none yet)."""
