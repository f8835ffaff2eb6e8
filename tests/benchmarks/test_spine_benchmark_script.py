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
