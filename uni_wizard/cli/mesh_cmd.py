"""``mesh``: (being built; see the mesh issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the ``mesh`` commands (none yet)."""
