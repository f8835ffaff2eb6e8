"""Dispatch under load: issues with multi-megabyte bodies against small ones, /health and the watchdog.

    .venv/bin/python benchmarks/dispatch_load.py [--big 20] [--big-mb 2,5] [--small 20] [--interval 0.5]
                                                 [--poll 5] [--health-ms 50] [--watchdog-s 1]
                                                 [--workers process,thread]

Everything on 127.0.0.1, each part its own OS process, as in production: the devforge (``uni-wizard forge
serve``), bootstrapped with the ``work`` repository of ``configs/forge-layout.example.yaml`` (its webhook
pointed at the daemon), and one real daemon (``uni-wizard serve``, role ``dispatcher``, acting as allegro,
watching ``mesh/work``, ``poll_seconds`` = ``--poll``, ``triage_workers`` = each of ``--workers`` in turn;
the rest of ``configs/triage.yaml`` as shipped). The daemon runs as under systemd's watchdog:
``NOTIFY_SOCKET`` is a datagram socket of the probe and ``WATCHDOG_USEC`` is ``--watchdog-s``, so it pings
every half of that. The probe, a third process doing nothing else, sends ``GET /health`` every
``--health-ms`` (one keep-alive connection, one request at a time) and stamps every ``WATCHDOG=1`` it
receives. The benchmark process files the issues (as timmy, bodies encoded beforehand) and reads when each
was triaged: the ``at`` of its ``issue.routed`` event in the daemon's event log (``GET /api/v1/events``;
the event is written once the audit comment, the labels and the assignee are applied).

For each ``--workers`` value, on a fresh forge and daemon, two phases:

- **idle** (the baseline): ``--small`` small issues, one every ``--interval`` seconds; nothing else.
- **load**: ``--big`` issues whose bodies are ``--big-mb`` megabytes (spread evenly from the first figure to
  the second: deterministic words, as a pasted log would be), filed back to back from the start of the phase,
  while small issues keep arriving every ``--interval`` seconds until at least ``--small`` were filed and every
  big issue was triaged. Bodies over the intake's 5 MiB limit are refused by the daemon's webhook (413) and
  found by the next sweep, as they would be.

Reported for each phase: created → triaged for the small issues (p50, p95, max) and the big ones, ``/health``
latency (p50, p99, max; ``/health`` commits a write transaction, so it waits for the store's writer too), the
round trip of a request for a path no route has (answered 404 by the router on the event loop, touching no
store: the loop's own responsiveness), the gap between watchdog pings (p50, p99, max; the expected gap is
half of ``--watchdog-s``), the daemon's peak resident memory, and the daemon's counters over the phase
(forge requests and the seconds spent waiting for them, webhook deliveries queued, deliveries refused for
their size), each with its ratio to the idle phase of the same run.
Prints Markdown tables with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.forge.bootstrap import bootstrap, load_layout

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "configs" / "forge-layout.example.yaml"
TRIAGE = ROOT / "configs" / "triage.yaml"
ADMIN = ("root", "root-password-1")
API_TOKEN = "dispatch-load-token"
ORG, REPO = "mesh", "work"
START_TIMEOUT = 60.0
WAIT = 600.0  # seconds: give up on an issue after this long
HEALTH_GOAL = 1.0  # seconds, /health p99 under load
LOG_LINE = (
    "the server crashed again after the upgrade and the log shows a traceback in the worker while the disk was "
    "nearly full so the queue kept growing until the watchdog restarted it twice"
)
WORDS = tuple(LOG_LINE.split(" "))
SMALL = (
    ("Server crashes on start with a traceback ({n})", "Steps to reproduce: run it.\n\n- [ ] no crash"),
    ("Write the architecture document for the router ({n})", "## Acceptance criteria\n- [ ] a diagram"),
    ("Add tests for the lease ({n})", "The lease has no test for a takeover."),
)


def command(args: argparse.Namespace) -> str:
    return (
        f".venv/bin/python benchmarks/dispatch_load.py --big {args.big} --big-mb {args.big_mb} --small {args.small} "
        f"--interval {args.interval:g} --poll {args.poll:g} --health-ms {args.health_ms:g} "
        f"--watchdog-s {args.watchdog_s:g} --workers {args.workers}"
    )


def big_body(size: int, seed: int) -> str:
    """``size`` characters of log-like words, different for each ``seed``."""
    line = " ".join(WORDS[(i * 7 + seed) % len(WORDS)] for i in range(40))
    lines = (f"{n:08d} {seed:03d} {line}\n" for n in range(size // (len(line) + 14) + 1))
    return ("The service fails under load; the whole log follows.\n\n" + "".join(lines))[:size]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the probe: /health and the watchdog, in a process of its own ------------------------------------------------------


def probe_main(url: str, period: float, notify_path: str, conn: Connection) -> None:
    """Until told ``stop``: on ``start``, sample ``/health`` and stamp watchdog pings; on ``take``, send them back."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    pings: list[float] = []
    health: list[tuple[float, float, bool]] = []  # (started, latency, answered 200)
    loop: list[float] = []  # latency of a path no route has: the router's 404, on the event loop alone
    sampling = threading.Event()

    def listen() -> None:
        while True:
            data = sock.recv(4096)
            if b"WATCHDOG=1" in data:
                pings.append(time.monotonic())

    def sample() -> None:
        with httpx.Client(timeout=60.0) as client:
            while True:
                sampling.wait()
                started = time.monotonic()
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                health.append((started, time.monotonic() - started, ok))
                before = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(url.replace("/health", "/-/no-such-route"))
                loop.append(time.monotonic() - before)
                time.sleep(max(0.0, period - (time.monotonic() - started)))

    threading.Thread(target=listen, daemon=True).start()
    threading.Thread(target=sample, daemon=True).start()
    conn.send("ready")
    while True:
        order = conn.recv()
        if order == "start":
            pings.clear()
            health.clear()
            loop.clear()
            sampling.set()
        elif order == "take":
            sampling.clear()
            conn.send((list(health), list(loop), list(pings)))
        else:
            return


