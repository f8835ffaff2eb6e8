"""Which command runs a workspace's tests, and why: the repository's ``.uni-wizard.yaml``, else a detected runner.

``find_suite(workspace)`` reads ``test_command`` from ``.uni-wizard.yaml`` (an argv list; the only key the file
has); without it, the first of these that matches, in this order:

1. **pytest** (``python -m pytest -q`` with the daemon's Python, which the sandbox always has): ``pytest.ini``,
   ``pyproject.toml``, ``setup.cfg`` or ``tox.ini``, or a ``tests/`` directory holding ``.py`` files (in it or
   one level down);
2. **make test**: a ``GNUmakefile``, ``makefile`` or ``Makefile`` (the one make reads) with a ``test`` target;
3. **npm test**: a ``package.json`` whose ``scripts.test`` is set (npm's placeholder, "no test specified",
   does not count);
4. **go test -v ./...**: a ``go.mod`` (``-v``: the per-test lines are what the counts are read from);
5. **cargo test --offline**: a ``Cargo.toml`` (``--offline``: the sandbox has no network, so dependencies must
   be vendored or in a bound ``CARGO_HOME``; offline, cargo says so at once instead of retrying a download).

The files are read here, outside the sandbox, without following a symlink and at most ``READ_LIMIT`` bytes
each; nothing of the repository runs until ``run_tests`` starts the command in the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configfile import parse_yaml
from ..errors import ConfigError, ToolCallError, ToolExecutionError

__all__ = ["CONFIG_FILE", "CONFIG_KEYS", "DETECTION_ORDER", "SuiteCommand", "find_suite", "read_small"]

CONFIG_FILE = ".uni-wizard.yaml"
CONFIG_KEYS = ("test_command",)
READ_LIMIT = 256 * 1024
NPM_PLACEHOLDER = "no test specified"
# a rule line naming `test` among its targets (`test:`, `check test::`), not a variable (`test := x`)
_MAKE_TARGETS = re.compile(r"^(?P<targets>[^\s:#=][^:#=]*?)\s*::?(?![=:])")


@dataclass(frozen=True)
class SuiteCommand:
    """The test command of a workspace: ``argv``, the ``runner`` it stands for (``configured`` for a
    ``test_command``), ``why`` it was chosen (one sentence), and ``summary``: the runner whose summary the
    judge must find (``pytest``, ``go``, ``cargo``), or ``None`` when its output format is not known in advance."""

    argv: tuple[str, ...]
    runner: str
    why: str
    summary: str | None = None


def read_small(path: Path, limit: int = READ_LIMIT) -> str | None:
    """The text of the regular file ``path`` (at most ``limit`` bytes), or ``None`` when it is missing, a
    symlink, not a regular file, or not readable. Never follows a link out of the workspace."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def _configured(root: Path) -> SuiteCommand | None:
    """``test_command`` from ``.uni-wizard.yaml``; ``None`` when the file or the key is absent."""
    config = root / CONFIG_FILE
    if not config.exists() and not config.is_symlink():
        return None
    text = read_small(config)
    if text is None:
        raise ToolCallError(f"{config}: cannot read it (it must be a regular file, not a link)")
    try:
        data = parse_yaml(text, source=str(config))  # one line naming the line of a YAML mistake
    except ConfigError as exc:
        raise ToolCallError(str(exc)) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ToolCallError(f"{config}: must be a mapping of keys (known: {', '.join(CONFIG_KEYS)})")
    unknown = sorted(str(key) for key in data if key not in CONFIG_KEYS)
    if unknown:
        raise ToolCallError(f"{config}: unknown key {unknown[0]!r} (known: {', '.join(CONFIG_KEYS)})")
    command = data.get("test_command")
    if command is None:
        return None
    if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
        raise ToolCallError(
            f"{config}: test_command must be a non-empty list of argv strings (e.g. [pytest, -q]), not {command!r}"
        )
    return SuiteCommand(tuple(command), "configured", f"`test_command` in {CONFIG_FILE}")


def _pytest(root: Path) -> SuiteCommand | None:
    argv = (sys.executable, "-m", "pytest", "-q")
    for name in ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"):
        if (root / name).is_file():
            return SuiteCommand(argv, "pytest", f"pytest, because `{name}` is there", summary="pytest")
    tests = root / "tests"
    if tests.is_dir() and not tests.is_symlink() and (any(tests.glob("*.py")) or any(tests.glob("*/*.py"))):
        return SuiteCommand(argv, "pytest", "pytest, because `tests/` holds Python files", summary="pytest")
    return None


def _make(root: Path) -> SuiteCommand | None:
    for name in ("GNUmakefile", "makefile", "Makefile"):  # the one GNU make reads
        text = read_small(root / name)
        if text is None:
            continue
        for line in text.splitlines():
            found = _MAKE_TARGETS.match(line)
            if found and "test" in found["targets"].split():
                return SuiteCommand(("make", "test"), "make", f"make test, because `{name}` has a `test` target")
        return None
    return None


def _npm(root: Path) -> SuiteCommand | None:
    text = read_small(root / "package.json")
    if text is None:
        return None
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    script = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(script, str) or not script.strip() or NPM_PLACEHOLDER in script:
        return None
    return SuiteCommand(("npm", "test"), "npm", "npm test, because `package.json` has a `test` script")


def _go(root: Path) -> SuiteCommand | None:
    if not (root / "go.mod").is_file():
        return None
    return SuiteCommand(("go", "test", "-v", "./..."), "go", "go test, because `go.mod` is there", summary="go")


def _cargo(root: Path) -> SuiteCommand | None:
    if not (root / "Cargo.toml").is_file():
        return None
    argv = ("cargo", "test", "--offline")
    return SuiteCommand(argv, "cargo", "cargo test, because `Cargo.toml` is there", summary="cargo")


DETECTION_ORDER: tuple[tuple[str, Callable[[Path], SuiteCommand | None]], ...] = (
    ("pytest: pytest.ini, pyproject.toml, setup.cfg, tox.ini, or tests/ with .py files", _pytest),
    ("make test: a GNUmakefile, makefile or Makefile with a `test` target", _make),
    ("npm test: package.json with a `test` script", _npm),
    ("go test -v ./...: go.mod", _go),
    ("cargo test --offline: Cargo.toml", _cargo),
)


def find_suite(workspace: Path) -> SuiteCommand:
    """The workspace's test command and why: ``test_command`` in ``.uni-wizard.yaml``, else the first runner of
    ``DETECTION_ORDER`` whose files are there. ``ToolCallError`` for a malformed ``.uni-wizard.yaml``;
    ``ToolExecutionError`` (saying what was looked for) when nothing matches."""
    configured = _configured(workspace)
    if configured is not None:
        return configured
    for _, detect in DETECTION_ORDER:
        found = detect(workspace)
        if found is not None:
            return found
    looked = "; ".join(f"{index}. {what}" for index, (what, _) in enumerate(DETECTION_ORDER, 1))
    raise ToolExecutionError(
        f"no test command for {workspace}: {CONFIG_FILE} sets no test_command, and no runner uni-wizard detects "
        f"matched ({looked}). Set test_command in {CONFIG_FILE}, e.g. `test_command: [./run-tests]` "
        "(docs/PLAYBOOKS.md)"
    )
