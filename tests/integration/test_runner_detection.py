"""Which test runner a workspace gets without a ``test_command``, and that the detected command really runs in
the sandbox: real files in temporary repositories, real bubblewrap, the real runners where this machine has them.

The order is pytest, make test, npm test, go test, cargo test (``uni_wizard.tools.runners``); the result names
the command and why it was chosen. A runner the sandbox cannot find is a ``ToolExecutionError`` naming the
program, never a crash. go and cargo are run where they are installed; otherwise their tests skip and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from uni_wizard.errors import ToolExecutionError
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.proof import run_tests
from uni_wizard.tools.runners import SuiteCommand, find_suite
from uni_wizard.tools.sandbox import SandboxConfig, sandbox_env

SANDBOX_PATH = sandbox_env(SandboxConfig())["PATH"]
PY_TEST = "def test_one():\n    assert 1 + 1 == 2\n"
UNITTEST = "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertTrue(True)\n"
NODE_TEST = (
    "const test = require('node:test');\nconst assert = require('node:assert');\n"
    "test('adds', () => assert.strictEqual(1 + 1, 2));\ntest('later', {skip: true}, () => {});\n"
)
GO_MOD = "module example.com/calc\n\ngo 1.21\n"
GO_CODE = "package calc\n\nfunc Add(a, b int) int { return a + b }\n"
GO_TEST = (
    'package calc\n\nimport "testing"\n\n'
    'func TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("1 + 2")\n\t}\n}\n'
)
CARGO_TOML = '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n'
CARGO_LIB = (
    "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n"
    "    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 2), 3);\n    }\n}\n"
)


def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def in_sandbox(program: str, config: SandboxConfig | None = None) -> str | None:
    return shutil.which(program, path=sandbox_env(config or SandboxConfig())["PATH"])


# -- detection: the order and the reason ---------------------------------------------------------------

DETECTED = [
    ({"pyproject.toml": "[project]\nname = 'x'\n"}, "pytest", "pytest, because `pyproject.toml` is there"),
    ({"pytest.ini": "[pytest]\n"}, "pytest", "pytest, because `pytest.ini` is there"),
    ({"setup.cfg": "[metadata]\n"}, "pytest", "pytest, because `setup.cfg` is there"),
    ({"tox.ini": "[tox]\n"}, "pytest", "pytest, because `tox.ini` is there"),
    ({"tests/unit/test_x.py": PY_TEST}, "pytest", "pytest, because `tests/` holds Python files"),
    ({"Makefile": "all: build\n\nbuild:\n\tcc x.c\n\ntest: build\n\t./x\n"}, "make", "make test, because `Makefile` has a `test` target"),
    ({"GNUmakefile": "check test::\n\t./t\n"}, "make", "make test, because `GNUmakefile` has a `test` target"),
    ({"package.json": '{"scripts": {"test": "jest"}}'}, "npm", "npm test, because `package.json` has a `test` script"),
    ({"go.mod": GO_MOD}, "go", "go test, because `go.mod` is there"),
    ({"Cargo.toml": CARGO_TOML}, "cargo", "cargo test, because `Cargo.toml` is there"),
    # several: the first in the order wins
    ({"pyproject.toml": "", "Makefile": "test:\n\ttrue\n", "go.mod": GO_MOD}, "pytest", "pytest, because `pyproject.toml` is there"),
    ({"Makefile": "test:\n\ttrue\n", "package.json": '{"scripts": {"test": "x"}}'}, "make", "make test, because `Makefile` has a `test` target"),
    ({"package.json": '{"scripts": {"test": "x"}}', "Cargo.toml": CARGO_TOML}, "npm", "npm test, because `package.json` has a `test` script"),
    ({"go.mod": GO_MOD, "Cargo.toml": CARGO_TOML}, "go", "go test, because `go.mod` is there"),
    # a Rust crate's tests/ holds no Python: it is not a pytest project
    ({"Cargo.toml": CARGO_TOML, "tests/it.rs": "#[test]\nfn t() {}\n"}, "cargo", "cargo test, because `Cargo.toml` is there"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "runner", "why"), DETECTED, ids=[f"{i}-{c[1]}" for i, c in enumerate(DETECTED)])
def test_detection_order_and_reason(tmp_path: Path, files: dict[str, str], runner: str, why: str) -> None:
    suite = find_suite(repo(tmp_path, files))
    assert (suite.runner, suite.why) == (runner, why)


NOT_DETECTED = [
    {"Makefile": "build:\n\tcc x.c\n"},  # no test target
    {"Makefile": "test := unit\n.PHONY: build\nbuild:\n\t$(test)\n"},  # a variable named test is not a target
    {"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'},  # npm's placeholder
    {"package.json": '{"scripts": {"build": "tsc"}}'},
    {"package.json": "not json"},
    {"tests/fixtures/data.txt": "x"},  # tests/ without Python
    {"README.md": "# x\n"},
]


@pytest.mark.parametrize("files", NOT_DETECTED)
def test_nothing_detected_says_what_was_looked_for(tmp_path: Path, files: dict[str, str]) -> None:
    with pytest.raises(ToolExecutionError, match="no test command for") as caught:
        find_suite(repo(tmp_path, files))
    text = str(caught.value)
    for runner in ("pytest", "make test", "npm test", "go test", "cargo test"):
        assert runner in text
    assert "Set test_command in .uni-wizard.yaml" in text


def test_a_linked_makefile_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.mk"
    outside.write_text("test:\n\ttrue\n")
    root = repo(tmp_path, {"README.md": ""})
    (root / "Makefile").symlink_to(outside)
    with pytest.raises(ToolExecutionError, match="no test command"):
        find_suite(root)


def test_test_command_wins_over_every_runner(tmp_path: Path) -> None:
    root = repo(tmp_path, {".uni-wizard.yaml": "test_command: [./check]\n", "pyproject.toml": "", "go.mod": GO_MOD})
    assert find_suite(root) == SuiteCommand(("./check",), "configured", "`test_command` in .uni-wizard.yaml")


# -- the detected command, run in the sandbox ----------------------------------------------------------


async def test_pytest_runs_in_the_sandbox(tmp_path: Path) -> None:
    root = repo(tmp_path, {"tests/test_one.py": PY_TEST})
    result = await run_tests(workspace=str(root))
    assert (result["command"], result["why"]) == (
        [sys.executable, "-m", "pytest", "-q"],
        "pytest, because `tests/` holds Python files",
    )
    assert (result["runner"], result["passed"], result["ok"]) == ("pytest", 1, True)


@pytest.mark.skipif(in_sandbox("make") is None, reason="make is not installed where the sandbox looks for programs")
async def test_make_test_runs_in_the_sandbox_and_its_runner_is_read(tmp_path: Path) -> None:
    makefile = "test:\n\tpython3 -m unittest discover -s checks -t .\n"
    root = repo(tmp_path, {"Makefile": makefile, "checks/__init__.py": "", "checks/test_a.py": UNITTEST})
    result = await run_tests(workspace=str(root))
    assert (result["command"], result["why"]) == (["make", "test"], "make test, because `Makefile` has a `test` target")
    assert (result["runner"], result["passed"], result["counts_known"], result["ok"]) == ("unittest", 1, True, True)


@pytest.mark.skipif(in_sandbox("make") is None, reason="make is not installed where the sandbox looks for programs")
async def test_make_test_whose_counts_cannot_be_read_passes_on_exit_zero_and_says_so(tmp_path: Path) -> None:
    root = repo(tmp_path, {"Makefile": "test:\n\t@echo all good\n"})
    result = await run_tests(workspace=str(root))
    assert (result["exit_code"], result["counts_known"], result["ok"]) == (0, False, True)
    assert (
        result["note"]
        == "counts unknown: uni-wizard cannot read this command's test counts; passed on exit code 0 alone"
    )

    (root / "Makefile").write_text("test:\n\t@echo broken; exit 3\n")
    result = await run_tests(workspace=str(root))
    assert (result["counts_known"], result["ok"]) == (False, False)
    assert result["note"].endswith("failed: exit code 2")  # make's own exit code for a failed recipe


@pytest.mark.skipif(in_sandbox("npm") is None, reason="npm is not installed where the sandbox looks for programs")
async def test_npm_test_runs_in_the_sandbox_and_node_test_is_read(tmp_path: Path) -> None:
    package = {"name": "calc", "version": "1.0.0", "scripts": {"test": "node --test"}}
    root = repo(tmp_path, {"package.json": json.dumps(package), "test/calc.test.js": NODE_TEST})
    result = await run_tests(workspace=str(root))
    assert (result["command"], result["why"]) == (
        ["npm", "test"],
        "npm test, because `package.json` has a `test` script",
    )
    assert (result["runner"], result["passed"], result["skipped"], result["ok"]) == ("node", 1, 1, True), result


async def test_go_test_runs_in_the_sandbox_or_fails_naming_go(tmp_path: Path) -> None:
    root = repo(tmp_path, {"go.mod": GO_MOD, "calc.go": GO_CODE, "calc_test.go": GO_TEST})
    if in_sandbox("go") is None:
        with pytest.raises(ToolExecutionError) as caught:
            await run_tests(workspace=str(root))
        message = str(caught.value)
        assert message.startswith("the tests cannot run: `go` is not installed where the sandbox looks for programs")
        assert "`go test -v ./...` (go test, because `go.mod` is there)" in message
        pytest.skip("go is not installed where the sandbox looks for programs: the failure naming it was checked")
    result = await run_tests(workspace=str(root), timeout=600)
    assert (result["runner"], result["passed"], result["failed"], result["ok"]) == ("go", 1, 0, True), result


def cargo_sandbox(monkeypatch: pytest.MonkeyPatch) -> SandboxConfig | None:
    """The sandbox settings that let cargo run: none needed when it is under /usr; for a rustup install in a home
    directory, its CARGO_HOME and RUSTUP_HOME bound read-only and passed in with the PATH (sandbox_ro_binds,
    sandbox_env_names: what docs/PLAYBOOKS.md tells an operator to do). None when cargo is not installed."""
    if in_sandbox("cargo") is not None:
        return SandboxConfig()
    cargo = shutil.which("cargo")
    if cargo is None:
        return None
    bin_dir = Path(cargo).parent
    cargo_home = os.environ.get("CARGO_HOME") or str(bin_dir.parent)
    rustup_home = os.environ.get("RUSTUP_HOME") or str(Path.home() / ".rustup")
    binds = tuple(path for path in (cargo_home, rustup_home) if Path(path).is_dir())
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{SANDBOX_PATH}")
    monkeypatch.setenv("CARGO_HOME", cargo_home)
    monkeypatch.setenv("RUSTUP_HOME", rustup_home)
    return SandboxConfig(ro_binds=binds, env_names=("PATH", "CARGO_HOME", "RUSTUP_HOME"))


async def test_cargo_test_runs_in_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = repo(tmp_path, {"Cargo.toml": CARGO_TOML, "src/lib.rs": CARGO_LIB})
    config = cargo_sandbox(monkeypatch)
    if config is None:
        pytest.skip("cargo is not installed on this machine (neither where the sandbox looks nor on the PATH)")
    result = await run_tests(workspace=str(root), timeout=600, env=ToolEnv(sandbox=config))
    assert (result["command"], result["runner"]) == (["cargo", "test", "--offline"], "cargo"), result
    assert (result["passed"], result["failed"], result["ok"]) == (1, 0, True), result


async def test_a_configured_program_that_is_missing_is_named(tmp_path: Path) -> None:
    root = repo(tmp_path, {".uni-wizard.yaml": "test_command: [no-such-test-runner, --all]\n"})
    with pytest.raises(ToolExecutionError) as caught:
        await run_tests(workspace=str(root))
    assert "`no-such-test-runner` is not installed where the sandbox looks for programs" in str(caught.value)
    assert "(`test_command` in .uni-wizard.yaml)" in str(caught.value)
