"""``uni-wizard route --explain`` through ``main(argv)``, with a temporary data directory and workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uni_wizard.cli import main
from uni_wizard.dispatch.history import RoutingLedger
from uni_wizard.store import Store


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir, workspace = tmp_path / "data", tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(workspace))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    return data_dir


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["route", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_explain_prints_the_triage_and_the_table(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--explain", "The daemon crashes on startup\nA regression since 0.3, traceback attached.")
    assert code == 0, out
    assert "title: The daemon crashes on startup" in out
    assert "kind: bug (rules)" in out
    bug_line = next(line for line in out.splitlines() if line.strip().startswith("bug "))
    assert "crash" in bug_line and "regression" in bug_line and "traceback" in bug_line
    assert "priority: P1 (rule: a broken core path)" in out
    assert "needs-info: yes" in out and "epic: no" in out
    assert "labels: kind/bug, priority/P1, needs-info" in out
    for house in ("bezalel", "ezra", "timmy", "allegro"):
        assert any(line.startswith(house + " ") for line in out.splitlines()), house
    assert "house" in out and "history" in out and "total" in out
    assert "chosen: bezalel; runner-up: ezra" in out
    assert "no: may not take issues" in out


def test_title_option_and_kind_override(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--explain", "Please write it down.", "--title", "Architecture", "--kind", "docs")
    assert code == 0, out
    assert "title: Architecture" in out
    assert "routing (docs):" in out
    assert "chosen: ezra" in out


def test_seed_false_positive_does_not_go_to_the_implementer(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--explain", "Decide whether the latest capital plan is already in the prefix", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["triage"]["kind"] == "task"
    assert all(entry["terms"] == [] for entry in data["kind_matches"].values())
    parts = {c["house"]: c for c in data["routing"]["candidates"]}
    assert parts["bezalel"]["text"] == 0 and parts["ezra"]["text"] == 0
    assert data["routing"]["chosen"] != "allegro"


def test_history_from_the_store_is_used(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(data_dir / "uni-wizard.db")
    ledger = RoutingLedger(store)
    for n in range(5):
        ledger.record_outcome("ezra", "task", "mesh/work", n, success=True, duration=1.0)
        ledger.record_outcome("bezalel", "task", "mesh/work", n, success=False, duration=1.0)
    store.close()
    code, out = run(capsys, "--explain", "Code review", "--json")
    assert code == 0, out
    routing = json.loads(out)["routing"]
    assert routing["chosen"] == "ezra"
    parts = {c["house"]: c for c in routing["candidates"]}
    recent = sum(0.8**k for k in range(5))  # five outcomes, each older one weighed 0.8 more (KIND_DECAY)
    assert parts["ezra"]["history"] == pytest.approx((recent + 2) / (recent + 3), abs=1e-4)
    assert parts["bezalel"]["history"] == pytest.approx(2 / (recent + 3), abs=1e-4)


def test_unknown_kind_is_a_usage_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--explain", "anything", "--kind", "poetry")
    assert code == 2
    assert "poetry" in out


def test_the_text_is_required(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys)
    assert code == 2
    assert 'uni-wizard route "TEXT"' in out


def test_history_from_other_hosts_is_used_and_shown(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(data_dir / "uni-wizard.db")
    ledger = RoutingLedger(store, host="test-host")
    ledger.record_outcome("ezra", "task", "mesh/work", 1, success=True, duration=1.0)
    for seq in range(1, 4):  # imported from vps-a's telemetry
        data = {"house": "ezra", "kind": "task", "repository": "mesh/work", "number": seq, "outcome": "failure",
                "duration": 2.0}  # fmt: skip
        ledger.import_outcome("vps-a", seq, data)
    store.close()
    code, out = run(capsys, "--explain", "Code review", "--json")
    assert code == 0, out
    answer = json.loads(out)
    assert answer["history"]["ezra"]["attempts"] == 4 and answer["history"]["ezra"]["hosts"] == {"": 1, "vps-a": 3}
    parts = {c["house"]: c for c in answer["routing"]["candidates"]}
    # the success came first, then three failures: weighed 0.8^3 against 1 + 0.8 + 0.64, with the prior 2 of 3
    assert parts["ezra"]["history"] == pytest.approx((0.512 + 2) / (0.512 + 2.44 + 3), abs=1e-4)
    code, out = run(capsys, "--explain", "Code review")
    assert code == 0, out
    assert "history ezra: 1/4 succeeded (this host 1, vps-a 3)" in out
