"""The feed benchmark runs end to end (tiny sizes), and 200 clients that never read do not slow triage."""

from __future__ import annotations

import argparse
import asyncio

import feed


def test_feed_benchmark_runs_and_reports_every_row() -> None:
    text = feed.main(
        ["--events", "20", "--clients", "2", "--foreign", "3", "--issues", "2", "--slow", "5", "--calls", "100",
         "--rounds", "1"]
    )  # fmt: skip
    for row in (
        "command: `.venv/bin/python benchmarks/feed.py --events 20 --clients 2 --foreign 3 --issues 2 --slow 5 "
        "--calls 100 --rounds 1`",
        "| event log write, `emit_sync` called → returned (baseline) |",
        "| `emit_sync` called → message received by a client |",
        "| written by another process's `Store` → received (the poll, 250 ms) |",
        "| no feed clients (baseline) |",
        "| 5 feed clients that never read |",
        "(5 subscribed at most; dropped for falling behind: 0)",
        "| 64 in flight, `tool_call_events: true` (a `tool.called` event per call) |",
        "| one at a time, `tool_call_events: false` (baseline) |",
        "p99 < 50 ms:",
    ):
        assert row in text, row


def test_200_clients_that_never_read_do_not_slow_triage() -> None:
    args = argparse.Namespace(issues=8, slow=200)
    runs = asyncio.run(feed.measure_triage(args))
    assert runs.slow_connected == 200  # every one of them was subscribed while the issues were triaged
    assert len(runs.without) == len(runs.with_slow) == 8
    without, with_slow = feed.quantile(runs.without, 95), feed.quantile(runs.with_slow, 95)
    print(f"triage p95: {without * 1000:.1f} ms without clients, {with_slow * 1000:.1f} ms with 200 slow ones")
    assert with_slow < 3 * without + 0.25, (runs.without, runs.with_slow)  # generous: the machines are noisy
