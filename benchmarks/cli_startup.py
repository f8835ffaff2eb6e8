"""The CLI's start-up: wall time of ``uni-wizard --help``, ``run --help`` and ``--version``, against the interpreter's.

    .venv/bin/python benchmarks/cli_startup.py [--runs 20] [--json]

Each command runs as a subprocess, the console script of the interpreter running this benchmark (``uni-wizard``
beside ``sys.executable``: the venv's), its output thrown away, its exit status checked; the wall time is
``perf_counter`` around ``subprocess.run``. The baseline, measured in the same run, is ``python -c pass`` with
the same interpreter (the cost of starting Python at all, ``site`` included). Two more rows show where the
time goes: ``python -c "import typer"`` (the CLI framework alone, the floor of any typer CLI) and ``python -c
"import uni_wizard.cli"`` (the CLI's root imported, nothing run). The commands take turns, their order
rotating, ``--runs`` times each after ``WARMUP`` unmeasured rounds (the page cache). ``UNIWIZARD_*`` variables
are removed from the children's environment.

Then each ``uni-wizard`` command runs once more under ``python -X importtime``: the report gives the time
spent importing (the sum of the top-level imports' cumulative times) and the heaviest top-level imports, which
is where a slow start-up is found. The issue's goal: ``uni-wizard --help`` under 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from forge_roundtrip import p50, p95

GOAL = 0.3  # seconds: the target for `uni-wizard --help` (p95 here)
WARMUP = 2
HEAVIEST = 4  # top-level imports listed per command
BASELINE = "python -c pass"
IMPORT_ONLY = 'python -c "import uni_wizard.cli"'
FRAMEWORK = 'python -c "import typer"'
CLI_COMMANDS = ("--help", "run --help", "--version")


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=dict)  # label -> seconds per run
    imports: dict[str, tuple[float, list[tuple[str, float]]]] = field(default_factory=dict)  # seconds


def console_script() -> Path:
    """The ``uni-wizard`` script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "uni-wizard"
    if beside.is_file():
        return beside
    found = shutil.which("uni-wizard")
    if found is None:
        raise SystemExit("no uni-wizard console script beside the interpreter or on PATH (pip install -e .)")
    return Path(found)


def commands(script: Path) -> dict[str, list[str]]:
    """Each label and its argv (the console script runs by its shebang: the venv's interpreter)."""
    out = {
        BASELINE: [sys.executable, "-c", "pass"],
        FRAMEWORK: [sys.executable, "-c", "import typer"],
        IMPORT_ONLY: [sys.executable, "-c", "import uni_wizard.cli"],
    }
    for args in CLI_COMMANDS:
        out[f"uni-wizard {args}"] = [str(script), *args.split()]
    return out


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_")}


def run_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')[-400:]}")
    return took


def top_imports(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """The top-level imports of ``python -X importtime ARGV`` (not imported by another module) and the seconds
    each took, its own imports included."""
    line = [sys.executable, "-X", "importtime", *argv]
    done = subprocess.run(line, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
    top: dict[str, float] = {}
    for row in done.stderr.splitlines():
        if not row.startswith("import time:") or "cumulative" in row:
            continue
        _, cumulative, name = row.split("|", 2)
        if not name[1:].startswith(" "):  # one space after the bar: a top-level import
            top[name.strip()] = top.get(name.strip(), 0.0) + int(cumulative) / 1e6
    return top


def import_profile(
    argv: list[str], env: dict[str, str], bare: dict[str, float]
) -> tuple[float, list[tuple[str, float]]]:
    """Seconds spent importing beyond what the bare interpreter imports (``bare``), and the heaviest of those
    imports (name, seconds)."""
    extra = {name: seconds for name, seconds in top_imports(argv, env).items() if name not in bare}
    heaviest = sorted(((n, s) for n, s in extra.items() if s >= 0.0005), key=lambda item: item[1], reverse=True)
    return sum(extra.values()), heaviest[:HEAVIEST]


def measure(runs: int) -> Results:
    env = clean_env()
    argvs = commands(console_script())
    labels = list(argvs)
    results = Results(times={label: [] for label in labels})
    for i in range(WARMUP + runs):
        turn = labels[i % len(labels) :] + labels[: i % len(labels)]
        for label in turn:
            took = run_once(argvs[label], env)
            if i >= WARMUP:
                results.times[label].append(took)
    bare = top_imports(["-c", "pass"], env)
    for label, argv in argvs.items():
        if label.startswith("uni-wizard"):
            results.imports[label] = import_profile(argv, env, bare)
    return results


# -- reporting --------------------------------------------------------------------------------------------------------


def command(args: argparse.Namespace) -> str:
    return f".venv/bin/python benchmarks/cli_startup.py --runs {args.runs}" + (" --json" if args.json else "")


def figures(results: Results) -> dict[str, dict[str, float]]:
    base = results.times[BASELINE]
    return {
        label: {
            "p50": p50(times),
            "p95": p95(times),
            "p50_ratio": p50(times) / p50(base),
            "p95_ratio": p95(times) / p95(base),
        }
        for label, times in results.times.items()
    }


def goal_met(results: Results) -> bool:
    return p95(results.times["uni-wizard --help"]) < GOAL


def as_json(results: Results, args: argparse.Namespace) -> str:
    data = {
        "command": command(args),
        "runs": args.runs,
        "goal_seconds": GOAL,
        "goal_met": goal_met(results),
        "commands": figures(results),
        "imports": {
            label: {"seconds": total, "heaviest": dict(heaviest)}
            for label, (total, heaviest) in results.imports.items()
        },
    }
    return json.dumps(data, indent=2)


def report(results: Results, args: argparse.Namespace) -> str:
    figs, ms = figures(results), 1000.0
    lines = [
        f"command: `{command(args)}`",
        "",
        f"{args.runs} runs of each command (after {WARMUP} warm-up rounds), taking turns; "
        f"Python {sys.version.split()[0]}",
        "",
        "| command (subprocess, wall time) | p50 ms | p95 ms | p50 ratio | p95 ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, f in figs.items():
        name = f"`{label}` (baseline)" if label == BASELINE else f"`{label}`"
        lines.append(
            f"| {name} | {f['p50'] * ms:.0f} | {f['p95'] * ms:.0f} | {f['p50_ratio']:.2f} | {f['p95_ratio']:.2f} |"
        )
    helped = figs["uni-wizard --help"]["p95"]
    lines += [
        "",
        f"goal (issue 14): `uni-wizard --help` under {GOAL:g} s: {'met' if goal_met(results) else 'NOT met'} "
        f"(p95 {helped * ms:.0f} ms).",
        "",
        "imports, one run each under `python -X importtime`: the time in imports the bare interpreter does not "
        "make (top-level imports, their own imports included), and the heaviest of them:",
        "",
    ]
    for label, (total, heaviest) in results.imports.items():
        named = ", ".join(f"{name} {seconds * ms:.0f} ms" for name, seconds in heaviest)
        lines.append(f"- `{label}`: {total * ms:.0f} ms importing; {named}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="measured runs of each command")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a report")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    results = measure(args.runs)
    text = as_json(results, args) if args.json else report(results, args)
    print(text)
    return text


if __name__ == "__main__":
    main()
