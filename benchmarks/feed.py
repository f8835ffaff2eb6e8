"""The live feed on loopback: event → WebSocket client latency against the event log's own write time, and
triage latency with and without 200 WebSocket clients that never read.

    .venv/bin/python benchmarks/feed.py [--events 1000] [--clients 10] [--foreign 50] [--issues 20] [--slow 200]

Setup, all in this process on 127.0.0.1: the daemon's app (``create_app`` on a ``make_runtime`` runtime, with an
API token) served by uvicorn from its own thread (``ThreadedServer``), so the feed's broadcaster runs on the
server's event loop as in the daemon.

(1) Latency. ``--clients`` WebSocket clients (``websockets``' asyncio client, all in one thread of their own)
    follow ``/ws/events``. The main thread emits ``--events`` events one at a time through an ``EventLog`` of
    the daemon's store (``emit_sync``: as the dispatcher, a worker or the Harness write, in this process),
    2 ms apart. For each: the **baseline** is the event log's own write time (``emit_sync`` called → returned:
    the group commit with ``synchronous=FULL``); the **feed** figure is ``emit_sync`` called → the message
    received by a client, for every client. Target: p99 < 50 ms (issue 16).
(2) The same from another process's point of view: ``--foreign`` events written through a second ``Store`` of
    the same file (nothing in the daemon's process is woken), found by the broadcaster's poll
    (``POLL`` = 0.25 s): the latency a CLI write sees.
(3) Triage with slow clients: the machinery of ``triage_latency.py`` (devforge, example layout, webhook intake,
    dispatcher consuming the queue); webhook → triaged for ``--issues`` issues in four alternating blocks,
    without clients and with ``--slow`` clients connected that never read a byte (raw sockets, a 4 KiB
    receive buffer: they fall behind as soon as the kernel's buffers fill), p95 of each.
(4) What the ``tool.called`` event costs the Harness: ``harness_overhead.py``'s trivial tool in INTELLIGENT
    mode (every result after its provenance record's durable commit), one call at a time and 64 in flight,
    on two runtimes that differ only in the setting ``tool_call_events``; ``--rounds`` interleaved rounds of
    ``--calls`` calls, medians. The event is written in the record's transaction (no commit of its own).

Everything shares one process and the GIL on the machine's cores: read the ratios before the absolute times.
Prints Markdown tables with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness_overhead
import triage_latency as triage
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import connect

from uni_wizard import Call, Harness, Mode
from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.config import default_houses_dir
from uni_wizard.devforge import DevforgeServer
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.forge import GiteaClient
from uni_wizard.observe.events import EventLog
from uni_wizard.policy.loader import load_houses
from uni_wizard.store import Store
from uni_wizard.testing import RecordingTransport, make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.tools.builtin import builtin_registry
from uni_wizard.web.app import create_app

TOKEN = "bench-feed-token"
TARGET_P99 = 0.050  # seconds, event → client


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Latency:
    write: list[float] = field(default_factory=list)  # emit_sync called → returned
    feed: list[float] = field(default_factory=list)  # emit_sync called → received, every client
    foreign: list[float] = field(default_factory=list)  # written by another Store → received


class Clients:
    """``count`` WebSocket clients on a loop in their own thread; ``received[seq]``: the receive times."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.received: dict[int, list[float]] = {}
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self._stop: asyncio.Event | None = None

    async def _client(self) -> None:
        async with connect(self.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            self._connected += 1
            if self._connected == self.count:
                self.ready.set()
            async for message in ws:
                stamp = time.perf_counter()
                seq = int(str(message).split('"seq":', 1)[1].split(",", 1)[0])
                self.received.setdefault(seq, []).append(stamp)

    async def _run(self) -> None:
        self._connected = 0
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(self._client()) for _ in range(self.count)]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Clients:
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("the clients did not connect")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=10)
        self.loop.close()

    def wait_for(self, seq: int, timeout: float = 10.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(self.received.get(seq, ())) < self.count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"event {seq} did not reach every client within {timeout:g} s")
            time.sleep(0.0002)
        return self.received[seq]


