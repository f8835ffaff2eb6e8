"""The CLI start-up benchmark runs end to end (one run of each command; no timing is asserted)."""

from __future__ import annotations

import json

import cli_startup


def test_cli_startup_benchmark_reports_every_command_against_the_baseline() -> None:
    text = cli_startup.main(["--runs", "1"])
    assert "command: `.venv/bin/python benchmarks/cli_startup.py --runs 1`" in text
    for row in (
        "| `python -c pass` (baseline) | ",
        '| `python -c "import typer"` | ',
        '| `python -c "import uni_wizard.cli"` | ',
        "| `uni-wizard --help` | ",
        "| `uni-wizard run --help` | ",
        "| `uni-wizard --version` | ",
        "goal (issue 14): `uni-wizard --help` under 0.3 s: ",
        "- `uni-wizard --help`: ",
        "- `uni-wizard run --help`: ",
    ):
        assert row in text, row
    baseline = next(line for line in text.splitlines() if line.startswith("| `python -c pass`"))
    assert baseline.split("|")[4:6] == [" 1.00 ", " 1.00 "]  # the ratios are to the baseline itself
    assert "uni_wizard.cli" in next(line for line in text.splitlines() if line.startswith("- `uni-wizard --help`"))


def test_cli_startup_benchmark_prints_json_when_asked() -> None:
    data = json.loads(cli_startup.main(["--runs", "1", "--json"]))
    assert data["runs"] == 1 and data["goal_seconds"] == 0.3 and isinstance(data["goal_met"], bool)
    assert set(data["commands"]) == {
        "python -c pass",
        'python -c "import typer"',
        'python -c "import uni_wizard.cli"',
        "uni-wizard --help",
        "uni-wizard run --help",
        "uni-wizard --version",
    }
    assert data["commands"]["python -c pass"]["p50_ratio"] == 1.0
    assert set(data["imports"]) == {"uni-wizard --help", "uni-wizard run --help", "uni-wizard --version"}
