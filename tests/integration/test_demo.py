"""``uni-wizard demo`` (``run_demo``) end to end: every chapter, the mesh included.

The mesh chapter runs a devforge, bootstraps the layout, serves the daemon's webhook intake and runs
the dispatcher, all on loopback; Timmy files ``ISSUES`` and each must be triaged and routed as
``ISSUES`` says. The upgrade chapter takes a house change of the mesh repository through the upgrade
queue to ``applied``, live on both reconciler hosts. Afterwards no server thread of the demo may be left
running.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from rich.console import Console

import uni_wizard.demo as demo
from uni_wizard.demo.mesh import chapter_mesh
from uni_wizard.demo.mesh_world import ISSUES
from uni_wizard.errors import UniWizardError

DEMO_THREADS = ("devforge", "demo-daemon")


def _console() -> Console:
    return Console(file=io.StringIO(), width=120, highlight=False)


def _output(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def _leftover_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in DEMO_THREADS and t.is_alive()]


def test_demo_runs_every_chapter_and_routes_the_issues(tmp_path: Path) -> None:
    console = _console()
    tour = demo.run_demo(console=console, root=tmp_path / "demo")
    out = _output(console)

    assert tour.failures == []
    assert [chapter.__name__ for chapter in demo.CHAPTERS][-3:] == [
        "chapter_mesh",
        "chapter_spine",
        "chapter_upgrade",
    ]
    assert len(tour.steps) == 20  # the first four chapters' tool calls are all still there
    for title in (
        "1. Each house at work",
        "4. Provenance",
        "5. The mesh: Allegro triages and routes",
        "6. The spine: Bezalel's PR, Timmy's review, the merge",
        "7. The mesh upgrades itself",
        "Summary",
    ):
        assert title in out

    assert [issue.title for issue in tour.routed] == [spec.title for spec in ISSUES]
    numbers = {issue.title: issue.number for issue in tour.routed}
    for issue, spec in zip(tour.routed, ISSUES, strict=True):
        assert (issue.repository, issue.kind, issue.priority, issue.house) == (
            "mesh/work",
            spec.kind,
            spec.priority,
            spec.house,
        ), spec.title
        assert ("needs-info" in issue.flags) is spec.needs_info, spec.title
        if spec.duplicate_of is not None:
            assert f"dup of #{numbers[ISSUES[spec.duplicate_of].title]}" in issue.flags
        assert 0 < issue.ms < 30_000
    houses = [issue.house for issue in tour.routed]
    assert houses.count("bezalel") == 2 and houses.count("ezra") == 2 and houses.count("timmy") == 1
    # the seed's false positive ("capital" holds "api", "prefix" holds "fix") is no bug for Bezalel
    false_positive = next(i for i in tour.routed if i.title.startswith("Decide whether"))
    assert (false_positive.kind, false_positive.house) == ("task", "timmy")

    # the routing tables and the audit comments are printed, one per issue
    assert out.count("<!-- uni-wizard:audit triage issue=") == len(ISSUES)
    assert out.count("house    text  history  load  bid   total  eligible") == 2 * len(ISSUES)
    assert "ms to routed" in out

    # the spine: Bezalel's PR proven, approved by Timmy and merged, the issue closed; Ezra's report
    fix, study = tour.paths
    assert (fix.repository, fix.house, fix.closed) == ("mesh/spine", "bezalel", True)
    assert fix.pr is not None
    assert list(fix.stages) and set(fix.stages) == {"routed", "claimed", "proof", "PR", "approved", "merged"}
    assert fix.stages["routed"] <= fix.stages["claimed"] <= fix.stages["proof"] <= fix.stages["merged"]
    assert fix.stages["PR"] <= fix.stages["approved"] <= fix.stages["merged"]
    assert (study.house, study.pr) == ("ezra", None)
    assert set(study.stages) == {"routed", "claimed", "report"}
    assert "seconds from filing" in out

    # the mesh upgrades itself: Ezra's house change proposed, approved at its head, merged, applied live
    (upgrade,) = tour.upgrades
    assert (upgrade.repository, upgrade.state) == ("mesh/mesh", "applied")
    assert upgrade.deploys == {"host-a": "success", "host-b": "success"}
    assert upgrade.live == {host: "ezra max_concurrency 3" for host in ("host-a", "host-b")}
    assert list(upgrade.stages) == [
        "forge", "PR", "proof", "proposed", "approved", "merged", "host-a", "host-b", "applied"
    ]  # fmt: skip
    assert all(a <= b for a, b in zip(list(upgrade.stages.values()), list(upgrade.stages.values())[1:]))
    assert len(upgrade.head) == len(upgrade.merge_sha) == 40 and upgrade.head != upgrade.merge_sha
    assert "reload:uni-wizard@worker.service" in out and "restart:" not in out
    assert "the mesh upgrades itself" in out and "1 upgrade(s) of the mesh, 1 applied" in out
    assert not (tmp_path / "demo").exists()  # removed without --keep
    assert _leftover_threads() == []


def test_demo_fails_clearly_and_stops_everything_when_routing_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "CHAPTERS", [chapter_mesh])
    monkeypatch.setattr("uni_wizard.demo.mesh.ROUTE_TIMEOUT", 0.01)
    console = _console()
    with pytest.raises(UniWizardError, match="the dispatcher did not route every issue: not within 0.01 s"):
        demo.run_demo(console=console, root=tmp_path / "demo")
    assert "Summary" in _output(console)
    assert _leftover_threads() == []