def measure_latency(args: argparse.Namespace) -> Latency:
    out = Latency()
    with tempfile.TemporaryDirectory(prefix="uw-feed-bench-") as tmp:
        runtime = make_runtime(Path(tmp))
        app = create_app(runtime, api_token=TOKEN)
        log = EventLog(runtime.store, runtime.host)
        try:
            with ThreadedServer(app, name="daemon") as server:
                url = f"ws://127.0.0.1:{server.port}/ws/events"
                with Clients(url, args.clients) as clients:
                    for i in range(args.events):
                        started = time.perf_counter()
                        seq = log.emit_sync("issue.routed", f"bench:{i}", data={"house": "ezra", "i": i})
                        out.write.append(time.perf_counter() - started)
                        assert seq is not None
                        out.feed.extend(t - started for t in clients.wait_for(seq))
                        time.sleep(0.002)
                    foreign = Store(runtime.settings.db_path)
                    try:
                        other = EventLog(foreign, "cli")
                        for i in range(args.foreign):
                            started = time.perf_counter()
                            seq = other.emit_sync("command.handled", f"bench-cli:{i}")
                            assert seq is not None
                            out.foreign.extend(t - started for t in clients.wait_for(seq))
                            time.sleep(0.25 * ((i * 0.618) % 1))  # at every phase of the poll's beat
                    finally:
                        foreign.close()
        finally:
            runtime.close()
    return out


# -- (3) triage with slow clients ---------------------------------------------------------------------------------


def never_reading_client(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then reads nothing, ever."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
    )
    sock.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: nothing after the handshake is read
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"the feed refused a client: {head[:80]!r}")
    return sock


@dataclass
class TriageRuns:
    without: list[float] = field(default_factory=list)  # webhook → triaged, seconds
    with_slow: list[float] = field(default_factory=list)
    slow_connected: int = 0
    dropped: float = 0.0


