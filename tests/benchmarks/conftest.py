"""The benchmark smoke tests: each runs one script of ``benchmarks/`` end to end at tiny sizes and checks its
report (no timing is asserted). The scripts are plain modules, imported by name from that directory."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
