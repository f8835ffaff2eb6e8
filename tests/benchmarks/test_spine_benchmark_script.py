"""The spine benchmark runs end to end (two issues; no timing is asserted)."""

from __future__ import annotations

import argparse

import spine


def test_spine_benchmark_merges_every_issue_and_reports_every_stage() -> None:
    text = spine.main(["--issues", "2"])
    assert "command: `.venv/bin/python benchmarks/spine.py --issues 2 --poll 0.1`" in text
    assert "all 2 merged" in text
    for row in ("| triage (", "| claim (", "| work (", "| PR (", "| review (", "| merge (", "| total (", "| baseline:"):
        assert row in text, row
    assert "overhead: the spine's total is" in text


def test_the_reviewers_limit_is_a_flag_and_named_in_the_command() -> None:
    args = argparse.Namespace(issues=20, poll=0.1, review_concurrency=3)
    assert spine.command(args) == ".venv/bin/python benchmarks/spine.py --issues 20 --poll 0.1 --review-concurrency 3"
    assert spine.command(argparse.Namespace(issues=2, poll=0.1, review_concurrency=None)).endswith("--poll 0.1")


def test_a_breaking_pr_in_the_burst_is_caught_and_the_others_merge() -> None:
    """Issue 1 is green alone and red merged with the others: caught (by the merge queue, or by its own proof
    when its branch was cut after another merge), the other two merged; the run checks one PR per issue, no
    double merge, proof and approval on every merged head (``verify``)."""
    text = spine.main(["--issues", "3", "--breaking", "1"])
    assert "2 merged and the breaking one caught in" in text
    assert "(issue #" in text and ("changes requested by the merge queue" in text or "its own proof failed" in text)
    assert "test runs by the reviewer: 3 re-runs in reviews" in text or "test runs by the reviewer: 2 re-runs" in text
    assert spine.command(argparse.Namespace(issues=3, poll=0.1, review_concurrency=None, breaking=1)).endswith(
        "--poll 0.1 --breaking 1"
    )
