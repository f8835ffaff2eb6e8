"""Harness overhead, measured side by side in one run.

    .venv/bin/python benchmarks/harness_overhead.py [--calls N] [--git-calls N] [--rounds R]

- trivial tool: calls per second direct (``await tool.fn()``) vs through the Harness in SIMPLE mode
  (sequential) and INTELLIGENT mode (``aexecute_many`` with 64 in flight; every result is returned only
  after its provenance record is committed with ``synchronous=FULL``);
- git_status on a small repository: Harness (SIMPLE and INTELLIGENT) time per call over direct time,
  one call at a time and 8 in flight.

Each figure is the median of ``--rounds`` rounds, the variants interleaved within each round so that
machine noise hits them alike. Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from uni_wizard import Call, Harness, Mode
from uni_wizard.testing import make_runtime
from uni_wizard.tools.builtin import builtin_registry
from uni_wizard.tools.git import git_status
from uni_wizard.tools.spec import tool


@tool(group="bench")
async def noop(text: str = "x") -> str:
    """Return the text.

    Args:
        text: what to return.
    """
    return text


async def rate(fn: Callable[[int], Awaitable[None]], n: int) -> float:
    started = time.perf_counter()
    await fn(n)
    return n / (time.perf_counter() - started)


def small_repo(root: Path) -> Path:
    repo = root / "workspace" / "repo"
    repo.mkdir(parents=True)
    for argv in (["init", "-q", "-b", "main"], ["config", "user.email", "b@x"], ["config", "user.name", "b"]):
        subprocess.run(["git", "-C", str(repo), *argv], check=True, timeout=30)
    for i in range(20):
        (repo / f"f{i}.txt").write_text(f"{i}\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, timeout=30)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "init"], check=True, timeout=30)
    (repo / "f1.txt").write_text("changed\n")
    return repo


async def measure(calls: int, git_calls: int, rounds: int) -> dict[str, list[float]]:
    root = Path(tempfile.mkdtemp(prefix="uw-bench-"))
    registry = builtin_registry()
    registry.register(noop)
    runtime = make_runtime(root, registry=registry)
    simple = Harness("timmy", Mode.SIMPLE, runtime=runtime)
    smart = Harness("timmy", Mode.INTELLIGENT, runtime=runtime)
    repo = str(small_repo(root))

    async def direct(n: int) -> None:
        for _ in range(n):
            await noop.fn("x")

    async def via_simple(n: int) -> None:
        for _ in range(n):
            await simple.aexecute("noop", text="x")

    async def via_intelligent_many(n: int) -> None:
        await smart.aexecute_many([Call("noop", {"text": "x"})] * n, concurrency=64)

    async def via_intelligent_seq(n: int) -> None:
        for _ in range(n):
            await smart.aexecute("noop", text="x")

    async def git_direct(n: int) -> None:
        for _ in range(n):
            await git_status.fn(repo)

    async def git_simple(n: int) -> None:
        for _ in range(n):
            (await simple.aexecute("git_status", repo_path=repo)).raise_for_status()

    async def git_intelligent(n: int) -> None:
        for _ in range(n):
            (await smart.aexecute("git_status", repo_path=repo)).raise_for_status()

    async def git_direct_8(n: int) -> None:
        limit = asyncio.Semaphore(8)

        async def one() -> None:
            async with limit:
                await git_status.fn(repo)

        await asyncio.gather(*(one() for _ in range(n)))

    async def git_intelligent_8(n: int) -> None:
        for r in await smart.aexecute_many([Call("git_status", {"repo_path": repo})] * n, concurrency=8):
            r.raise_for_status()

    out: dict[str, list[float]] = {}
    await via_simple(200)  # warm caches, create the store
    await via_intelligent_many(200)
    for _ in range(rounds):
        for name, fn, n in (
            ("direct", direct, calls),
            ("simple", via_simple, calls),
            ("intelligent_many", via_intelligent_many, calls),
            ("intelligent_seq", via_intelligent_seq, max(1, calls // 10)),
            ("git_direct", git_direct, git_calls),
            ("git_simple", git_simple, git_calls),
            ("git_intelligent", git_intelligent, git_calls),
            ("git_direct_8", git_direct_8, git_calls),
            ("git_intelligent_8", git_intelligent_8, git_calls),
        ):
            out.setdefault(name, []).append(await rate(fn, n))
    verified = runtime.provenance.verify()
    runtime.close()
    out["verified_records"] = [float(verified)]
    return out


def report(results: dict[str, list[float]], args: argparse.Namespace) -> str:
    med = {k: statistics.median(v) for k, v in results.items()}
    lines = [
        f"command: `.venv/bin/python benchmarks/harness_overhead.py --calls {args.calls} "
        f"--git-calls {args.git_calls} --rounds {args.rounds}` (medians of {args.rounds} interleaved rounds)",
        "",
        "| measurement | calls/s | ratio to direct | target |",
        "|---|---:|---:|---|",
        f"| trivial tool, direct `await fn()` (baseline) | {med['direct']:,.0f} | 1.000 | |",
        f"| trivial tool, Harness SIMPLE | {med['simple']:,.0f} | {med['simple'] / med['direct']:.4f} | >= 30,000/s |",
        f"| trivial tool, Harness INTELLIGENT, 64 in flight, durable | {med['intelligent_many']:,.0f} | "
        f"{med['intelligent_many'] / med['direct']:.4f} | >= 3,000/s |",
        f"| trivial tool, Harness INTELLIGENT, one at a time, durable | {med['intelligent_seq']:,.0f} | "
        f"{med['intelligent_seq'] / med['direct']:.4f} | |",
        f"| git_status, direct (baseline) | {med['git_direct']:,.1f} | 1.000 | |",
        f"| git_status, Harness SIMPLE | {med['git_simple']:,.1f} | time ratio "
        f"{med['git_direct'] / med['git_simple']:.3f} | <= 1.10 |",
        f"| git_status, Harness INTELLIGENT | {med['git_intelligent']:,.1f} | time ratio "
        f"{med['git_direct'] / med['git_intelligent']:.3f} | <= 1.10 |",
        f"| git_status, direct, 8 in flight (baseline) | {med['git_direct_8']:,.1f} | 1.000 | |",
        f"| git_status, Harness INTELLIGENT, 8 in flight | {med['git_intelligent_8']:,.1f} | time ratio "
        f"{med['git_direct_8'] / med['git_intelligent_8']:.3f} | |",
        "",
        f"provenance chain verified after the run: {int(med['verified_records'])} records",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--git-calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    text = report(asyncio.run(measure(args.calls, args.git_calls, args.rounds)), args)
    print(text)
    return text


if __name__ == "__main__":
    main()
