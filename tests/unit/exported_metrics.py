"""The metric names uni-wizard exports, read from its source, and the names a PromQL expression uses: so the
dashboards and alert rules can be checked to use no metric the code does not export (tests/unit/
test_grafana_dashboards.py, test_alert_rules.py).

A name is exported when the package's source spells it in quotes (``Counter("uniwizard_triage", ...)``) or
builds it from an f-string prefix and a quoted suffix of the same file (``f"uniwizard_syncthing_folder_{name}"``
over ``("need_bytes", ...)``); prometheus-client's own process and Python collectors are exported too.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "uni_wizard"
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")
CLIENT_NAMES = frozenset(
    {
        "up",
        "process_start_time_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_info",
    }
)
_NAME = re.compile(r"\b(uniwizard_[a-z0-9_]+|process_[a-z_]+|python_[a-z_]+|up)\b(?=\s*[{\[)])")


def exported_names() -> set[str]:
    """Every metric (family) name the package's source declares."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r'"(uniwizard_[a-z0-9_]+)"', text))
        for prefix in re.findall(r'f"(uniwizard_[a-z0-9_]+_)\{name\}"', text):
            names |= {prefix + suffix for suffix in re.findall(r'\(\s*"((?!uniwizard_)[a-z_]+)",', text)}
    return names


def used_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a name followed by ``{``, ``[`` or ``)``)."""
    return set(_NAME.findall(expr))


def unknown_names(expr: str, exported: set[str]) -> set[str]:
    """The names ``expr`` uses that are neither exported by the package nor by prometheus-client."""
    unknown = set()
    for name in used_names(expr):
        base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s) and name[: -len(s)] in exported), name)
        if base not in exported and name not in CLIENT_NAMES:
            unknown.add(name)
    return unknown
