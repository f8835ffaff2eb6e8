"""The owner's-loop benchmark runs end to end (one PR per lane, a short poll; no timing is asserted)."""

from __future__ import annotations

import json

import owner_loop


def test_owner_loop_benchmark_merges_in_every_lane_and_reports_them() -> None:
    args = owner_loop.parse(["--prs", "1", "--poll", "0.5"])
    results = owner_loop.collect(args)

    text = owner_loop.report(results, args)
    assert "command: `.venv/bin/python benchmarks/owner_loop.py --prs 1 --poll 0.5`" in text
    for row in (
        "| baseline: merge through the API right after the approval | ",
        "| (a) webhook: the review's delivery wakes the reviewer | ",
        "| (b) webhook dropped: the reviewer's poll repairs it | ",
        "| of which: the approval's own API call",
        "goal (issue 14): (a) within 2 s of the review at p95: ",
    ):
        assert row in text, row
    # the review webhook reached the daemon once per approval in (a) (1 warm-up + 1), never in (b)
    assert "review webhooks queued by the daemon: 2 in (a), 0 in (b)" in text

    data = json.loads(owner_loop.as_json(results, args))
    assert data["prs"] == 1 and data["poll_seconds"] == 0.5 and isinstance(data["goal_met"], bool)
    assert set(data["lanes"]) == {"api", "webhook", "dropped"} and data["lanes"]["api"]["p50_ratio"] == 1.0
    assert all(len(lane.merged) == 1 for lane in results.lanes.values())  # every lane merged its measured PR
