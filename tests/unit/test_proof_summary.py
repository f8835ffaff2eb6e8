"""parse_summary reads each runner's own summary (pytest, unittest, plain, go test -v, cargo test, node --test,
jest, vitest, mocha); judge decides from counts and exit code, never substrings, and from the exit code alone
only when the counts could not be read and were not required."""

from __future__ import annotations

import pytest

from uni_wizard.tools.proof import Counts, judge, parse_summary

GO_PASSING = """\
=== RUN   TestAdd
--- PASS: TestAdd (0.00s)
=== RUN   TestSub
=== RUN   TestSub/negative
    --- PASS: TestSub/negative (0.00s)
PASS
ok  \texample.com/calc\t0.002s
?   \texample.com/calc/cmd\t[no test files]
"""
GO_FAILING = """\
=== RUN   TestAdd
--- PASS: TestAdd (0.00s)
=== RUN   TestSub
=== RUN   TestSub/negative
    calc_test.go:12: got 1, want -1
--- FAIL: TestSub (0.00s)
    --- FAIL: TestSub/negative (0.00s)
=== RUN   TestLater
    calc_test.go:20: later
--- SKIP: TestLater (0.00s)
FAIL
FAIL\texample.com/calc\t0.002s
FAIL
"""
GO_BUILD_FAILED = """\
# example.com/calc [example.com/calc.test]
./calc_test.go:5:2: undefined: Foo
FAIL\texample.com/calc [build failed]
FAIL
"""
CARGO_PASSING = """\

running 2 tests
test tests::later ... ignored
test tests::works ... ok

test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s


running 1 test
test it ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s


running 1 test
test src/lib.rs - add (line 1) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.07s

   Compiling ct v0.1.0 (/home/dev/ct)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.21s
     Running unittests src/lib.rs (target/debug/deps/ct-c4066ebb79ee0019)
"""
CARGO_FAILING = """\

running 2 tests
test tests::fails ... FAILED
test tests::works ... ok

failures:

---- tests::fails stdout ----
thread 'tests::fails' panicked at src/lib.rs:9:29:
assertion `left == right` failed

failures:
    tests::fails

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`
"""
NODE_TAP = """\
# Subtest: skip
ok 3 - skip # SKIP
  ---
  duration_ms: 0.08738
  ...
1..3
# tests 3
# suites 0
# pass 1
# fail 1
# cancelled 0
# skipped 1
# todo 0
# duration_ms 164.625103
"""
NODE_SPEC = """\
\u2714 one (0.5ms)
\u2714 two (0.4ms)
\u2139 tests 5
\u2139 suites 0
\u2139 pass 2
\u2139 fail 0
\u2139 cancelled 1
\u2139 skipped 0
\u2139 todo 1
\u2139 duration_ms 52.1
"""
JEST = """\
PASS src/sum.test.js
FAIL src/sub.test.js
Test Suites: 1 failed, 1 passed, 2 total
Tests:       1 failed, 1 skipped, 2 passed, 4 total
Snapshots:   0 total
Time:        0.512 s
Ran all test suites.
"""
VITEST = """\
 Test Files  1 failed | 1 passed (2)
      Tests  1 failed | 2 passed (3)
   Start at  10:00:00
   Duration  312ms (transform 20ms, setup 0ms, collect 15ms, tests 3ms)
"""
MOCHA = """\
  sum
    - later
    1) subtracts


  1 passing (5ms)
  1 pending
  1 failing

  1) sum
       subtracts:
     AssertionError [ERR_ASSERTION]: 1 == 2
"""

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
    # pytest in colour (the sandbox sets CI=1; a runner may colour anyway)
    ("\x1b[32m\x1b[1m3 passed\x1b[0m\x1b[32m in 0.01s\x1b[0m", Counts(3, 0, 0, 0, "pytest")),
    # go test -v: every test and subtest line; a build failure is an error
    (GO_PASSING, Counts(2, 0, 0, 0, "go")),
    (GO_FAILING, Counts(1, 2, 0, 1, "go")),
    (GO_BUILD_FAILED, Counts(0, 0, 1, 0, "go")),
    ("ok  \texample.com/calc\t0.002s\n", Counts()),  # without -v there is nothing to count
    # cargo test: every test binary's result line, and the doc-tests, summed; ignored is skipped
    (CARGO_PASSING, Counts(3, 0, 0, 1, "cargo")),
    (CARGO_FAILING, Counts(1, 1, 0, 0, "cargo")),
    ("error[E0425]: cannot find function `ad` in this scope\nerror: could not compile `ct`", Counts()),
    # node --test (TAP when not on a terminal, spec on one)
    (NODE_TAP, Counts(1, 1, 0, 1, "node")),
    (NODE_SPEC, Counts(2, 0, 1, 1, "node")),
    # jest, vitest, mocha (npm test's usual runners)
    (JEST, Counts(2, 1, 0, 1, "jest")),
    (VITEST, Counts(2, 1, 0, 0, "vitest")),
    (MOCHA, Counts(1, 1, 0, 1, "mocha")),
    ("\n  3 passing (12ms)\n", Counts(3, 0, 0, 0, "mocha")),
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


UNKNOWN = [
    # the counts could not be read: passes on exit 0 alone only where they were not required
    ("all tests passed", 0, False, True),  # make test / npm test / a test_command: exit 0 is the verdict
    ("all tests passed", 1, False, False),
    ("", 0, True, False),  # a detected pytest, go or cargo run without its summary never passes
    ("ok  \texample.com/calc\t0.002s", 0, True, False),
    ("0 passed, 3 failed", 0, False, False),  # counts that were read always decide
    ("no tests ran in 0.01s", 0, False, False),
]


@pytest.mark.parametrize(("output", "exit_code", "required", "ok"), UNKNOWN)
def test_judge_when_counts_are_not_required(output: str, exit_code: int, required: bool, ok: bool) -> None:
    counts = parse_summary(output)
    assert judge(counts, exit_code, counts_required=required) is ok
    assert counts.known is (counts.runner != "unknown")
