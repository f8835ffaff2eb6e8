"""What the dispatcher keeps of each issue in the store: its status and house (``issue_states``), and where
each repository's sweep stands (``sweep_cursors``).

``issue_states`` gives routing its load (open assignments per house) and the ``uniwizard_issues`` gauge
its counts; the forge stays the truth, and every handled issue is written again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..forge.actions import Action
from ..store import Store, utc_now
from .state import IssueState

__all__ = ["IssueStates", "SweepCursors"]


class IssueStates:
    """The ``issue_states`` table of ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def remember(self, repo: str, number: int, state: IssueState, actions: Sequence[Action]) -> None:
        """Keep the row of ``repo#number`` close to the forge: ``state`` as read, then what ``actions`` left
        (what was just written wins over what was read); a closed issue is done."""
        status, house = state.status or "untriaged", state.house
        for action in actions:
            if action.leaves is not None:
                status, house = action.leaves
        if not state.open:
            status = "done"
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO issue_states VALUES (?, ?, ?, ?, ?) ON CONFLICT(repository, number) DO UPDATE SET"
                " status = excluded.status, house = excluded.house, updated_at = excluded.updated_at",
                (repo, number, status, house, utc_now()),
            )

    def load(self) -> dict[str, int]:
        """Open assignments per house (routed or in progress)."""
        rows = self.store.query(
            "SELECT house, count(*) FROM issue_states WHERE status IN ('routed', 'in-progress') AND house IS NOT NULL"
            " GROUP BY house"
        )
        return {row[0]: int(row[1]) for row in rows}


class SweepCursors:
    """The ``sweep_cursors`` table of ``store``: per repository, the incremental sweep's ``since`` and when the
    last full sweep ended."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, repo: str) -> tuple[datetime | None, datetime | None]:
        rows = self.store.query("SELECT since, last_full FROM sweep_cursors WHERE repository = ?", (repo,))
        if not rows:
            return None, None
        return _when(rows[0][0]), _when(rows[0][1])

    def save(self, repo: str, since: datetime | None, last_full: datetime | None) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO sweep_cursors VALUES (?, ?, ?, ?) ON CONFLICT(repository) DO UPDATE SET"
                " since = excluded.since, last_full = excluded.last_full, updated_at = excluded.updated_at",
                (repo, since.isoformat() if since else None, last_full.isoformat() if last_full else None, utc_now()),
            )


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
