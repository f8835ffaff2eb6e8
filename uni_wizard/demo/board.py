"""The mesh chapter's live table: one row per issue, filled in as the dispatcher routes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich import box
from rich.markup import escape
from rich.table import Table

from ..forge.models import Issue
from ..observe.events import Event
from .mesh_world import DemoIssue

__all__ = ["Board", "IssueRow"]


@dataclass
class IssueRow:
    """One issue on the live board."""

    spec: DemoIssue
    number: int | None = None
    filed_at: float | None = None  # wall clock just before the create call
    routed: Event | None = None
    issue: Issue | None = None  # as the forge has it once routed
    duplicates: tuple[int, ...] = ()
    audit: str | None = None

    @property
    def ms(self) -> float:
        if self.routed is None or self.filed_at is None:
            return 0.0
        return max(0.0, (datetime.fromisoformat(self.routed.at).timestamp() - self.filed_at) * 1000)

    @property
    def flags(self) -> tuple[str, ...]:
        labels = {label.name for label in self.issue.labels} if self.issue else set()
        return (*(f for f in ("epic", "needs-info") if f in labels), *(f"dup of #{n}" for n in self.duplicates))


@dataclass
class Board:
    """The issues of one repository, in the order they are filed; ``table()`` is the live view."""

    rows: list[IssueRow]
    repository: str
    width: int = 100  # the live table's, at most
    early: dict[int, Event] = field(default_factory=dict)  # routed before the create call returned

    def table(self) -> Table:
        title = f"{self.repository}: filed by @timmy, triaged and routed by @allegro"
        table = Table(title=title, box=box.SIMPLE_HEAD, width=self.width)
        table.add_column("#", justify="right", no_wrap=True, min_width=2)
        table.add_column("title", no_wrap=True, overflow="ellipsis", ratio=1)
        for header, width in (("kind", 8), ("prio", 4), ("assignee", 8), ("flags", 10)):
            table.add_column(header, no_wrap=True, min_width=width)
        table.add_column("ms", justify="right", no_wrap=True, min_width=3)
        for row in self.rows:
            data = row.routed.data if row.routed else {}
            if row.issue is None:
                who = "[dim]filing…[/]" if row.number is None else "[dim]triage…[/]"
            elif row.issue.assignees:
                who = "[green]" + ", ".join(f"@{u.login}" for u in row.issue.assignees) + "[/]"
            else:
                who = "[yellow]held[/]"
            table.add_row(
                str(row.number or ""),
                escape(row.spec.title),
                str(data.get("kind", "")),
                str(data.get("priority", "")),
                who,
                ", ".join(row.flags),
                f"{row.ms:.0f}" if row.issue else "",
            )
        return table

    def row(self, number: int | None) -> IssueRow | None:
        return next((r for r in self.rows if r.number is not None and r.number == number), None)

    @property
    def done(self) -> bool:
        return all(r.issue is not None for r in self.rows)
