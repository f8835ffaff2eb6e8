"""The counts of a test run, read from the runner's own summary, and the judge that decides from them.

``parse_summary(output)`` reads, from the last summary it finds (ANSI colours removed):

- **pytest**: ``3 passed, 1 failed, 2 skipped in 0.12s`` (``-q`` and full forms, ``no tests ran``);
- **unittest**: ``Ran 5 tests in 0.001s`` then ``OK`` / ``FAILED (failures=1, errors=2, skipped=1)``;
- **plain**: a line ``N passed, N failed[, N skipped]`` (what a custom command can print);
- **go** (``go test -v``): every ``--- PASS:`` / ``--- FAIL:`` / ``--- SKIP:`` line (subtests too), a package
  that ``[build failed]`` or ``[setup failed]`` (or failed without a failing test) as an error;
- **cargo**: the sum of every ``test result: ok. N passed; N failed; N ignored; ...`` line (one per test binary
  and the doc-tests); ignored counts as skipped;
- **node** (``node --test``, TAP or spec reporter): ``# pass N``, ``# fail N``, ``# cancelled N`` (errors),
  ``# skipped N``, ``# todo N`` (skipped) before ``# duration_ms``;
- **jest**: ``Tests: 1 failed, 2 passed, 3 total``; **vitest**: ``Tests  1 failed | 2 passed (3)``;
- **mocha**: ``N passing (Xms)``, ``N pending``, ``N failing``.

``judge(counts, exit_code, counts_required=...)``: counts that were read pass only when the runner exited 0,
passed at least one test and failed none (a substring such as "passed" proves nothing: "0 passed, 3 failed"
contains it). Counts that could not be read (``runner == "unknown"``) pass only when ``counts_required`` is
false (the command's output format is not known in advance: ``make test``, ``npm test``, a ``test_command``)
and it exited 0; ``run_tests`` then says so ("counts unknown"). A detected runner whose format is known
(pytest, go, cargo) never passes without its summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Counts", "judge", "parse_summary"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PYTEST_LINE = re.compile(r"^=*\s*(?P<body>.+?)\s+in\s+[\d.]+s(?:\s+\([\d:.]+\))?\s*=*$")
_PYTEST_ITEM = re.compile(r"^(\d+) ([a-z]+)$")
_PYTEST_KINDS = {
    "passed": "passed",
    "xpassed": "passed",
    "failed": "failed",
    "error": "errors",
    "errors": "errors",
    "skipped": "skipped",
    "xfailed": "skipped",
}
_PYTEST_IGNORED = {"deselected", "warning", "warnings", "rerun"}
_PLAIN_LINE = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\.?$")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ")
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$")
_CARGO_LINE = re.compile(
    r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; \d+ measured; \d+ filtered out"
)
_GO_TEST = re.compile(r"^--- (PASS|FAIL|SKIP): ")
_GO_PACKAGE = re.compile(r"^(ok|FAIL)\s+\S+\s+(?:\(cached\)|[\d.]+s|\[(?:build|setup) failed\])")
_GO_BROKEN = re.compile(r"^FAIL\s+\S+\s+\[(?:build|setup) failed\]")
_GO_FAILED_PACKAGE = re.compile(r"^FAIL\s+\S+\s+[\d.]+s$")
_NODE_END = re.compile(r"^(?:#|\u2139) duration_ms [\d.]+$")
_NODE_ITEM = re.compile(r"^(?:#|\u2139) (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$")
_JEST_LINE = re.compile(r"^Tests:\s+(?P<body>.+?),\s+\d+ total$")
_VITEST_LINE = re.compile(r"^Tests\s+(?P<body>\d+ [a-z]+(?: \| \d+ [a-z]+)*)\s+\(\d+\)$")
_MOCHA_LINE = re.compile(r"^(\d+) (passing|pending|failing)(?: \(.+\))?$")
_MOCHA_PASSING = re.compile(r"^\d+ passing \(.+\)$")
_ITEM = re.compile(r"^(\d+) ([a-z]+)$")
_JS_KINDS = {"passed": "passed", "failed": "failed", "skipped": "skipped", "todo": "skipped", "pending": "skipped"}


@dataclass(frozen=True)
class Counts:
    """Test counts read from a runner's summary; ``runner`` names the summary's format (pytest, unittest,
    plain, go, cargo, node, jest, vitest, mocha), or ``unknown`` when none was found."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    runner: str = "unknown"

    @property
    def known(self) -> bool:
        return self.runner != "unknown"


Parser = Callable[[Sequence[str], int], Counts | None]


def parse_summary(output: str) -> Counts:
    """The counts of the last summary in ``output`` whose format is known; ``Counts()`` (unknown) if none."""
    lines = [line.strip() for line in _ANSI.sub("", output).splitlines()]
    for index in range(len(lines) - 1, -1, -1):
        for parser in _PARSERS:
            counts = parser(lines, index)
            if counts is not None:
                return counts
    return Counts()


def judge(counts: Counts, exit_code: int, *, counts_required: bool = True) -> bool:
    """Counts read: exit 0, something passed, nothing failed. Counts unknown: exit 0, when not required."""
    if not counts.known:
        return exit_code == 0 and not counts_required
    return exit_code == 0 and counts.failed == 0 and counts.errors == 0 and counts.passed > 0


