"""The failover benchmark runs end to end in a tiny configuration: two daemon processes, one kill, a short
lease (no timing is asserted)."""

from __future__ import annotations

import failover


def test_failover_benchmark_runs_and_reports_every_row() -> None:
    args = ["--runs", "1", "--hosts", "2", "--poll", "1", "--ttl", "3", "--renew", "1", "--margin", "1"]
    text = failover.main([*args, "--skew", "0.5", "--standby-poll", "0.5"])
    assert (
        "command: `.venv/bin/python benchmarks/failover.py --runs 1 --hosts 2 --poll 1 --ttl 3 --renew 1 "
        "--margin 1 --skew 0.5 --standby-poll 0.5`" in text
    )
    run = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    cells = [c.strip() for c in run.split("|")[1:-1]]
    assert cells[1:4] == ["host-a", "host-b", "2"]  # host-a held epoch 1; host-b took over under epoch 2
    assert float(cells[4]) <= float(cells[5])  # the lease moved before the new issue was triaged
    for row in ("| kill → lease held elsewhere |", "| kill → new issue triaged |", "targets p50 < 10 s"):
        assert row in text
    assert "1/1 runs: one audit comment per issue, written by the new holder under epoch + 1." in text