async def measure_triage(args: argparse.Namespace) -> TriageRuns:
    out = TriageRuns()
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("UNIWIZARD_")}
    shipped = load_houses(default_houses_dir())
    houses = {n: p.model_copy(update={"max_concurrency": triage.CAPACITY}) for n, p in shipped.items()}
    with tempfile.TemporaryDirectory(prefix="uw-feed-triage-") as tmp:
        root = Path(tmp)
        probe = triage.Probe(asyncio.get_running_loop())
        runtime = make_runtime(root / "daemon", houses=houses)
        forge_server = DevforgeServer(root / "devforge", triage.ADMIN).start()
        app = create_app(runtime, api_token=TOKEN, webhook_secret=triage.SECRET)
        probe.wrap_intake(app.state.intake)
        daemon = ThreadedServer(app, name="daemon").start()
        stop = asyncio.Event()
        consumer: asyncio.Task[None] | None = None
        try:
            token = await triage.build_mesh(forge_server.url, daemon.url, root / "secrets", CollectorRegistry())
            allegro = (root / "secrets" / "allegro.token").read_text().strip()
            config = load_triage_config(runtime.settings.triage_config)
            hooked = f"{triage.ORG}/{triage.HOOKED}"
            config = config.model_copy(update={"dispatcher": config.dispatcher.model_copy(update={"repos": (hooked,)})})
            counter = RecordingTransport()
            async with (
                GiteaClient(forge_server.url, allegro, registry=runtime.metrics.registry, transport=counter) as bot,
                GiteaClient(forge_server.url, token, registry=CollectorRegistry()) as reporter,
            ):
                loop = build_dispatch_loop(runtime.settings, runtime, forge=bot, intake=app.state.intake, config=config)
                probe.wrap_dispatcher(loop.dispatcher, counter)
                await loop.dispatcher.lease.acquire()
                await loop.ensure_labels(hooked)
                await triage.hold_lease(loop)
                consumer = asyncio.create_task(triage.consume_forever(loop, stop, 0.005, probe))
                number = 0

                async def block(times: list[float], count: int) -> None:
                    nonlocal number
                    for _ in range(count):
                        title, body = triage.issue_text(number)
                        number += 1
                        started = time.perf_counter()
                        issue = await reporter.create_issue(triage.ORG, triage.HOOKED, title, body)
                        done = await probe.wait(issue.number)
                        times.append(done.done - started)
                        await triage.settle(forge_server.forge, app.state.intake)

                await block([], 3)  # warm-up
                half = max(1, args.issues // 2)
                for _ in range(2):
                    await block(out.without, half)
                    sockets = [await asyncio.to_thread(never_reading_client, daemon.port) for _ in range(args.slow)]
                    deadline = time.monotonic() + 10  # accepted first, then subscribed
                    while len(app.state.feed.subscribers) < args.slow and time.monotonic() < deadline:
                        await asyncio.sleep(0.01)
                    out.slow_connected = max(out.slow_connected, len(app.state.feed.subscribers))
                    try:
                        await block(out.with_slow, half)
                    finally:
                        for sock in sockets:
                            sock.close()
                    await asyncio.sleep(0.2)  # the server notices they left
                stop.set()
                await consumer
                dropped = runtime.metrics.registry.get_sample_value(
                    "uniwizard_feed_dropped_total", {"transport": "websocket"}
                )
                out.dropped = dropped or 0.0
        finally:
            stop.set()
            if consumer is not None and not consumer.done():
                consumer.cancel()
            daemon.stop()
            forge_server.stop()
            runtime.close()
            os.environ.update(saved)
    return out


# -- (4) the Harness with and without the tool.called event ------------------------------------------------------


async def measure_harness(args: argparse.Namespace) -> dict[str, list[float]]:
    """Calls per second, per variant, one figure per round."""
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="uw-feed-harness-") as tmp:
        harnesses: dict[bool, Harness] = {}
        runtimes = []
        for on in (True, False):
            registry = builtin_registry()
            registry.register(harness_overhead.noop)
            runtime = make_runtime(Path(tmp) / str(on), registry=registry, tool_call_events=on)
            runtimes.append(runtime)
            harnesses[on] = Harness("timmy", Mode.INTELLIGENT, runtime=runtime)
        try:

            async def many(harness: Harness, n: int) -> None:
                await harness.aexecute_many([Call("noop", {"text": "x"})] * n, concurrency=64)

            async def one_by_one(harness: Harness, n: int) -> None:
                for _ in range(n):
                    await harness.aexecute("noop", text="x")

            for harness in harnesses.values():
                await many(harness, 200)  # warm caches, create the stores
            for r in range(args.rounds):
                for on in (True, False) if r % 2 == 0 else (False, True):
                    for name, fn, n in (("many", many, args.calls), ("seq", one_by_one, max(1, args.calls // 5))):
                        started = time.perf_counter()
                        await fn(harnesses[on], n)
                        out.setdefault(f"{name}:{on}", []).append(n / (time.perf_counter() - started))
            events = EventLog(runtimes[0].store, runtimes[0].host).tail(0, 1, ["tool.called"])
            if not events:
                raise RuntimeError("the Harness logged no tool.called event")
        finally:
            for runtime in runtimes:
                runtime.close()
    return out


# -- the report ---------------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def report(lat: Latency, tri: TriageRuns, harness: dict[str, list[float]], args: argparse.Namespace) -> str:
    cmd = (
        f".venv/bin/python benchmarks/feed.py --events {args.events} --clients {args.clients} "
        f"--foreign {args.foreign} --issues {args.issues} --slow {args.slow} --calls {args.calls} "
        f"--rounds {args.rounds}"
    )
    w50, w99 = quantile(lat.write, 50), quantile(lat.write, 99)
    f50, f99 = quantile(lat.feed, 50), quantile(lat.feed, 99)
    lines = [
        f"command: `{cmd}`",
        "",
        f"(1) event → WebSocket client, {args.events} events, {args.clients} clients (in-process writer)",
        "",
        "| measurement | p50 ms | p99 ms | ratio to baseline (p50 / p99) | target |",
        "|---|---:|---:|---:|---|",
        f"| event log write, `emit_sync` called → returned (baseline) | {ms(w50)} | {ms(w99)} | 1.00 / 1.00 | |",
        f"| `emit_sync` called → message received by a client | {ms(f50)} | {ms(f99)} | "
        f"{f50 / w50:.2f} / {f99 / w99:.2f} | p99 < 50 ms: {'met' if f99 < TARGET_P99 else '**missed**'} |",
    ]
    if lat.foreign:
        o50, o99 = quantile(lat.foreign, 50), quantile(lat.foreign, 99)
        lines.append(
            f"| written by another process's `Store` → received (the poll, 250 ms) | {ms(o50)} | {ms(o99)} | "
            f"{o50 / w50:.2f} / {o99 / w99:.2f} | |"
        )
    if tri.without:
        n50, n95 = quantile(tri.without, 50), quantile(tri.without, 95)
        s50, s95 = quantile(tri.with_slow, 50), quantile(tri.with_slow, 95)
        lines += [
            "",
            f"(3) webhook → triaged, {len(tri.without)} issues without clients and {len(tri.with_slow)} with "
            f"{args.slow} clients that never read ({tri.slow_connected} subscribed at most; "
            f"dropped for falling behind: {tri.dropped:.0f}), alternating blocks",
            "",
            "| measurement | p50 ms | p95 ms | ratio to baseline (p95) |",
            "|---|---:|---:|---:|",
            f"| no feed clients (baseline) | {ms(n50)} | {ms(n95)} | 1.00 |",
            f"| {args.slow} feed clients that never read | {ms(s50)} | {ms(s95)} | {s95 / n95:.2f} |",
        ]
    if harness:
        lines += [
            "",
            f"(4) the Harness, trivial tool, INTELLIGENT (durable), medians of {args.rounds} interleaved rounds",
            "",
            "| measurement | calls/s | ratio to baseline |",
            "|---|---:|---:|",
        ]
        for name, label in (("many", "64 in flight"), ("seq", "one at a time")):
            off, on = statistics.median(harness[f"{name}:False"]), statistics.median(harness[f"{name}:True"])
            lines.append(f"| {label}, `tool_call_events: false` (baseline) | {off:,.0f} | 1.000 |")
            lines.append(
                f"| {label}, `tool_call_events: true` (a `tool.called` event per call) | {on:,.0f} | {on / off:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1000, help="events for the latency (1)")
    parser.add_argument("--clients", type=int, default=10, help="WebSocket clients that read (1, 2)")
    parser.add_argument("--foreign", type=int, default=50, help="events written by another Store (2; 0: skip)")
    parser.add_argument("--issues", type=int, default=20, help="issues triaged per variant (3; 0: skip)")
    parser.add_argument("--slow", type=int, default=200, help="clients that never read during (3)")
    parser.add_argument("--calls", type=int, default=3000, help="Harness calls per variant and round (4; 0: skip)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of (4)")
    args = parser.parse_args(argv)
    if args.events < 2 or args.clients < 1 or args.rounds < 1 or min(args.foreign, args.issues, args.slow) < 0:
        parser.error("--events must be at least 2, --clients at least 1, the others at least 0")
    latency = measure_latency(args)
    runs = asyncio.run(measure_triage(args)) if args.issues else TriageRuns()
    harness = asyncio.run(measure_harness(args)) if args.calls else {}
    text = report(latency, runs, harness, args)
    print(text)
    return text


if __name__ == "__main__":
    main()
