"""The forge round-trip benchmark runs end to end (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import forge_roundtrip


def test_forge_benchmark_runs_and_reports_every_row() -> None:
    text = forge_roundtrip.main(["--issues", "5", "--list", "60"])
    for row in (
        "command: `.venv/bin/python benchmarks/forge_roundtrip.py --issues 5 --list 60",
        "| create issue API call, repository without a hook (baseline) |",
        "| create issue API call, repository with the hook |",
        "| create issue → webhook received, parsed, durably queued |",
        "| of which: API answer → queued (per issue) |",
        "webhook adds",
        "| one page of 50 through the client (`limit=50`) |",
        "| baseline: one page x ceil(60/50) = 2 pages |",
        '| list_issues(state="all"), every page followed |',
        "seeded through the API",
    ):
        assert row in text, row
    # 10 warm-up + 5 measured issues in the hooked repository, each queued exactly once
    assert "the daemon queued 15 events" in text
    # two pages of at most 50: exactly the ideal number of requests
    full_row = next(line for line in text.splitlines() if line.startswith('| list_issues(state="all")'))
    assert full_row.split("|")[3].strip() == "2"


def test_forge_benchmark_seeds_directly_when_asked() -> None:
    text = forge_roundtrip.main(["--issues", "1", "--list", "3", "--rounds", "1", "--seed-direct"])
    assert "--seed-direct" in text
    assert "through the devforge's data layer" in text
