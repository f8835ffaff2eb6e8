"""Failover cost of the model cascade against LiteLLM's Router, in one run, on the same fake upstreams.

    .venv/bin/python benchmarks/cascade_failover.py [--setup-litellm] [--rounds 5] [--requests 200]
        [--cold 3] [--timeouts 1] [--rps-requests 400] [--concurrency 8] [--timeout 0.5] [--no-litellm]

``make bench-cascade`` runs it with ``--setup-litellm``: LiteLLM (``benchmarks/requirements-litellm.txt``,
pinned, benchmark-only) is installed into its own venv, ``.venv-litellm`` (gitignored), the first time.

The upstreams are the shipped fakes (``python -m uni_wizard.testing.model_servers openai``), each in its
own process on 127.0.0.1, speaking the OpenAI-compatible protocol: the *secondary* answers at once; the
*slow* primary holds its first byte 5 s; the *dead* primary is a loopback port nothing listens on
(connections refused). Our ``Cascade`` runs in this process; LiteLLM's ``Router`` runs in a subprocess
under ``.venv-litellm/bin/python`` (``benchmarks/litellm_side.py``), and both run the same measurement
code, a round each in turn (ours, then LiteLLM's), ``--rounds`` times. Latency samples are pooled
across rounds (medians); rates are the median of the rounds'. Added latency is a stack's median minus
the median of a direct httpx request to the secondary measured by the same process: on a new
connection for the rows measured on a fresh stack (breaker closed, timeout), on a kept-alive one for
the others. Request rates are compared as time per request (ours/LiteLLM below 1.0: we are faster).
Prints a Markdown table and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent))

from litellm_side import (
    LITELLM_ENV,
    Stack,
    discard_logs,
    litellm_settings,
    measure_round,
    median,
    merge_rounds,
    round_settings,
)

from uni_wizard.cascade import Cascade, Message
from uni_wizard.cascade.config import CascadeConfig

ROOT = Path(__file__).resolve().parents[1]
LITELLM_VENV = ROOT / ".venv-litellm"
REQUIREMENTS = ROOT / "benchmarks" / "requirements-litellm.txt"
HELLO = [Message("user", "hello")]
SLOW_SECONDS = 5.0
OPEN_TARGET_MS = 2.0


# --- our side ----------------------------------------------------------------------------------------


def cascade_config(primary: str, secondary: str, timeout: float) -> dict[str, Any]:
    """The cascade under test: the shipped defaults, but short timeouts and no retry back-off."""
    model = [{"name": "fake-model", "context": 4096}]
    return {
        "defaults": {
            "timeouts": {"connect_seconds": timeout, "first_token_seconds": timeout, "total_seconds": timeout},
            "breaker": {"fail_max": 3, "reset_timeout_seconds": 30},
            "retry": {"attempts": 2, "backoff_seconds": 0, "max_delay_seconds": 4},
        },
        "providers": [
            {"name": "primary", "kind": "openai-compatible", "url": primary, "models": model},
            {"name": "secondary", "kind": "openai-compatible", "url": secondary, "models": model},
        ],
    }


class OurStack:
    def __init__(self, primary: str, secondary: str, timeout: float) -> None:
        config = CascadeConfig.model_validate(cascade_config(primary, secondary, timeout))
        self.cascade = Cascade.from_config(config, registry=CollectorRegistry(), secrets_env={})
        self.expected = "primary" if primary == secondary else "secondary"

    async def complete(self) -> None:
        answer = await self.cascade.complete(HELLO)
        if answer.provider != self.expected or not answer.content:
            raise RuntimeError(f"answered by {answer.provider}, not {self.expected}")

    async def aclose(self) -> None:
        await self.cascade.aclose()


# --- the upstreams -----------------------------------------------------------------------------------


class Upstream:
    """A fake OpenAI-compatible server in its own process."""

    def __init__(self, *extra: str) -> None:
        command = [sys.executable, "-m", "uni_wizard.testing.model_servers", "openai", "--model", "fake-model"]
        self.process = subprocess.Popen(
            [*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("the fake model server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def dead_url() -> str:
    from uni_wizard.testing.model_servers import closed_port

    return f"http://127.0.0.1:{closed_port()}/v1"


# --- LiteLLM's venv and process ----------------------------------------------------------------------


def litellm_python() -> Path:
    return LITELLM_VENV / "bin" / "python"


def _requirements_stamp() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def litellm_ready() -> bool:
    stamp = LITELLM_VENV / ".installed"
    return litellm_python().exists() and stamp.exists() and stamp.read_text().strip() == _requirements_stamp()


def setup_litellm() -> None:
    """Create ``.venv-litellm`` with the pinned LiteLLM, once (again when the requirements change).

    litellm 1.109.1 declares ``certifi>=2026.10.19``, a release the package index does not serve; so it is
    installed without dependencies, then its declared dependencies (its metadata's, extras left out) with
    that one lower bound dropped. certifi only supplies CA certificates, which nothing here uses."""
    if litellm_ready():
        return
    python = litellm_python()
    print(f"creating {LITELLM_VENV.name} with {REQUIREMENTS.name} (a minute or two) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", "-r", str(REQUIREMENTS)], check=True)
    listing = (
        "import importlib.metadata as m\n"
        "for r in m.requires('litellm') or []:\n"
        "    if 'extra ==' not in r: print('certifi' if r.split(';')[0].startswith('certifi') else r)\n"
    )
    deps = subprocess.run([str(python), "-c", listing], check=True, capture_output=True, text=True).stdout.split("\n")
    subprocess.run([*pip, *[d for d in deps if d.strip()]], check=True)
    (LITELLM_VENV / ".installed").write_text(_requirements_stamp() + "\n")


class LiteLLMProcess:
    def __init__(self, args: argparse.Namespace, secondary: str, dead: str, slow: str) -> None:
        command = [str(litellm_python()), str(ROOT / "benchmarks" / "litellm_side.py")]
        command += ["--secondary", secondary, "--dead", dead, "--slow", slow, "--timeout", str(args.timeout)]
        command += ["--requests", str(args.requests), "--cold", str(args.cold), "--timeouts", str(args.timeouts)]
        command += ["--rps-requests", str(args.rps_requests), "--concurrency", str(args.concurrency)]
        command += ["--warmup", str(args.warmup)]
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")} | LITELLM_ENV
        self.errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 -- closed by stop()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True, env=env
        )
        self._expect("READY")

    def _expect(self, prefix: str) -> str:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        for line in stdout:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        code = self.process.wait()
        self.errors.seek(0)
        tail = "".join(self.errors.readlines()[-15:])
        raise RuntimeError(f"LiteLLM's side ended (exit {code}) before {prefix}:\n{tail}")

    def round(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("round\n")
        self.process.stdin.flush()
        return dict(json.loads(self._expect("RESULT ")))

    def stop(self) -> None:
        try:
            if self.process.stdin is not None:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.errors.close()


# --- the run and the report --------------------------------------------------------------------------

ROWS = (
    ("refused_closed", "1. primary refuses connections, breaker closed (first request)"),
    ("refused_open", "2. primary refuses connections, breaker open (LiteLLM: cooled down)"),
    ("timeout", "3. primary times out (no first byte within the timeout), breaker closed"),
)


def summarise(merged: dict[str, Any]) -> dict[str, float]:
    """Milliseconds (added: the row's median minus its interleaved baseline's) and requests per second."""
    out: dict[str, float] = {}
    for key in ("healthy", *(k for k, _ in ROWS)):
        out[f"{key}_ms"] = median(merged[key]) * 1000
        out[f"{key}_direct_ms"] = median(merged[f"{key}_direct"]) * 1000
        out[f"{key}_added_ms"] = out[f"{key}_ms"] - out[f"{key}_direct_ms"]
    out["direct_cold_ms"] = median(merged["refused_closed_direct"] + merged["timeout_direct"]) * 1000
    out["direct_warm_ms"] = median(merged["healthy_direct"] + merged["refused_open_direct"]) * 1000
    for key in ("rps_sequential", "rps_concurrent", "direct_rps_sequential", "direct_rps_concurrent"):
        out[key] = median(merged[key])
    return out


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 else float("inf")


def report(args: argparse.Namespace, command: str, ours: dict[str, float], theirs: dict[str, float] | None) -> str:
    version = theirs.pop("version", "") if theirs else ""
    lines = [f"command: `{command}`", ""]
    lines.append(
        f"{args.rounds} round(s); per round {args.requests} sequential requests for rows 0 and 2, "
        f"{args.cold} fresh stacks for row 1, {args.timeouts} for row 3, {args.rps_requests} requests per rate; "
        f"timeout {args.timeout:g} s; LiteLLM: {version or 'not run'}"
    )
    lines += ["", "| row | ours | LiteLLM | ours/LiteLLM | target |", "|---|---:|---:|---:|---|"]
    ratios: dict[str, float] = {}

    def row(label: str, key: str, unit: str, target: str = "", lower_is_better: bool = True) -> None:
        mine = ours[key]
        other = theirs[key] if theirs else None
        ratio = ""
        if other is not None:
            value = _ratio(mine, other) if lower_is_better else _ratio(other, mine)
            ratios[key] = value
            ratio = f"{value:.2f}"
        other_text = f"{other:.2f} {unit}" if other is not None else "—"
        lines.append(f"| {label} | {mine:.2f} {unit} | {other_text} | {ratio} | {target} |")

    row("0. healthy primary: added over a direct request (per-request cost)", "healthy_added_ms", "ms")
    for key, label in ROWS:
        target = "≤ 1.0" + (f", < {OPEN_TARGET_MS:g} ms added" if key == "refused_open" else "")
        row(f"{label}: added", f"{key}_added_ms", "ms", target)
    row("4a. primary down (breaker open), sequential", "rps_sequential", "req/s", "≤ 1.0 (time/request)", False)
    row(
        f"4b. primary down (breaker open), {args.concurrency} concurrent",
        "rps_concurrent",
        "req/s",
        "≤ 1.0 (time/request)",
        False,
    )
    lines += ["", "Baselines (a direct httpx request to the secondary, measured by each side's process):", ""]
    lines += ["| baseline | ours (main venv) | LiteLLM's process |", "|---|---:|---:|"]
    for key, label, unit in (
        ("direct_cold_ms", "latency, new connection", "ms"),
        ("direct_warm_ms", "latency, kept-alive connection", "ms"),
        ("direct_rps_sequential", "requests/s, sequential", "req/s"),
        ("direct_rps_concurrent", f"requests/s, {args.concurrency} concurrent", "req/s"),
    ):
        other = f"{theirs[key]:.2f} {unit}" if theirs else "—"
        lines.append(f"| {label} | {ours[key]:.2f} {unit} | {other} |")
    lines.append("")
    missed = [k for k, v in ratios.items() if k != "healthy_added_ms" and v > 1.0]
    open_ok = ours["refused_open_added_ms"] < OPEN_TARGET_MS
    lines.append(
        f"breaker open, added < {OPEN_TARGET_MS:g} ms: {'met' if open_ok else 'MISSED'} "
        f"({ours['refused_open_added_ms']:.3f} ms); ratios ≤ 1.0: "
        + ("not measured (no LiteLLM)" if theirs is None else ("met" if not missed else "MISSED: " + ", ".join(missed)))
    )
    record = {"benchmark": "cascade_failover", "command": command, "ours": ours, "litellm": theirs}
    record |= {"ratios": ratios, "litellm_version": version, "litellm_settings": litellm_settings(args.timeout)}
    lines += ["", json.dumps(record, sort_keys=True)]
    return "\n".join(lines)


async def _our_round(args: argparse.Namespace, secondary: str, dead: str, slow: str) -> dict[str, Any]:
    async def factory(primary: str) -> Stack:
        return OurStack(primary, secondary, args.timeout)

    return await measure_round(factory, secondary=secondary, dead=dead, slow=slow, **round_settings(args))


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup-litellm", action="store_true", help="Create .venv-litellm first if needed.")
    parser.add_argument("--no-litellm", action="store_true", help="Measure our side only.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="Sequential samples per round (rows 0, 2).")
    parser.add_argument("--cold", type=int, default=3, help="Fresh stacks per round for row 1.")
    parser.add_argument("--timeouts", type=int, default=1, help="Fresh stacks per round for row 3.")
    parser.add_argument("--rps-requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=0.5, help="Seconds: both sides' request timeout.")
    return parser.parse_args(argv)


def command_line(argv: Sequence[str]) -> str:
    return " ".join([".venv/bin/python", "benchmarks/cascade_failover.py", *argv])


def main(argv: Sequence[str] | None = None) -> str:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    # log records are formatted and written, to nowhere (as LiteLLM's side does)
    discard_logs()
    if args.setup_litellm and not args.no_litellm:
        setup_litellm()
    use_litellm = not args.no_litellm and litellm_ready()
    secondary = Upstream()
    slow = Upstream("--fault", "slow", "--delay", str(SLOW_SECONDS))
    dead = dead_url()
    other: LiteLLMProcess | None = None
    try:
        if use_litellm:
            other = LiteLLMProcess(args, secondary.url, dead, slow.url)
        ours_rounds, their_rounds = [], []
        for index in range(args.rounds):
            started = time.perf_counter()
            ours_rounds.append(asyncio.run(_our_round(args, secondary.url, dead, slow.url)))
            if other is not None:
                their_rounds.append(other.round())
            print(f"round {index + 1}/{args.rounds}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    finally:
        if other is not None:
            other.stop()
        secondary.stop()
        slow.stop()
    ours = summarise(merge_rounds(ours_rounds))
    theirs: dict[str, Any] | None = None
    if their_rounds:
        version = their_rounds[0].pop("version", "")
        for r in their_rounds[1:]:
            r.pop("version", None)
        theirs = summarise(merge_rounds(their_rounds)) | {"version": version}
    text = report(args, command_line(argv), ours, theirs)
    print(text)
    return text


if __name__ == "__main__":
    main()