@dataclass
class Probe:
    process: multiprocessing.process.BaseProcess
    conn: Connection

    @classmethod
    def start(cls, url: str, period: float, notify_path: Path) -> Probe:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=probe_main, args=(url, period, str(notify_path), child), daemon=True)
        process.start()
        if not parent.poll(START_TIMEOUT):
            raise RuntimeError("the probe did not start")
        parent.recv()
        return cls(process, parent)

    def begin(self) -> None:
        self.conn.send("start")

    def take(self) -> tuple[list[tuple[float, float, bool]], list[float], list[float]]:
        self.conn.send("take")
        health, loop, pings = self.conn.recv()
        return health, loop, pings

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


# -- the forge and the daemon ---------------------------------------------------------------------------------------


@dataclass
class Services:
    home: Path
    forge_port: int
    daemon_port: int
    forge: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None

    @property
    def forge_url(self) -> str:
        return f"http://127.0.0.1:{self.forge_port}/"

    @property
    def daemon_url(self) -> str:
        return f"http://127.0.0.1:{self.daemon_port}"

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.home / f"{name}.log").open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-c", "from uni_wizard.cli import run; run()", *argv],
                env=env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")[-4000:]

    def peak_rss_mb(self) -> float:
        assert self.daemon is not None
        status = Path(f"/proc/{self.daemon.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return int(match[1]) / 1024 if match else float("nan")

    def stop(self) -> None:
        for proc in (self.daemon, self.forge):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_")}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    return env


async def wait_up(url: str, proc: subprocess.Popen[bytes], what: str, services: Services) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the {what} exited:\n{services.log(what)}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the {what} did not answer within {START_TIMEOUT:g} s:\n{services.log(what)}")


async def start_forge(services: Services) -> Path:
    """The devforge, the users and ``mesh/work`` with its hook at the daemon; the secrets directory."""
    admin = services.home / "forge-admin"
    admin.write_text(f"{ADMIN[0]}:{ADMIN[1]}\n")
    argv = ["forge", "serve", "--data", str(services.home / "forge"), "--port", str(services.forge_port)]
    services.forge = services.spawn("forge", [*argv, "--admin-file", str(admin)], clean_env())
    await wait_up(services.forge_url + "api/v1/version", services.forge, "forge", services)
    layout = load_layout(LAYOUT)
    hook = f"{services.daemon_url}/hooks/gitea"
    work = next(r for r in layout.repos if r.name == REPO)
    work = work.model_copy(update={"hooks": tuple(h.model_copy(update={"url": hook}) for h in work.hooks)})
    secrets = services.home / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "webhook.secret").write_text("dispatch-load-webhook-secret\n")
    (secrets / "webhook.secret").chmod(0o600)  # a secret file readable by others is warned about
    await bootstrap(
        layout.model_copy(update={"repos": (work,)}), url=services.forge_url, admin=ADMIN, secrets_dir=secrets
    )
    return secrets


