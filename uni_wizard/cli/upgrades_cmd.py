"""``upgrades``: (being built; see the upgrades issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds the ``upgrades`` commands (none yet)."""
