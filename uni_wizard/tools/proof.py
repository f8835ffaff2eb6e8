"""Proof tools: run a workspace's tests and judge the result from the runner's own counts.

A run passes only when the runner exited 0, reported at least one passing test and
no failures or errors. The counts come from the runner's summary line, parsed by the
pure :func:`parse_summary`; a substring such as "passed" proves nothing
("0 passed, 3 failed" contains it).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ToolCallError, ToolExecutionError
from . import process
from .spec import ReadPath, Risk, tool

__all__ = ["CONFIG_FILE", "Counts", "find_test_command", "judge", "parse_summary", "run_tests"]

CONFIG_FILE = ".uni-wizard.yaml"
MAX_TIMEOUT = 900

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
_PLAIN_LINE = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\.?$")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ")
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$")


@dataclass(frozen=True)
class Counts:
    """Test counts read from a runner's summary; ``runner`` is pytest, unittest, plain or unknown."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    runner: str = "unknown"


def parse_summary(output: str) -> Counts:
    """Read the counts from the last summary line of pytest, unittest or a plain "N passed, N failed"."""
    lines = [line.strip() for line in output.splitlines()]
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        counts = _pytest(line) or _plain(line) or _unittest(line, lines[:index])
        if counts is not None:
            return counts
    return Counts()


def _pytest(line: str) -> Counts | None:
    match = _PYTEST_LINE.match(line)
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
        if kind is None and found[2] not in {"deselected", "warning", "warnings", "rerun"}:
            return None
        if kind is not None:
            totals[kind] += int(found[1])
    return Counts(**totals, runner="pytest")


def _plain(line: str) -> Counts | None:
    match = _PLAIN_LINE.match(line)
    if not match:
        return None
    return Counts(passed=int(match[1]), failed=int(match[2]), skipped=int(match[3] or 0), runner="plain")


def _unittest(line: str, before: list[str]) -> Counts | None:
    match = _UNITTEST_END.match(line)
    if not match:
        return None
    ran = next((m for m in map(_UNITTEST_RAN.match, reversed(before)) if m), None)
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


def judge(counts: Counts, exit_code: int) -> bool:
    """A run proves the code only if it exited 0, passed something and failed nothing."""
    return exit_code == 0 and counts.failed == 0 and counts.errors == 0 and counts.passed > 0


def find_test_command(workspace: Path) -> list[str]:
    """The workspace's test argv: ``test_command`` in ``.uni-wizard.yaml``, else pytest when it looks like
    a Python project. Raises ``ToolCallError`` for a malformed config and ``ToolExecutionError`` for none.
    """
    config = workspace / CONFIG_FILE
    if config.is_file():
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            raise ToolCallError(f"{config}: cannot read it: {exc}") from None
        command = data.get("test_command") if isinstance(data, dict) else None
        if command is not None:
            if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
                raise ToolCallError(
                    f"{config}: test_command must be a non-empty list of argv strings "
                    f"(e.g. [pytest, -q]), not {command!r}"
                )
            return list(command)
    if any((workspace / name).exists() for name in ("pyproject.toml", "pytest.ini", "tests")):
        return [sys.executable, "-m", "pytest", "-q"]
    raise ToolExecutionError(f"no test command configured in {workspace} (set test_command in {CONFIG_FILE})")


# It runs the workspace's own command, which can change anything the house can: mutating, never retried.
@tool(group="proof", mutates=True, idempotent=False, risk=Risk.MEDIUM, timeout=MAX_TIMEOUT)
async def run_tests(workspace: ReadPath, timeout: int = 600, tail_lines: int = 40) -> dict[str, Any]:
    """Run the workspace's test suite and report pass/fail counts; failing tests are a result, not an error.

    Args:
        workspace: Directory of the project whose tests to run.
        timeout: Seconds the test run may take before it is killed (1 to 900).
        tail_lines: How many of the last output lines to return.
    """
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise ToolCallError(f"timeout must be between 1 and {MAX_TIMEOUT} seconds (got {timeout})")
    if tail_lines < 0:
        raise ToolCallError(f"tail_lines must not be negative (got {tail_lines})")
    root = Path(workspace)
    if not root.is_dir():
        raise ToolCallError(f"workspace {workspace} is not a directory")
    command = find_test_command(root)
    done = await process.run(command, timeout=timeout, cwd=root)
    counts = parse_summary(f"{done.stdout}\n{done.stderr}")
    return {
        "command": command,
        "exit_code": done.returncode,
        "passed": counts.passed,
        "failed": counts.failed,
        "errors": counts.errors,
        "skipped": counts.skipped,
        "runner": counts.runner,
        "ok": judge(counts, done.returncode),
        "duration": round(done.duration, 3),
        "output_tail": done.tail(tail_lines) if tail_lines else "",
        "truncated": done.truncated,
    }
