"""What ``uni-wizard up`` shows of the daemons' events (one line per action, naming the issue or PR and the
house), the reviewer's ``pull.blocked`` and ``pull.merged`` events behind two of those lines, and the ports
``init`` picks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.observe.events import EventLog
from uni_wizard.ownermesh.lines import KINDS, event_line
from uni_wizard.ownermesh.paths import ForgeFile, MeshDir
from uni_wizard.ownermesh.probe import choose_ports, port_free
from uni_wizard.ownermesh.up import _ready_line
from uni_wizard.review.journal import Journal
from uni_wizard.review.types import MergeReport
from uni_wizard.store import Store

HOLD = "the `hold` label is set: remove it to let the merge go ahead"
WAITING = "no approval yet: owner or timmy must approve head 0a1b2c3d4e5f"


def line(kind: str, data: dict[str, Any], number: int = 7) -> str | None:
    event = {"kind": kind, "at": "2026-01-02T03:04:05Z", "repository": "owner/work", "number": number, "data": data}
    shown = event_line("timmy", event)
    return shown.split("  ", 1)[1] if shown else None  # without the time


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("work.finished", {"status": "review", "pr": "http://f/owner/work/pulls/8", "proof": "success"},
         "bezalel opened PR owner/work#8 for #7, with proof (success)"),
        ("work.finished", {"status": "review", "pr": "http://f/owner/work/pulls/8", "proof": None},
         "bezalel opened PR owner/work#8 for #7, without proof (its house's policy does not ask for it)"),
        ("work.finished", {"status": "blocked", "reason": "step 1 (`file_read`, line 7) failed: no such file"},
         "bezalel blocked on owner/work#7: step 1 (`file_read`, line 7) failed: no such file (see its last comment)"),
        ("work.finished", {"status": "blocked"}, "bezalel blocked on owner/work#7: it needs a person (see its last comment)"),
        ("pull.blocked", {"reasons": [HOLD]}, f"bezalel blocked the merge of PR owner/work#7: {HOLD}"),
        ("pull.blocked", {"reasons": [HOLD, WAITING]}, f"bezalel blocked the merge of PR owner/work#7: {HOLD}; {WAITING}"),
        ("pull.merged", {"approved_by": "owner"}, "bezalel merged PR owner/work#7 (approved by owner)"),
        ("pull.merged", {}, "bezalel merged PR owner/work#7"),
        ("queue.tested", {"pulls": [7, 9], "base_ref": "main", "verdict": "failed", "took": "1.2 s"},
         "bezalel tested owner/work#7, #9 together on main: failed (1.2 s)"),
        ("pull.rejected", {"head": "abc", "reasons": ["the tests fail"]},
         "bezalel asked for changes on PR owner/work#7: merged with the others it breaks its branch "
         "(the merge queue's test)"),
    ],
)  # fmt: skip
def test_each_action_is_one_line_naming_the_house_and_the_issue_or_pr(
    kind: str, data: dict[str, Any], expected: str
) -> None:
    event = {"kind": kind, "at": "2026-01-02T03:04:05Z", "repository": "owner/work", "number": 7, "data": data}
    shown = event_line("bezalel", event)
    assert shown is not None and "\n" not in shown
    assert " ".join(shown.split()[1:]) == " ".join(expected.split())
    assert kind in KINDS  # `up` asks the daemons for it


def test_sweeps_and_leases_make_no_line() -> None:
    assert line("sweep.finished", {"issues": 0}) is None and line("lease.acquired", {}) is None


@pytest.fixture
def events(tmp_path: Path) -> Iterator[EventLog]:
    store = Store(tmp_path / "uni-wizard.db")
    yield EventLog(store, "timmy")
    store.close()


async def test_a_blocked_merge_is_one_event_per_head_and_set_of_reasons(events: EventLog) -> None:
    journal = Journal(events)
    for reasons in ([HOLD, WAITING], [HOLD, WAITING], [HOLD], [HOLD]):
        await journal.merge(MergeReport("owner/work", 4, "abc123", "blocked", list(reasons)), dry_run=False)
    await journal.merge(MergeReport("owner/work", 4, "abc123", "blocked", [HOLD]), dry_run=True)

    blocked = [e for e in events.page(since=0).events if e.kind == "pull.blocked"]
    assert [e.data["reasons"] for e in blocked] == [[HOLD, WAITING], [HOLD]]
    assert (blocked[0].repository, blocked[0].number, blocked[0].data["head"]) == ("owner/work", 4, "abc123")
    again = Journal(events)  # a restarted reviewer: the same head and reasons are the same event
    await again.merge(MergeReport("owner/work", 4, "abc123", "blocked", [HOLD]), dry_run=False)
    assert len([e for e in events.page(since=0).events if e.kind == "pull.blocked"]) == 2


async def test_a_merge_names_whose_approval_counted(events: EventLog) -> None:
    await Journal(events).merge(MergeReport("owner/work", 4, "abc123", "merged", approved_by="owner"), dry_run=False)
    (merged,) = [e for e in events.page(since=0).events if e.kind == "pull.merged"]
    assert merged.data == {"head": "abc123", "approved_by": "owner"}


def test_any_ports_are_free_distinct_and_not_the_usual_ones() -> None:
    ports = choose_ports([0, 0, 0, 0], taken=[3000])
    assert len(set(ports)) == 4 and 3000 not in ports and 0 not in ports
    assert all(port_free(p) for p in ports)


@pytest.mark.parametrize(
    ("forge", "url", "where"),
    [
        ("devforge", "http://127.0.0.1:3000/", "http://127.0.0.1:3000/api/v1/repos/owner/work/issues (it has no web pages)"),
        ("gitea", "https://forge.example/", "https://forge.example/owner/work/issues,"),
    ],
)  # fmt: skip
def test_up_says_where_the_owner_files_issues(forge: str, url: str, where: str, tmp_path: Path) -> None:
    recorded = ForgeFile(forge=forge, url=url, owner="owner", work_repo="owner/work", mesh_repo="mesh/mesh")  # type: ignore[arg-type]
    said = _ready_line(recorded, MeshDir(tmp_path))
    assert where in said and str(tmp_path / "secrets" / "owner.token") in said
