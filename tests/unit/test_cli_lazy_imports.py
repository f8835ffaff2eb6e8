"""The CLI's help loads only what it shows: ``--help`` no command module, and a command's ``--help`` not the
Harness, its tools or the forge client (benchmarks/cli_startup.py measures the time; this keeps the imports).
Each case runs in a fresh interpreter, so the modules already imported by the test session do not count."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import contextlib, io, json, sys
from uni_wizard.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.startswith("uni_wizard"))}))
"""
HEAVY = ("uni_wizard.harness.core", "uni_wizard.tools.builtin", "uni_wizard.forge.client", "uni_wizard.config")


def loaded(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return set(report["modules"])


def test_the_root_help_imports_no_command_module() -> None:
    modules = loaded("--help")
    assert not {m for m in modules if m.startswith("uni_wizard.cli.") and m.endswith("_cmd")}
    assert not modules & set(HEAVY)


@pytest.mark.parametrize("command", ["run", "test", "tools", "houses"])
def test_a_tool_commands_help_does_not_load_the_harness(command: str) -> None:
    modules = loaded(command, "--help")
    assert "uni_wizard.cli.tools_cmd" in modules  # the command's module is what renders its help
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
