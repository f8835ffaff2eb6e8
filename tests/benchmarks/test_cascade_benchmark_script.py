"""The cascade failover benchmark runs end to end (tiny sizes; no timing is asserted). Our side always
runs; LiteLLM's only where its venv (``make bench-cascade``) has been created."""

from __future__ import annotations

import json

import cascade_failover
import pytest

TINY = ["--rounds", "1", "--requests", "3", "--cold", "1", "--rps-requests", "4", "--concurrency", "2"]
TINY += ["--warmup", "1", "--timeout", "0.2"]


def _record(text: str) -> dict[str, object]:
    return dict(json.loads(text.strip().splitlines()[-1]))


def test_our_side_measures_every_row() -> None:
    text = cascade_failover.main([*TINY, "--no-litellm"])
    assert "command: `.venv/bin/python benchmarks/cascade_failover.py --rounds 1" in text
    for row in (
        "| 0. healthy primary: added over a direct request (per-request cost) |",
        "| 1. primary refuses connections, breaker closed (first request): added |",
        "| 2. primary refuses connections, breaker open (LiteLLM: cooled down): added |",
        "| 3. primary times out (no first byte within the timeout), breaker closed: added |",
        "| 4a. primary down (breaker open), sequential |",
        "| 4b. primary down (breaker open), 2 concurrent |",
        "ratios ≤ 1.0: not measured (no LiteLLM)",
    ):
        assert row in text, row
    record = _record(text)
    assert record["benchmark"] == "cascade_failover"
    assert record["litellm"] is None
    ours = record["ours"]
    assert isinstance(ours, dict)
    # the timeout row waited out both attempts on the slow primary (2 x 0.2 s) before failing over
    assert ours["timeout_ms"] >= 400
    assert ours["rps_sequential"] > 0 and ours["rps_concurrent"] > 0


@pytest.mark.skipif(not cascade_failover.litellm_ready(), reason="no .venv-litellm (make bench-cascade creates it)")
def test_both_sides_in_one_run() -> None:
    text = cascade_failover.main(TINY)
    record = _record(text)
    assert record["litellm_version"] == "1.109.1"
    assert isinstance(record["litellm"], dict)
    ratios = record["ratios"]
    assert isinstance(ratios, dict)
    assert set(ratios) >= {"refused_closed_added_ms", "refused_open_added_ms", "timeout_added_ms", "rps_sequential"}
