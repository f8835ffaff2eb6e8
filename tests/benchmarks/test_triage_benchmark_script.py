"""The triage latency benchmark runs end to end (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import triage_latency


def test_triage_benchmark_runs_and_reports_every_row() -> None:
    text = triage_latency.main(
        ["--issues", "3", "--open", "60", "--untriaged", "4", "--held", "4", "--rounds", "1", "--warmup", "1"]
    )
    for row in (
        "command: `.venv/bin/python benchmarks/triage_latency.py --issues 3 --open 60 --untriaged 4 --held 4 "
        "--rounds 1 --warmup 1 --poll-ms 5`",
        "| create issue API call, repository without a hook (baseline) |",
        "| create issue API call, hooked repository (answer received) |",
        "| create → webhook durably queued in the daemon |",
        "| create → triaged: audit comment, labels, assignee applied, decision recorded |",
        "| of which: queued → dispatcher handles it (poll, claim, `GET` the issue) |",
        "| of which: `Dispatcher.handle` (plan, comment, labels, assignee, record) |",
        "| until triaged |",
        "| until settled (its own writes' webhooks consumed too) |",
        "| list the 60 open issues with the client (baseline) |",
        "| full sweep (`DispatchLoop.sweep(repo, full=True)`) |",
        "| list the 4 open issues with the client (baseline) |",
        "| first triage of them by one full sweep |",
        "| the next full sweep (no-op) |",
        "| list the 4 open issues with the client (baseline) |",
        "| full sweep over them |",
        "p95 < 250 ms:",
        "< 30 s:",
    ):
        assert row in text, row
    # every measured issue was triaged for real: routed, assigned, one audit comment
    assert "3/3 measured issues are `status/routed`" in text
    assert "comment → relabel → assign → triage: 3" in text
    # the steady-state sweep lists 60 issues in two pages and writes nothing
    sweep_row = next(line for line in text.splitlines() if line.startswith("| full sweep ("))
    assert sweep_row.split("|")[3].strip() == "2"
    assert "repaired 0 in all" in text
    # every house is full by (b3): its issues are held, and the sweeps after their triage write nothing
    assert "held after their first triage: 4/4" in text
    assert "the sweeps after it applied 0 actions" in text


def test_triage_benchmark_can_skip_b2_and_b3() -> None:
    text = triage_latency.main(
        ["--issues", "1", "--open", "3", "--untriaged", "0", "--held", "0", "--rounds", "1", "--warmup", "0"]
    )
    assert "| full sweep (" in text
    assert "(b2)" not in text
    assert "(b3)" not in text
