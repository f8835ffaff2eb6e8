"""``GET /api/v1/upgrades`` (bearer token, state filter, history) and ``uni-wizard upgrades list|show``
read from the store; the events and metrics every transition leaves."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.upgrades import upgrade_records
from uni_wizard.cli import main
from uni_wizard.config import Settings
from uni_wizard.harness import Runtime
from uni_wizard.observe.events import EventLog
from uni_wizard.upgrade import Proposal, Risk, State, UpgradeStore
from uni_wizard.web.app import create_app
from uni_wizard.web.upgrades_routes import upgrades_router

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = "mesh/mesh"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    settings = Settings(data_dir=tmp_path / "data", workspace=workspace, host="test-host")
    rt = Runtime(settings, metrics_registry=CollectorRegistry())
    yield rt
    rt.close()


def propose(records: UpgradeStore, number: int, head: str) -> int:
    risk = Risk(False, ("it touches paths that are never low risk: houses/ezra.yaml",))
    p = Proposal(REPO, number, f"Upgrade {number}", "bezalel", head, "f" * 64, "0" * 40, ("houses/ezra.yaml",), 3, risk)
    return records.propose(p, actor="bezalel", reason=f"proposed at head {head[:12]}").id


@pytest.fixture
def records(runtime: Runtime) -> UpgradeStore:
    records = upgrade_records(runtime)
    propose(records, 11, "a" * 40)
    second = propose(records, 12, "b" * 40)
    records.transition(second, State.PROPOSED, State.REJECTED, actor="timmy", reason="not now")
    return records


def test_the_api_needs_the_bearer_token(runtime: Runtime, records: UpgradeStore) -> None:
    with TestClient(create_app(runtime, routers=[upgrades_router(records, api_token=TOKEN)])) as client:
        assert client.get("/api/v1/upgrades").status_code == 401
        assert client.get("/api/v1/upgrades", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with TestClient(create_app(runtime, routers=[upgrades_router(records, api_token=None)])) as off:
        answer = off.get("/api/v1/upgrades", headers=AUTH)
        assert answer.status_code == 503 and "api_token" in answer.json()["detail"]


def test_the_api_lists_states_heads_diff_hashes_and_history(runtime: Runtime, records: UpgradeStore) -> None:
    with TestClient(create_app(runtime, routers=[upgrades_router(records, api_token=TOKEN)])) as client:
        every = client.get("/api/v1/upgrades", headers=AUTH).json()["upgrades"]
        rejected = client.get("/api/v1/upgrades?state=rejected", headers=AUTH).json()["upgrades"]
        bad = client.get("/api/v1/upgrades?state=merged", headers=AUTH)

    assert [(u["number"], u["state"], u["head_sha"]) for u in every] == [
        (12, "rejected", "b" * 40),
        (11, "proposed", "a" * 40),
    ]
    assert (
        every[0]["diff_sha256"] == "f" * 64 and every[0]["risk"] == "high" and every[0]["files"] == ["houses/ezra.yaml"]
    )
    assert [(t["from_state"], t["to_state"], t["actor"], t["reason"]) for t in every[0]["history"]] == [
        (None, "proposed", "bezalel", "proposed at head bbbbbbbbbbbb"),
        ("proposed", "rejected", "timmy", "not now"),
    ]
    assert [u["number"] for u in rejected] == [12]
    assert bad.status_code == 422


def test_every_transition_is_an_event_and_counted(runtime: Runtime, records: UpgradeStore) -> None:
    kinds = [(e.kind, e.number, e.data["actor"]) for e in EventLog(runtime.store, runtime.host).recent(10)]
    assert kinds == [("upgrade.proposed", 11, "bezalel"), ("upgrade.proposed", 12, "bezalel"),
                     ("upgrade.rejected", 12, "timmy")]  # fmt: skip
    registry = runtime.metrics.registry
    assert registry.get_sample_value("uniwizard_upgrades", {"state": "rejected"}) == 1
    labels = {"from_state": "proposed", "to_state": "rejected"}
    assert registry.get_sample_value("uniwizard_upgrade_transitions_total", labels) == 1


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, runtime: Runtime):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(runtime.settings.workspace))

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["upgrades", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def test_the_cli_lists_and_shows_upgrades(run, records: UpgradeStore) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("list")
    assert code == 0
    assert "mesh/mesh#12" in out and "rejected" in out and "not now" in out and "bbbbbbbbbb" in out

    code, out, _ = run("list", "--state", "proposed", "--json")
    assert code == 0 and [u["number"] for u in json.loads(out)["upgrades"]] == [11]

    code, out, _ = run("show", "12")
    assert code == 0
    assert f"head {'b' * 40}  diff sha256 {'f' * 64}" in out and "houses/ezra.yaml" in out and "risk high" in out
    assert "not now" in out and "timmy" in out

    code, _, err = run("show", "99")
    assert code == 6 and "no upgrade #99 in mesh/mesh" in err  # not found: nothing changed
    code, _, err = run("list", "--state", "merged")
    assert code == 2 and "unknown state" in err
