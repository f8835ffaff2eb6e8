"""``deploy``: (being built; see the deploy issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the ``deploy`` commands (none yet)."""
