"""Syncthing propagation of a heartbeat: from the write on host A to its appearance on host B.

    .venv/bin/python benchmarks/syncthing_propagation.py [--writes 50] [--watcher-delay 1]

Setup: two real Syncthing instances (the ``syncthing`` binary, Debian 1.19) on loopback, paired and
sharing one folder, built by ``tests/system/syncthing_pair.py`` (private homes, discovery and relays off;
the folder has ``fsWatcherEnabled`` true, ``fsWatcherDelayS`` = ``--watcher-delay``, rescan 3600 s).
Host A's heartbeat is written by the product's ``SpoolWriter.write_heartbeat`` (an atomic rename of
``.syncthing.heartbeat.json.<pid>.tmp``) under ``<A's folder>/alpha/``; the clock (``perf_counter``)
starts just before the write and stops when B's copy of ``alpha/heartbeat.json`` parses with the new
``seq`` (polled every ``POLL`` seconds, so a figure may be up to that much late). One write at a time:
the next starts once the previous arrived.

Three rows, interleaved write by write (A, B, C, A, B, C...):
  (a) baseline: the same atomic heartbeat write and a read of it from the same disk with no Syncthing
      (what the spool costs by itself);
  (b) write, then ``POST /rest/db/scan?folder=..&sub=alpha`` on A: Syncthing's own transfer time, no
      waiting for the file-system watcher;
  (c) write only: what the mesh sees in production, with the watcher noticing the change.
The ratios: (b)/(a) is the price of going through Syncthing at all; (c) over the configured watcher
delay says how much of the latency is the watcher's aggregation window (a ratio near 1 means the delay
setting, not the transfer, is what a peer waits for).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "system"))

from syncthing_pair import SyncthingPair, syncthing_binary

from uni_wizard.mesh.spool import SpoolWriter
from uni_wizard.mesh.spool_files import HostFiles, JsonState
from uni_wizard.observe.events import EventLog
from uni_wizard.store import Store

POLL = 0.002
TIMEOUT = 60.0
FOLDER_ID = "bench"


def seq_of(path: Path) -> int:
    try:
        return int(json.loads(path.read_bytes())["seq"])
    except (OSError, ValueError, KeyError):
        return -1


def wait_for_seq(path: Path, seq: int) -> float:
    """``perf_counter`` when ``path`` holds heartbeat ``seq``."""
    deadline = time.perf_counter() + TIMEOUT
    while True:
        now = time.perf_counter()
        if seq_of(path) >= seq:
            return now
        if now > deadline:
            raise TimeoutError(f"heartbeat seq {seq} did not reach {path} within {TIMEOUT:g} s")
        time.sleep(POLL)


def measure(writer: SpoolWriter, target: Path, after_write: Callable[[], None]) -> float:
    started = time.perf_counter()
    beat = writer.write_heartbeat()
    after_write()
    return wait_for_seq(target, int(beat["seq"])) - started


def row(name: str, samples: list[float], base: float | None, base_name: str) -> str:
    p50, top = statistics.median(samples), max(samples)
    ratio = f"{p50 / base:.2f} ({base_name})" if base else ""
    return f"| {name} | {len(samples)} | {p50 * 1000:.1f} | {top * 1000:.1f} | {ratio} |"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=50, help="heartbeat writes per row")
    parser.add_argument("--watcher-delay", type=int, default=1, help="the folder's fsWatcherDelayS")
    args = parser.parse_args(argv)
    if syncthing_binary() is None:
        raise SystemExit("this benchmark needs the syncthing binary (Debian package syncthing)")
    with tempfile.TemporaryDirectory(prefix="st-bench-") as tmp:
        root = Path(tmp)
        store = Store(root / "a.db")
        pair = SyncthingPair(root / "st", folder_id=FOLDER_ID, watcher_delay_seconds=args.watcher_delay)
        try:
            with pair:
                text = run(pair, store, root, args)
        finally:
            store.close()
    print(text)
    return text


def run(pair: SyncthingPair, store: Store, root: Path, args: argparse.Namespace) -> str:
    events = EventLog(store, "alpha")
    synced = SpoolWriter(pair.alpha.data, "alpha", events, JsonState(root / "cursor-a.json"))
    local_root = root / "plain"
    local_root.mkdir()
    plain = SpoolWriter(local_root, "alpha", events, JsonState(root / "cursor-plain.json"))
    for writer in (synced, plain):
        assert writer.folder_problem() is None
    config = pair.alpha.api("GET", f"/rest/config/folders/{FOLDER_ID}")
    on_b = HostFiles(pair.beta.data, "alpha").heartbeat
    measure(synced, on_b, lambda: None)  # warm-up: the directories and the first index exchange

    def scan() -> None:
        pair.alpha.api("POST", f"/rest/db/scan?folder={FOLDER_ID}&sub=alpha", timeout=30)

    baseline: list[float] = []
    scanned: list[float] = []
    watched: list[float] = []
    for _ in range(args.writes):
        baseline.append(measure(plain, HostFiles(local_root, "alpha").heartbeat, lambda: None))
        scanned.append(measure(synced, on_b, scan))
        watched.append(measure(synced, on_b, lambda: None))
    delay = float(config["fsWatcherDelayS"])
    command = "`.venv/bin/python benchmarks/syncthing_propagation.py " + shlex.join(
        ["--writes", str(args.writes), "--watcher-delay", str(args.watcher_delay)]
    )
    lines = [
        f"command: {command}`",
        "",
        f"Syncthing: {syncthing_version(pair)}; folder `{FOLDER_ID}`: fsWatcherEnabled="
        f"{config['fsWatcherEnabled']}, fsWatcherDelayS={config['fsWatcherDelayS']}, "
        f"rescanIntervalS={config['rescanIntervalS']}; poll every {POLL * 1000:g} ms",
        "",
        "| heartbeat write on A → readable on B | writes | p50 ms | max ms | p50 ratio |",
        "|---|---:|---:|---:|---|",
        row("(a) baseline: atomic write + read, same disk, no Syncthing", baseline, None, ""),
        row("(b) write + `POST /rest/db/scan` on A (no watcher wait)", scanned, statistics.median(baseline), "to (a)"),
        row("(c) write only, the fs watcher notices (production)", watched, delay, "to fsWatcherDelayS"),
    ]
    return "\n".join(lines)


def syncthing_version(pair: SyncthingPair) -> str:
    return str(pair.alpha.api("GET", "/rest/system/version")["version"])


if __name__ == "__main__":
    main()
