"""The benchmark script runs end to end (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import harness_overhead


def test_benchmark_runs_and_reports_every_row(capsys) -> None:  # type: ignore[no-untyped-def]
    text = harness_overhead.main(["--calls", "50", "--git-calls", "2", "--rounds", "1"])
    for row in ("Harness SIMPLE", "INTELLIGENT, 64 in flight", "git_status, Harness INTELLIGENT", "verified"):
        assert row in text
