"""run_tests on real temporary workspaces: it runs the suite and judges from counts and exit code."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import yaml

from uni_wizard.errors import ToolCallError, ToolExecutionError, ToolTimeout
from uni_wizard.tools.proof import find_test_command, run_tests

PASSING = "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert True\n"
FAILING = "def test_good():\n    assert True\n\n\ndef test_bad():\n    assert 1 == 2, 'arithmetic broke'\n"


def workspace(tmp_path: Path, tests: str | None = None, config: object = None) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    if tests is not None:
        (root / "pyproject.toml").write_text("[project]\nname = 'ws'\nversion = '0'\n")
        (root / "tests").mkdir()
        (root / "tests" / "test_sample.py").write_text(tests)
    if config is not None:
        (root / ".uni-wizard.yaml").write_text(yaml.safe_dump(config))
    return root


async def test_passing_pytest_suite(tmp_path: Path) -> None:
    root = workspace(tmp_path, PASSING)
    result = await run_tests(workspace=str(root))
    assert result["command"] == [sys.executable, "-m", "pytest", "-q"]
    assert result["why"] == "pytest, because `pyproject.toml` is there"
    assert (result["exit_code"], result["passed"], result["failed"], result["errors"]) == (0, 2, 0, 0)
    assert (result["runner"], result["counts_known"], result["note"]) == ("pytest", True, "")
    assert result["ok"] is True
    assert "2 passed" in result["output_tail"]
    assert result["truncated"] is False
    assert result["duration"] > 0


async def test_failing_pytest_suite_is_a_result_not_an_error(tmp_path: Path) -> None:
    root = workspace(tmp_path, FAILING)
    result = await run_tests(workspace=str(root), tail_lines=5)
    assert result["ok"] is False
    assert (result["passed"], result["failed"]) == (1, 1)
    assert result["exit_code"] == 1
    assert len(result["output_tail"].splitlines()) <= 5


async def test_custom_command_from_config(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('2 passed, 0 failed')"]
    root = workspace(tmp_path, config={"test_command": command})
    result = await run_tests(workspace=str(root))
    assert result["command"] == command and result["why"] == "`test_command` in .uni-wizard.yaml"
    assert (result["passed"], result["failed"], result["runner"], result["ok"]) == (2, 0, "plain", True)


async def test_text_saying_passed_is_not_a_pass(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('0 passed, 3 failed')"]
    root = workspace(tmp_path, config={"test_command": command})
    result = await run_tests(workspace=str(root))
    assert result["exit_code"] == 0
    assert (result["passed"], result["failed"], result["ok"]) == (0, 3, False)


async def test_good_counts_with_nonzero_exit_fail(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('5 passed in 0.1s'); sys.exit(1)"]
    root = workspace(tmp_path, config={"test_command": command})
    result = await run_tests(workspace=str(root))
    assert (result["passed"], result["exit_code"], result["ok"]) == (5, 1, False)


async def test_unittest_runner(tmp_path: Path) -> None:
    root = workspace(tmp_path, config={"test_command": [sys.executable, "-m", "unittest", "-v"]})
    (root / "test_math.py").write_text(
        "import unittest\n\n\nclass T(unittest.TestCase):\n"
        "    def test_a(self):\n        self.assertEqual(2, 2)\n\n"
        "    @unittest.skip('later')\n    def test_b(self):\n        pass\n"
    )
    result = await run_tests(workspace=str(root))
    assert (result["runner"], result["passed"], result["skipped"], result["ok"]) == ("unittest", 1, 1, True)


async def test_no_command_configured(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with pytest.raises(ToolExecutionError, match="no test command for") as caught:
        await run_tests(workspace=str(root))
    assert "set test_command in .uni-wizard.yaml" in str(caught.value).lower()
    assert "make test" in str(caught.value) and "cargo test" in str(caught.value)  # what was looked for


async def test_string_command_is_a_config_error(tmp_path: Path) -> None:
    root = workspace(tmp_path, config={"test_command": "pytest -q"})
    with pytest.raises(ToolCallError, match="test_command must be a non-empty list"):
        await run_tests(workspace=str(root))


async def test_config_without_test_command_falls_back_to_detection(tmp_path: Path) -> None:
    root = workspace(tmp_path, PASSING, config={"test_command": None})
    assert find_test_command(root) == [sys.executable, "-m", "pytest", "-q"]
    (root / ".uni-wizard.yaml").write_text("# nothing set yet\n")
    assert find_test_command(root) == [sys.executable, "-m", "pytest", "-q"]


async def test_an_unknown_key_is_refused_not_ignored(tmp_path: Path) -> None:
    root = workspace(tmp_path, PASSING, config={"test_comand": ["pytest"]})  # misspelt: never a silent fallback
    with pytest.raises(ToolCallError, match=r"unknown key 'test_comand' \(known: test_command\)"):
        await run_tests(workspace=str(root))


async def test_timeout_kills_the_run(tmp_path: Path) -> None:
    root = workspace(tmp_path, config={"test_command": [sys.executable, "-c", "import time; time.sleep(30)"]})
    started = time.monotonic()
    with pytest.raises(ToolTimeout):
        await run_tests(workspace=str(root), timeout=1)
    assert time.monotonic() - started < 10


async def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ToolCallError, match="not a directory"):
        await run_tests(workspace=str(tmp_path / "missing"))
    with pytest.raises(ToolCallError, match="timeout"):
        await run_tests(workspace=str(tmp_path), timeout=0)
