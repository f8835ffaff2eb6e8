"""The spine benchmark runs end to end (two issues; no timing is asserted)."""

from __future__ import annotations

import spine


def test_spine_benchmark_merges_every_issue_and_reports_every_stage() -> None:
    text = spine.main(["--issues", "2"])
    assert "command: `.venv/bin/python benchmarks/spine.py --issues 2 --poll 0.1`" in text
    assert "all 2 merged" in text
    for row in ("| triage (", "| claim (", "| work (", "| PR (", "| review (", "| merge (", "| total (", "| baseline:"):
        assert row in text, row
    assert "overhead: the spine's total is" in text
