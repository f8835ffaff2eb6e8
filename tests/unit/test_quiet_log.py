"""The log lines any client can cause are rate-limited per message template; the guard's path rules."""

from __future__ import annotations

import logging

from uni_wizard.web.guard import BodyRule
from uni_wizard.web.quiet import RATE_LIMITED_LOGGERS, RateLimitFilter, install_rate_limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "uvicorn.error", level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_burst_per_template_then_a_count_of_the_dropped() -> None:
    clock = Clock()
    limit = RateLimitFilter(burst=3, window=60.0, clock=clock)
    passed = [limit.filter(record("Invalid HTTP request received.")) for _ in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert limit.filter(record("delivery %r rejected with %d", "d-1", 401))  # another template: its own burst
    clock.now += 60
    first = record("Invalid HTTP request received.")
    assert limit.filter(first)
    assert first.getMessage() == "Invalid HTTP request received. [7 more like this dropped in 60 s]"
    later = record("Invalid HTTP request received.")
    assert limit.filter(later) and later.getMessage() == "Invalid HTTP request received."


def test_arguments_do_not_make_new_groups_and_the_groups_are_bounded() -> None:
    limit = RateLimitFilter(burst=1, window=60.0, clock=Clock())
    assert [limit.filter(record("delivery %r rejected", f"d-{i}")) for i in range(5)] == [True] + [False] * 4
    for i in range(1000):
        limit.filter(record(f"template {i}"))
    assert len(limit._windows) <= 256


def test_installed_once_on_each_logger() -> None:
    install_rate_limits()
    install_rate_limits()
    for name in RATE_LIMITED_LOGGERS:
        assert sum(isinstance(f, RateLimitFilter) for f in logging.getLogger(name).filters) == 1


def test_rules_match_a_path_or_everything_under_a_prefix() -> None:
    api = BodyRule("api", "/api/v1/", 10)
    hooks = BodyRule("hooks", "/hooks/gitea", 10)
    assert api.matches("/api/v1/execute") and api.matches("/api/v1") and not api.matches("/api/v10/x")
    assert hooks.matches("/hooks/gitea") and hooks.matches("/hooks/gitea/") and not hooks.matches("/hooks/giteax")
