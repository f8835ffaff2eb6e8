"""What the mesh chapter works with: the forge layout, and the issues Timmy files with what the
dispatcher is expected to make of each (checked by the chapter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..forge.bootstrap import HookSpec, LabelSpec, MeshLayout, ProtectionSpec, RepoSpec, UserSpec

__all__ = ["HOUSES", "ISSUES", "DemoIssue", "mesh_layout"]

HOUSES = ("timmy", "ezra", "bezalel", "allegro")


@dataclass(frozen=True)
class DemoIssue:
    """An issue Timmy files, and what the dispatcher is expected to make of it."""

    title: str
    body: str
    kind: str
    priority: str
    house: str | None  # None: held in status/triage (no eligible house: every one is full)
    needs_info: bool = False
    duplicate_of: int | None = None  # the index in ISSUES of the issue it is a near-duplicate of


ISSUES: tuple[DemoIssue, ...] = (
    DemoIssue(
        "Daemon crashes on start with a traceback when the data dir is read-only",
        "Steps to reproduce: make the data dir read-only and run `uni-wizard serve`; it crashes with a "
        "traceback instead of saying what is wrong.\n\n## Acceptance criteria\n"
        "- [ ] a clear error naming the path\n- [ ] a regression test",
        kind="bug",
        priority="P1",
        house="bezalel",
    ),
    DemoIssue(
        "Write the architecture document for the dispatcher",
        "Explain the sweep, the lease and the webhook queue for operators.\n\n## Acceptance criteria\n"
        "- [ ] a diagram of Allegro's lane\n- [ ] what happens when the forge is down",
        kind="docs",
        priority="P2",
        house="ezra",
    ),
    DemoIssue(
        "Spike: evaluate SQLite WAL against Postgres for the event log",
        "Find out whether one SQLite file holds up under three hosts replaying the log.\n\n"
        "Done when: a short write up with numbers and a recommendation.",
        kind="research",
        priority="P2",
        house="ezra",
    ),
    DemoIssue(
        "Security: webhook secret written to the logs, risk of data loss",
        "A bug in the intake: a failed delivery logs the whole request, secret included; anyone with the logs "
        "can forge deliveries and close issues.\n\n## Expected behaviour\nThe secret never reaches a log line.",
        kind="bug",
        priority="P0",
        house="bezalel",
    ),
    DemoIssue(  # the seed's false positive: "capital" holds "api" and "prefix" holds "fix" as substrings
        "Decide whether the latest capital plan is already in the prefix",
        "",
        kind="task",
        priority="P2",
        house="timmy",
        needs_info=True,
    ),
    DemoIssue(
        "Add an option to export the routing table as CSV",
        "It would be handy for spreadsheets.",
        kind="feature",
        priority="P2",
        house=None,  # Bezalel has 2 of 2 open, Ezra too, Timmy 1 of 1: it waits in status/triage
        needs_info=True,
    ),
    DemoIssue(
        "Daemon crashes on startup with a traceback when the data directory is read-only",
        "Same here: with a read-only data directory `uni-wizard serve` crashes with a traceback.\n\n"
        "## Acceptance criteria\n- [ ] a clear error naming the path",
        kind="bug",
        priority="P1",
        house=None,  # every house that takes issues is full
        duplicate_of=0,
    ),
)


def mesh_layout(hook_url: str) -> MeshLayout:
    """``configs/forge-layout.example.yaml``, with its webhooks delivered to ``hook_url``."""
    statuses = {
        "triage": ("#ededed", "waiting for triage"),
        "routed": ("#c5def5", "assigned to a house"),
        "in-progress": ("#fbca04", "claimed by a house"),
        "review": ("#5319e7", "waiting for review"),
        "done": ("#0e8a16", "finished"),
        "blocked": ("#b60205", "needs a person"),
    }
    priorities = {"P0": "#b60205", "P1": "#d93f0b", "P2": "#fbca04", "P3": "#c2e0c6"}
    labels = (
        *(LabelSpec(name=f"status/{s}", color=c, exclusive=True, description=d) for s, (c, d) in statuses.items()),
        *(LabelSpec(name=f"priority/{p}", color=c, exclusive=True) for p, c in priorities.items()),
        LabelSpec(name="upgrade", color="#1d76db", description="a change to the mesh itself"),
    )
    protection = ProtectionSpec(
        rule_name="main",
        required_approvals=1,
        approvals_whitelist=("timmy",),
        merge_whitelist=("timmy",),
        status_check_contexts=("uni-wizard/proof",),
        dismiss_stale_approvals=True,
    )
    collaborators: dict[str, Any] = {"timmy": "admin", "allegro": "write", "ezra": "write", "bezalel": "write"}
    repos = tuple(
        RepoSpec(
            name=name,
            description=description,
            collaborators=collaborators,
            labels=labels,
            protection=(protection,),
            hooks=(HookSpec(url=hook_url),),
        )
        for name, description in (("mesh", "uni-wizard mesh configuration"), ("work", "the houses' work"))
    )
    users = tuple(UserSpec(name=h, email=f"{h}@mesh.invalid") for h in HOUSES)
    return MeshLayout(org="mesh", users=users, repos=repos)
