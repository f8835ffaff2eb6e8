"""The dispatch load benchmark runs end to end (tiny sizes, one worker kind; no timing is asserted)."""

from __future__ import annotations

import dispatch_load


def test_dispatch_load_benchmark_runs_and_reports_every_row() -> None:
    text = dispatch_load.main(
        ["--big", "2", "--big-mb", "0.2,1.2", "--small", "2", "--interval", "0.2", "--poll", "1", "--workers", "thread"]
    )
    assert (
        "command: `.venv/bin/python benchmarks/dispatch_load.py --big 2 --big-mb 0.2,1.2 --small 2 --interval 0.2 "
        "--poll 1 --health-ms 50 --watchdog-s 1 --workers thread`" in text
    )
    assert "### `triage_workers: thread`" in text
    for row in (
        "| small issue: created → triaged, p50 (s) |",
        "| small issue: created → triaged, p95 (s) |",
        "| `/health` latency, p99 (ms) |",
        "| `/health` latency, max (ms) |",
        "| event loop round trip (a 404), p99 (ms) |",
        "| watchdog ping gap (expected 0.5 s), max (s) |",
        "| big issue: created → triaged, p50 / max (s) |",
        "| daemon peak resident memory (MB) |",
        "| forge requests during the phase |",
        "| webhooks queued during the phase |",
        "`/health` p99 under load < 1 s:",
    ):
        assert row in text, row
    assert "load: 2 big issues (0.2,1.2 MB)" in text
    assert "(0 not answered 200; idle 0)" in text  # every /health sample was answered


def test_bad_arguments_are_refused() -> None:
    for argv in (["--workers", "fibers"], ["--big-mb", "3"], ["--big", "0"]):
        try:
            dispatch_load.main(argv)
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
