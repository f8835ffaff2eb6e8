"""``telemetry --status``'s PR throughput: the PRs this host's workers opened per house, per day, from the log."""

from __future__ import annotations

import time
from pathlib import Path

from uni_wizard.assembly.telemetry import Throughput, _throughput
from uni_wizard.observe.events import EventLog
from uni_wizard.testing import make_runtime


def test_prs_opened_are_counted_per_house_for_the_last_day_and_the_one_before(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    try:
        log = EventLog(runtime.store, runtime.host)
        finished = [("bezalel", "review"), ("bezalel", "review"), ("ezra", "review"), ("ezra", "blocked")]
        for i, (house, status) in enumerate(finished):
            log.emit_sync("work.finished", f"w{i}", data={"house": house, "status": status})
        now = time.time()
        assert _throughput(runtime, now) == (Throughput("bezalel", 2, 0), Throughput("ezra", 1, 0))
        a_day_later = _throughput(runtime, now + 1.5 * 24 * 3600)  # the same PRs, now the day before
        assert a_day_later == (Throughput("bezalel", 0, 2), Throughput("ezra", 0, 1))
        assert _throughput(runtime, now + 3 * 24 * 3600) == ()  # older than two days: not read
    finally:
        runtime.close()