def daemon_settings(services: Services, secrets: Path, workers: str, poll: float) -> Path:
    triage = yaml.safe_load(TRIAGE.read_text())
    triage["dispatcher"].update(repos=[f"{ORG}/{REPO}"], poll_seconds=poll, triage_workers=workers)
    (services.home / "triage.yaml").write_text(yaml.safe_dump(triage))
    settings = {
        "host": "load-host",
        "port": services.daemon_port,
        "data_dir": str(services.home / "data"),
        "workspace": str(services.home / "workspace"),
        "roles": ["dispatcher"],
        "gitea_url": services.forge_url,
        "gitea_token_file": str(secrets / "allegro.token"),
        "webhook_secret_file": str(secrets / "webhook.secret"),
        "api_token": API_TOKEN,
        "triage_config": str(services.home / "triage.yaml"),
    }
    path = services.home / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


async def start_daemon(services: Services, settings: Path, notify: Path, watchdog_s: float) -> None:
    env = clean_env()
    env.update(NOTIFY_SOCKET=str(notify), WATCHDOG_USEC=str(int(watchdog_s * 1_000_000)))
    services.daemon = services.spawn("daemon", ["--config", str(settings), "serve"], env)
    await wait_up(services.daemon_url + "/health", services.daemon, "daemon", services)


# -- filing issues and seeing them triaged --------------------------------------------------------------------------


