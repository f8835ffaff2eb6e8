"""parse_summary reads runner summaries; judge decides from counts and exit code, never substrings."""

from __future__ import annotations

import pytest

from uni_wizard.tools.proof import Counts, judge, parse_summary

CASES = [
    # pytest, full and -q forms
    ("=== 3 passed, 1 failed, 2 skipped, 1 error in 0.12s ===", Counts(3, 1, 1, 2, "pytest")),
    ("3 passed in 0.01s", Counts(3, 0, 0, 0, "pytest")),
    ("1 failed, 2 passed in 0.05s", Counts(2, 1, 0, 0, "pytest")),
    ("==== 2 passed, 3 warnings in 1.20s (0:00:01) ====", Counts(2, 0, 0, 0, "pytest")),
    ("== 1 passed, 2 errors, 4 deselected in 0.3s ==", Counts(1, 0, 2, 0, "pytest")),
    ("1 passed, 1 xfailed, 1 xpassed in 0.02s", Counts(2, 0, 0, 1, "pytest")),
    ("============ no tests ran in 0.01s ============", Counts(0, 0, 0, 0, "pytest")),
    (
        "..F\n=== short test summary info ===\nFAILED t.py::test_x - assert 0\n1 failed, 2 passed in 0.1s\n",
        Counts(2, 1, 0, 0, "pytest"),
    ),
    # unittest
    ("......\n---\nRan 5 tests in 0.001s\n\nOK\n", Counts(5, 0, 0, 0, "unittest")),
    ("Ran 5 tests in 0.001s\n\nFAILED (failures=1, errors=2)", Counts(2, 1, 2, 0, "unittest")),
    ("Ran 5 tests in 0.001s\n\nOK (skipped=1)", Counts(4, 0, 0, 1, "unittest")),
    ("Ran 1 test in 0.000s\n\nOK", Counts(1, 0, 0, 0, "unittest")),
    ("Ran 0 tests in 0.000s\n\nOK", Counts(0, 0, 0, 0, "unittest")),
    # plain
    ("2 passed, 0 failed", Counts(2, 0, 0, 0, "plain")),
    ("0 passed, 3 failed", Counts(0, 3, 0, 0, "plain")),
    ("4 passed, 1 failed, 2 skipped", Counts(4, 1, 0, 2, "plain")),
    # nothing recognisable
    ("", Counts()),
    ("all tests passed!", Counts()),
    ("OK", Counts()),  # unittest's verdict without its "Ran N tests" line
]


@pytest.mark.parametrize(("output", "expected"), CASES)
def test_parse_summary(output: str, expected: Counts) -> None:
    assert parse_summary(output) == expected


JUDGEMENTS = [
    ("0 passed, 3 failed", 0, False),  # contains "passed"; the old system called it a pass
    ("5 passed in 0.1s", 1, False),  # counts look fine but the runner exited 1
    ("5 passed in 0.1s", 0, True),
    ("2 passed, 0 failed", 0, True),
    ("no tests ran in 0.01s", 0, False),  # nothing passed proves nothing
    ("Ran 3 tests in 0.1s\n\nFAILED (errors=1)", 1, False),
    ("1 passed, 1 error in 0.1s", 0, False),
    ("all tests passed", 0, False),
]


@pytest.mark.parametrize(("output", "exit_code", "ok"), JUDGEMENTS)
def test_judge(output: str, exit_code: int, ok: bool) -> None:
    assert judge(parse_summary(output), exit_code) is ok