# -- one parser per format: (the stripped lines, the index of the line looked at) -> counts or None ----------


def _pytest(lines: Sequence[str], index: int) -> Counts | None:
    match = _PYTEST_LINE.match(lines[index])
    if not match:
        return None
    body = match["body"]
    if body == "no tests ran":
        return Counts(runner="pytest")
    totals = dict.fromkeys(("passed", "failed", "errors", "skipped"), 0)
    for item in body.split(", "):
        found = _PYTEST_ITEM.match(item.strip())
        if not found:
            return None
        kind = _PYTEST_KINDS.get(found[2])
        if kind is None and found[2] not in _PYTEST_IGNORED:
            return None
        if kind is not None:
            totals[kind] += int(found[1])
    return Counts(**totals, runner="pytest")


def _plain(lines: Sequence[str], index: int) -> Counts | None:
    match = _PLAIN_LINE.match(lines[index])
    if not match:
        return None
    return Counts(passed=int(match[1]), failed=int(match[2]), skipped=int(match[3] or 0), runner="plain")


def _unittest(lines: Sequence[str], index: int) -> Counts | None:
    match = _UNITTEST_END.match(lines[index])
    if not match:
        return None
    ran = next((m for m in map(_UNITTEST_RAN.match, reversed(lines[:index])) if m), None)
    if ran is None:
        return None
    details: dict[str, int] = {}
    for part in (match[2] or "").split(","):
        key, _, value = part.strip().partition("=")
        if value.isdigit():
            details[key.strip()] = int(value)
    failed, errors = details.get("failures", 0), details.get("errors", 0)
    skipped = details.get("skipped", 0) + details.get("expected failures", 0)
    failed += details.get("unexpected successes", 0)
    passed = max(int(ran[1]) - failed - errors - skipped, 0)
    return Counts(passed=passed, failed=failed, errors=errors, skipped=skipped, runner="unittest")


def _cargo(lines: Sequence[str], index: int) -> Counts | None:
    if not _CARGO_LINE.match(lines[index]):
        return None
    passed = failed = ignored = 0
    for match in filter(None, map(_CARGO_LINE.match, lines[: index + 1])):
        passed, failed, ignored = passed + int(match[1]), failed + int(match[2]), ignored + int(match[3])
    return Counts(passed=passed, failed=failed, skipped=ignored, runner="cargo")


def _go(lines: Sequence[str], index: int) -> Counts | None:
    if not (_GO_PACKAGE.match(lines[index]) or _GO_TEST.match(lines[index])):
        return None
    seen = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    broken = failed_packages = 0
    for line in lines[: index + 1]:
        test = _GO_TEST.match(line)
        if test:
            seen[test[1]] += 1
        broken += bool(_GO_BROKEN.match(line))
        failed_packages += bool(_GO_FAILED_PACKAGE.match(line))
    if not any(seen.values()) and not broken:
        return None  # package lines only (a run without -v): nothing to count
    errors = broken + (failed_packages if seen["FAIL"] == 0 else 0)  # a package failed without a failing test
    return Counts(passed=seen["PASS"], failed=seen["FAIL"], errors=errors, skipped=seen["SKIP"], runner="go")


def _node(lines: Sequence[str], index: int) -> Counts | None:
    if not _NODE_END.match(lines[index]):
        return None
    items = {m[1]: int(m[2]) for m in map(_NODE_ITEM.match, lines[max(0, index - 10) : index]) if m}
    if "pass" not in items or "fail" not in items:
        return None
    skipped = items.get("skipped", 0) + items.get("todo", 0)
    return Counts(items["pass"], items["fail"], items.get("cancelled", 0), skipped, runner="node")


def _js_items(body: str, separator: str, runner: str) -> Counts | None:
    """``1 failed, 2 passed`` (jest) or ``1 failed | 2 passed`` (vitest) as counts; None for a word not known."""
    totals = dict.fromkeys(("passed", "failed", "errors", "skipped"), 0)
    for item in body.split(separator):
        found = _ITEM.match(item.strip())
        kind = _JS_KINDS.get(found[2]) if found else None
        if found is None or kind is None:
            return None
        totals[kind] += int(found[1])
    return Counts(**totals, runner=runner)


def _jest(lines: Sequence[str], index: int) -> Counts | None:
    match = _JEST_LINE.match(lines[index])
    return _js_items(match["body"], ",", "jest") if match else None


def _vitest(lines: Sequence[str], index: int) -> Counts | None:
    match = _VITEST_LINE.match(lines[index])
    return _js_items(match["body"], "|", "vitest") if match else None


def _mocha(lines: Sequence[str], index: int) -> Counts | None:
    if not _MOCHA_LINE.match(lines[index]):
        return None
    start = next((i for i in range(index, -1, -1) if _MOCHA_PASSING.match(lines[i])), None)
    if start is None:
        return None
    found = {m[2]: int(m[1]) for m in map(_MOCHA_LINE.match, lines[start : start + 4]) if m}
    return Counts(found.get("passing", 0), found.get("failing", 0), 0, found.get("pending", 0), runner="mocha")


_PARSERS: tuple[Parser, ...] = (_pytest, _plain, _unittest, _cargo, _go, _node, _jest, _vitest, _mocha)