@dataclass
class Triaged:
    """``issue.routed`` events read from the daemon: issue number -> UNIX time of the event."""

    at: dict[int, float] = field(default_factory=dict)
    seq: int = 0

    async def follow(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            params = {"since": self.seq, "limit": 1000, "kind": "issue.routed"}
            answer = await http.get("/api/v1/events", params=params)
            answer.raise_for_status()
            page = answer.json()
            for event in page["events"]:
                stamp = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
                self.at.setdefault(int(event["number"]), stamp)
            self.seq = int(page["last_seq"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


async def file_issue(forge: httpx.AsyncClient, payload: bytes) -> tuple[int, float]:
    """POST a pre-encoded issue; its number and the UNIX time just before the request."""
    created = time.time()
    answer = await forge.post(f"/api/v1/repos/{ORG}/{REPO}/issues", content=payload)
    answer.raise_for_status()
    return int(answer.json()["number"]), created


def issue_payload(title: str, body: str) -> bytes:
    return json.dumps({"title": title, "body": body}).encode()


def big_payloads(args: argparse.Namespace) -> list[bytes]:
    low, high = (float(x) for x in args.big_mb.split(","))
    sizes = [low + (high - low) * i / max(1, args.big - 1) for i in range(args.big)]
    return [
        issue_payload(f"The service fails under load, full log attached ({i})", big_body(int(mb * 1_000_000), i))
        for i, mb in enumerate(sizes)
    ]


@dataclass
class Phase:
    name: str
    small: list[float]  # created -> triaged, seconds
    big: list[float]
    health: list[float]  # /health latency, seconds
    loop: list[float]  # a 404 from the router: the event loop alone, seconds
    gaps: list[float]  # between watchdog pings, seconds
    failed_health: int
    peak_rss_mb: float
    seconds: float
    counters: dict[str, float] = field(default_factory=dict)  # the daemon's counters over the phase


COUNTED = {
    "forge requests": ("uniwizard_forge_request_duration_seconds_count", {}),
    "forge seconds": ("uniwizard_forge_request_duration_seconds_sum", {}),
    "webhooks queued": ("uniwizard_webhooks_received_total", {"outcome": "accepted"}),
    "webhooks over 5 MiB": ("uniwizard_http_refused_total", {"route": "hooks", "reason": "too_large"}),
}


async def counters(daemon: httpx.AsyncClient) -> dict[str, float]:
    """The daemon's counters named in ``COUNTED`` (summed over their other labels)."""
    text = (await daemon.get("/metrics", follow_redirects=True)).text
    out = dict.fromkeys(COUNTED, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for key, (name, labels) in COUNTED.items():
                if sample.name == name and labels.items() <= sample.labels.items():
                    out[key] += sample.value
    return out


async def run_phase(
    name: str, services: Services, probe: Probe, secrets: Path, args: argparse.Namespace, bigs: list[bytes]
) -> Phase:
    token = (secrets / "timmy.token").read_text().strip()
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    created: dict[int, tuple[str, float]] = {}
    triaged, stop = Triaged(), asyncio.Event()
    daemon = httpx.AsyncClient(base_url=services.daemon_url, headers={"Authorization": f"Bearer {API_TOKEN}"})
    forge = httpx.AsyncClient(base_url=services.forge_url, headers=headers, timeout=120.0)
    started = time.monotonic()
    probe.begin()
    async with daemon, forge:
        before = await counters(daemon)
        following = asyncio.create_task(triaged.follow(daemon, stop))
        filing = asyncio.create_task(file_big(forge, bigs, created))
        await file_small(forge, created, triaged, filing, args)
        await filing
        await wait_all(triaged, created, following)
        stop.set()
        await following
        after = await counters(daemon)
    health, loop, pings = probe.take()
    phase = summarize(name, created, triaged, health, pings, services.peak_rss_mb(), time.monotonic() - started)
    phase.loop = loop
    phase.counters = {key: after[key] - before[key] for key in COUNTED}
    return phase


async def file_big(forge: httpx.AsyncClient, bigs: list[bytes], created: dict[int, tuple[str, float]]) -> None:
    for payload in bigs:
        number, at = await file_issue(forge, payload)
        created[number] = ("big", at)


async def file_small(
    forge: httpx.AsyncClient,
    created: dict[int, tuple[str, float]],
    triaged: Triaged,
    filing: asyncio.Task[None],
    args: argparse.Namespace,
) -> None:
    """Small issues every ``--interval`` until ``--small`` were filed and every big one is triaged."""
    n = 0

    def bigs_pending() -> bool:
        return not filing.done() or any(kind == "big" and k not in triaged.at for k, (kind, _) in created.items())

    while n < args.small or bigs_pending():
        title, body = SMALL[n % len(SMALL)]
        number, at = await file_issue(forge, issue_payload(title.format(n=n), body))
        created[number] = ("small", at)
        n += 1
        await asyncio.sleep(args.interval)


async def wait_all(triaged: Triaged, created: dict[int, tuple[str, float]], following: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + WAIT
    while any(number not in triaged.at for number in created):
        if following.done():
            following.result()  # raises what stopped it
        if time.monotonic() > deadline:
            missing = sorted(n for n in created if n not in triaged.at)
            raise RuntimeError(f"issues {missing} were not triaged within {WAIT:g} s")
        await asyncio.sleep(0.1)


def summarize(
    name: str,
    created: dict[int, tuple[str, float]],
    triaged: Triaged,
    health: list[tuple[float, float, bool]],
    pings: list[float],
    rss: float,
    seconds: float,
) -> Phase:
    waits = {kind: [triaged.at[n] - at for n, (k, at) in created.items() if k == kind] for kind in ("small", "big")}
    latencies = [latency for _, latency, _ in health]
    failed = sum(1 for *_, ok in health if not ok)
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    return Phase(name, waits["small"], waits["big"], latencies, [], gaps, failed, rss, seconds)


# -- one run per worker kind ----------------------------------------------------------------------------------------


async def measure(workers: str, args: argparse.Namespace, bigs: list[bytes]) -> list[Phase]:
    with tempfile.TemporaryDirectory(prefix="dl-") as tmp:
        home = Path(tmp)
        services = Services(home, free_port(), free_port())
        notify = home / "notify.sock"
        probe: Probe | None = None
        try:
            secrets = await start_forge(services)
            probe = Probe.start(services.daemon_url + "/health", args.health_ms / 1000, notify)
            await start_daemon(
                services, daemon_settings(services, secrets, workers, args.poll), notify, args.watchdog_s
            )
            await asyncio.sleep(args.poll + 1)  # the first turn: labels, the first full sweep
            idle = await run_phase("idle", services, probe, secrets, args, [])
            load = await run_phase("load", services, probe, secrets, args, bigs)
            return [idle, load]
        finally:
            if probe is not None:
                probe.stop()
            services.stop()


# -- the report -----------------------------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)  # nearest rank
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base > 0 else "-"


def rows(idle: Phase, load: Phase, args: argparse.Namespace) -> list[str]:
    expected = args.watchdog_s / 2
    table = [
        ("small issue: created → triaged", "s", idle.small, load.small, (50, 95, 100)),
        ("`/health` latency", "ms", idle.health, load.health, (50, 99, 100)),
        ("event loop round trip (a 404)", "ms", idle.loop, load.loop, (50, 99, 100)),
        (f"watchdog ping gap (expected {expected:g} s)", "s", idle.gaps, load.gaps, (50, 99, 100)),
    ]
    out = []
    for label, unit, base, loaded, qs in table:
        scale = 1000.0 if unit == "ms" else 1.0
        for q in qs:
            name = "max" if q == 100 else f"p{q}"
            b, v = pct(base, q) * scale, pct(loaded, q) * scale
            out.append(f"| {label}, {name} ({unit}) | {b:.3g} | {v:.3g} | {ratio(v, b)} |")
    out.append(
        f"| big issue: created → triaged, p50 / max (s) | - | {pct(load.big, 50):.3g} / {pct(load.big, 100):.3g} | |"
    )
    out.append(f"| daemon peak resident memory (MB) | {idle.peak_rss_mb:.0f} | {load.peak_rss_mb:.0f} | "
               f"{ratio(load.peak_rss_mb, idle.peak_rss_mb)} |")  # fmt: skip
    for key in COUNTED:
        b, v = idle.counters.get(key, 0.0), load.counters.get(key, 0.0)
        out.append(f"| {key} during the phase | {b:.4g} | {v:.4g} | {ratio(v, b)} |")
    return out


def report_mode(workers: str, idle: Phase, load: Phase, args: argparse.Namespace) -> list[str]:
    p99 = pct(load.health, 99)
    lines = [
        f"### `triage_workers: {workers}`",
        "",
        f"idle: {len(idle.small)} small issues in {idle.seconds:.0f} s, {len(idle.health)} `/health` samples, "
        f"{len(idle.gaps) + 1} watchdog pings; load: {len(load.big)} big issues ({args.big_mb} MB) and "
        f"{len(load.small)} small ones in {load.seconds:.0f} s, {len(load.health)} `/health` samples "
        f"({load.failed_health} not answered 200; idle {idle.failed_health}), {len(load.gaps) + 1} watchdog pings",
        "",
        "| measure | idle (baseline) | under load | ratio |",
        "|---|---:|---:|---:|",
        *rows(idle, load, args),
        "",
        f"`/health` p99 under load < {HEALTH_GOAL:g} s: {'met' if p99 < HEALTH_GOAL else 'NOT met'} "
        f"({p99:.3f} s); small issues triaged under load at p95 in {pct(load.small, 95):.2f} s "
        f"(idle p95 {pct(idle.small, 95):.2f} s, median {statistics.median(load.small):.2f} s).",
    ]
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--big", type=int, default=20, help="issues with multi-megabyte bodies")
    parser.add_argument("--big-mb", default="2,5", help="their body sizes, MB: from the first to the second")
    parser.add_argument("--small", type=int, default=20, help="small issues per phase (at least)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between small issues")
    parser.add_argument("--poll", type=float, default=5.0, help="the dispatcher's poll_seconds")
    parser.add_argument("--health-ms", type=float, default=50.0, help="milliseconds between /health requests")
    parser.add_argument("--watchdog-s", type=float, default=1.0, help="WatchdogSec= (pings every half of it)")
    parser.add_argument("--workers", default="process,thread", help="triage_workers values to run, in order")
    args = parser.parse_args(argv)
    kinds = args.workers.split(",")
    if args.big < 1 or args.small < 1 or min(args.interval, args.poll, args.health_ms, args.watchdog_s) <= 0:
        parser.error("--big and --small must be at least 1; the times must be positive")
    if any(kind not in ("process", "thread") for kind in kinds) or len(args.big_mb.split(",")) != 2:
        parser.error("--workers takes process and/or thread; --big-mb takes two sizes: LOW,HIGH")
    bigs = big_payloads(args)
    lines = [f"command: `{command(args)}`", ""]
    for kind in kinds:
        idle, load = asyncio.run(measure(kind, args, bigs))
        lines += [*report_mode(kind, idle, load, args), ""]
    text = "\n".join(lines).rstrip() + "\n"
    print(text)
    return text


if __name__ == "__main__":
    main()
