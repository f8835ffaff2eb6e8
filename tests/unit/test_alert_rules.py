"""The Prometheus alert rules of configs/alerts: ``promtool check rules`` clean, ``promtool test rules`` passing,
each alert unit-tested firing in configs/alerts/tests, and every expression on metrics the package exports.

promtool comes with Debian's ``prometheus`` package (``make sysdeps``); without it the promtool tests skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from exported_metrics import exported_names, unknown_names

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "configs" / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.yml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)")


def rules() -> list[dict[str, Any]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            found.extend(group["rules"])
    return found


def promtool(*args: str, cwd: Path = ALERTS) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_checks_the_rules_clean() -> None:
    done = promtool("check", "rules", *(p.name for p in RULE_FILES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr


@needs_promtool
@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.stem)
def test_promtool_unit_tests_pass(path: Path) -> None:
    done = promtool("test", "rules", path.name, cwd=path.parent)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_a_broken_expectation_fails_promtool(tmp_path: Path) -> None:
    """The unit tests can fail: the same test expecting another severity does."""
    source = ALERTS / "tests" / "mesh_test.yml"
    broken = yaml.safe_load(source.read_text(encoding="utf-8"))
    broken["rule_files"] = [str(ALERTS / "mesh.yml")]
    broken["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["severity"] = "ticket"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert promtool("test", "rules", "broken.yml", cwd=tmp_path).returncode != 0


def test_every_alert_is_unit_tested_firing() -> None:
    fired: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            fired |= {t["alertname"] for t in case.get("alert_rule_test", ()) if t.get("exp_alerts")}
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts - fired == set()
    assert len(alerts) == len([rule for rule in rules() if "alert" in rule]), "an alert name repeats"


def test_every_rule_uses_metrics_the_package_exports() -> None:
    exported = exported_names()
    for rule in rules():
        assert unknown_names(rule["expr"], exported) == set(), rule.get("alert")
        assert rule["labels"]["severity"] in ("page", "ticket"), rule.get("alert")
        assert rule["annotations"]["summary"], rule.get("alert")
