"""What the sandbox costs a proof: the same test command with and without bubblewrap, in one run.

    .venv/bin/python benchmarks/sandbox_overhead.py [--runs N] [--files N]

A small Python project (one test module, ``--files`` extra source files to copy) is tested N times by
``python -m pytest -q`` run directly (``process.run``: the baseline, what ``run_tests`` did before the
sandbox) and through ``run_sandboxed`` (namespaces, the allowlisted environment, the copy of the
workspace onto a tmpfs, the uid drop, the rlimits), the two interleaved so that machine noise hits them
alike. Prints a Markdown table for docs/BENCHMARKS.md: p50/p95 of each, and the ratio at the median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from uni_wizard.tools import process
from uni_wizard.tools.sandbox import SandboxConfig, run_sandboxed

TEST = "def test_adds():\n    assert 1 + 1 == 2\n"


def project(root: Path, files: int) -> Path:
    ws = root / "project"
    (ws / "pkg").mkdir(parents=True)
    (ws / "tests").mkdir()
    (ws / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    (ws / "tests" / "test_one.py").write_text(TEST)
    for i in range(files):
        (ws / "pkg" / f"mod{i}.py").write_text(f"VALUE = {i}\n" * 50)
    return ws


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(ws: Path, runs: int) -> dict[str, list[float]]:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    config = SandboxConfig()
    times: dict[str, list[float]] = {"direct": [], "sandboxed": []}
    for _ in range(runs):
        started = time.perf_counter()
        done = await process.run(argv, timeout=120, cwd=ws)
        times["direct"].append(time.perf_counter() - started)
        assert done.ok, done.tail()
        started = time.perf_counter()
        boxed = await run_sandboxed(argv, str(ws), config=config, timeout=120)
        times["sandboxed"].append(time.perf_counter() - started)
        assert boxed.ok, boxed.tail()
    return times


def table(times: dict[str, list[float]], files: int) -> str:
    base = statistics.median(times["direct"])
    rows = [
        f"| `python -m pytest -q` on a one-test project ({files} extra files), {len(times['direct'])} runs "
        "| p50 (ms) | p95 (ms) | p50 vs direct |",
        "|---|---|---|---|",
    ]
    for name, label in (("direct", "direct (the baseline)"), ("sandboxed", "through the sandbox")):
        values = times[name]
        ratio = statistics.median(values) / base
        rows.append(f"| {label} | {1000 * pct(values, 0.5):.0f} | {1000 * pct(values, 0.95):.0f} | {ratio:.2f}x |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ws = project(Path(tmp), args.files)
        text = table(asyncio.run(measure(ws, args.runs)), args.files)
    print(text)
    return text


if __name__ == "__main__":
    main()
