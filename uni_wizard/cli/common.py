"""What the CLI's commands share: the app, options, consoles, exit codes, JSON and tables that fit the terminal.

Imported by the command modules only (which are imported when their command runs), so rich may load here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from .root import (
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_USAGE,
    Exit,
    Options,
    app,
    options,
)

__all__ = [
    "EXIT_DENIED",
    "EXIT_FAILED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_USAGE",
    "Col",
    "Exit",
    "Options",
    "app",
    "console",
    "err_console",
    "fit_table",
    "options",
    "print_json",
]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


@dataclass(frozen=True)
class Col:
    """A column of a table that must stay readable in a narrow terminal.

    ``wrap``: longer text folds onto more lines, at word boundaries, never below ``width`` (nor below its longest
    word, up to ``MAX_WORD``); without it each value keeps one line. ``drop``: 0 never; when the columns do not
    fit, the one with the highest ``drop`` goes first (``--json`` always has everything).
    """

    header: str
    width: int = 0
    wrap: bool = False
    drop: int = 0

    def needs(self, cells: Sequence[str]) -> int:
        """The narrowest this column can be with ``cells`` in it."""
        if not self.wrap:
            return max([len(self.header), *(len(line) for cell in cells for line in cell.splitlines())])
        longest_word = max([0, *(len(word) for cell in cells for word in cell.split())])
        return max(self.width, len(self.header), min(longest_word, MAX_WORD))


MAX_WORD = 30  # a longer word (a path, a hash) may be folded inside a wrapping column
CELL_OVERHEAD = 3  # rich's default box: one space each side and a rule between columns


def _kept(needs: Sequence[int], drops: Sequence[int], width: int) -> list[int]:
    """The indexes of the columns that fit ``width`` (the droppable ones dropped, highest ``drop`` first)."""
    kept = list(range(len(needs)))
    for index in sorted((i for i, d in enumerate(drops) if d), key=lambda i: -drops[i]):
        if sum(needs[i] + CELL_OVERHEAD for i in kept) + 1 <= width:
            break
        kept.remove(index)
    return kept


def fit_table(
    columns: Sequence[Col], rows: Sequence[Sequence[str]], *, title: str | None = None, width: int | None = None
) -> Table:
    """A rich table of ``rows`` that fits the console (or ``width``): droppable columns that do not fit are left
    out, the others are never narrower than they need (``Col.needs``); wrapping columns share what is left."""
    needs = [col.needs([row[i] for row in rows]) for i, col in enumerate(columns)]
    kept = _kept(needs, [col.drop for col in columns], width or console.width)
    table = Table(title=title)
    for i in kept:
        col = columns[i]
        table.add_column(col.header, min_width=needs[i], no_wrap=not col.wrap, overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table
