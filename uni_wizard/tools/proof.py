"""Proof tools: run a workspace's tests in the sandbox and judge the result from the runner's own counts.

Which command runs is ``runners.find_suite``: ``test_command`` in the repository's ``.uni-wizard.yaml``,
else the first detected runner (pytest, make test, npm test, go test, cargo test, in that order); the result
says which and why. The counts come from the runner's summary (``summaries.parse_summary``); a run passes only
when the runner exited 0, reported at least one passing test and no failures or errors. When the counts
cannot be read, a command whose output format is not known in advance (``make test``, ``npm test``, a
``test_command``) passes on exit 0 alone, and the result says "counts unknown"; a detected pytest, go or cargo
run without its summary fails.

The tests are repository code: they always run in the sandbox (``tools/sandbox.py``, configured by
``ToolEnv.sandbox``), on a copy of the workspace, without the daemon's environment, network or files. A
runner whose program the sandbox cannot find is a ``ToolExecutionError`` naming the program, before anything
starts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..errors import ToolCallError, ToolExecutionError
from .env import ToolEnv
from .runners import CONFIG_FILE, SuiteCommand, find_suite
from .sandbox import SandboxConfig, run_sandboxed, sandbox_env
from .spec import ReadPath, Risk, tool
from .summaries import Counts, judge, parse_summary

__all__ = ["CONFIG_FILE", "Counts", "find_test_command", "judge", "parse_summary", "run_tests"]

MAX_TIMEOUT = 900


def find_test_command(workspace: Path) -> list[str]:
    """The workspace's test argv (``runners.find_suite``, which also says why)."""
    return list(find_suite(workspace).argv)


def require_program(suite: SuiteCommand, config: SandboxConfig) -> None:
    """``ToolExecutionError`` naming the program when ``suite``'s first word is a bare name the sandbox's ``PATH``
    does not hold (a path is left to the sandbox, which says the same if it is not there)."""
    program = suite.argv[0]
    if "/" in program:
        return
    path = sandbox_env(config)["PATH"]
    if shutil.which(program, path=path) is None:
        raise ToolExecutionError(
            f"the tests cannot run: `{program}` is not installed where the sandbox looks for programs ({path}); "
            f"the command is `{' '.join(suite.argv)}` ({suite.why}). Install {program} on this host, "
            f"or set test_command in {CONFIG_FILE} to a command that is installed (docs/PLAYBOOKS.md)"
        )


def counts_note(counts: Counts, suite: SuiteCommand, exit_code: int) -> str:
    """One sentence when the counts could not be read (empty otherwise)."""
    if counts.known:
        return ""
    if suite.summary is not None:
        return f"counts unknown: {suite.summary}'s summary is missing from the output, so the run cannot pass"
    verdict = "passed on exit code 0 alone" if exit_code == 0 else f"failed: exit code {exit_code}"
    return f"counts unknown: uni-wizard cannot read this command's test counts; {verdict}"


_DEFAULT_ENV = ToolEnv()


# It runs the workspace's own command (sandboxed, on a copy of the workspace; it may still exhaust what the
# sandbox's limits allow): mutating, never retried.
@tool(group="proof", mutates=True, idempotent=False, risk=Risk.MEDIUM, timeout=MAX_TIMEOUT)
async def run_tests(
    workspace: ReadPath, timeout: int = 600, tail_lines: int = 40, env: ToolEnv = _DEFAULT_ENV
) -> dict[str, Any]:
    """Run the workspace's test suite in the sandbox and report pass/fail counts; failing tests are a result.

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
    suite = find_suite(root)
    require_program(suite, env.sandbox)
    command = list(suite.argv)
    done = await run_sandboxed(command, root, config=env.sandbox, timeout=timeout, max_output=env.max_output_bytes)
    counts = parse_summary(f"{done.stdout}\n{done.stderr}")
    return {
        "command": command,
        "why": suite.why,
        "exit_code": done.returncode,
        "passed": counts.passed,
        "failed": counts.failed,
        "errors": counts.errors,
        "skipped": counts.skipped,
        "runner": counts.runner,
        "counts_known": counts.known,
        "note": counts_note(counts, suite, done.returncode),
        "ok": judge(counts, done.returncode, counts_required=suite.summary is not None),
        "duration": round(done.duration, 3),
        "output_tail": done.tail(tail_lines) if tail_lines else "",
        "truncated": done.truncated,
    }
