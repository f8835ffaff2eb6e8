"""The Syncthing propagation benchmark runs end to end on real Syncthing (three writes; no timing asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from syncthing_pair import syncthing_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import syncthing_propagation

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(syncthing_binary() is None, reason="needs the syncthing binary (Debian package syncthing)"),
]


def test_the_benchmark_reports_every_row_with_the_folder_settings() -> None:
    text = syncthing_propagation.main(["--writes", "3"])
    assert "command: `.venv/bin/python benchmarks/syncthing_propagation.py --writes 3 --watcher-delay 1`" in text
    assert "fsWatcherEnabled=True, fsWatcherDelayS=1, rescanIntervalS=3600" in text
    rows = [line for line in text.splitlines() if line.startswith("| (")]
    assert [r.split("|")[1].strip()[:3] for r in rows] == ["(a)", "(b)", "(c)"]
    assert all(r.split("|")[2].strip() == "3" for r in rows)
