"""The pattern database through a real Harness and store: what it learns from, how it recovers, what it flags,
what the approver sees, and INTELLIGENT mode's fallback to SIMPLE while the store is locked."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard import Harness, Mode, Status
from uni_wizard.config import Settings
from uni_wizard.errors import StoreError, ToolExecutionError, TransientToolError
from uni_wizard.harness.fallback import Fallback
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intelligence.patterns import PatternDB
from uni_wizard.migrations import MIGRATIONS
from uni_wizard.observe.events import EventLog
from uni_wizard.store import Store
from uni_wizard.testing import FakeClock, RecordingSleep
from uni_wizard.tools.registry import ToolRegistry
from uni_wizard.tools.spec import tool

broken = {"deploy": False, "net": False}


@tool(group="demo")
async def deploy(repository: str = "mesh/work") -> str:
    """Deploy a repository (fails while ``broken["deploy"]``).

    Args:
        repository: what to deploy.
    """
    if broken["deploy"]:
        raise ToolExecutionError("deploy failed: the target refused the release")
    return f"deployed {repository}"


@tool(group="net")
async def fetch(url: str = "http://example.invalid") -> str:
    """Fetch (fails transiently while ``broken["net"]``).

    Args:
        url: what to fetch.
    """
    if broken["net"]:
        raise TransientToolError("connection refused")
    return "fetched"


@tool(group="demo", mutates=True)
async def restart(service: str = "svc") -> str:
    """Restart a service (needs approval when the house's policy says so).

    Args:
        service: the service.
    """
    return f"restarted {service}"


def make(tmp_path: Path, *, busy_ms: int = 5000) -> Runtime:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    settings = Settings(host="test-host", data_dir=tmp_path / "data", workspace=workspace, breaker_fail_max=2)
    store = Store(settings.db_path, busy_timeout_ms=busy_ms)
    return Runtime(
        settings,
        registry=ToolRegistry([deploy, fetch, restart]),
        store=store,
        metrics_registry=CollectorRegistry(),
        sleep=RecordingSleep(),
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    broken.update(deploy=False, net=False)
    rt = make(tmp_path)
    yield rt
    rt.close()


def samples(rt: Runtime, house: str, tool_name: str) -> int:
    found = rt.store.query(
        "SELECT samples FROM tool_outcomes WHERE house = ? AND tool = ? AND shape = ''", (house, tool_name)
    )
    return int(found[0][0]) if found else 0


def metric(rt: Any, name: str, labels: dict[str, str] | None = None) -> float:
    value = rt.metrics_registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else float(value)


def test_a_broken_tool_is_flagged_and_recovers_its_standing_once_fixed(runtime: Runtime) -> None:
    timmy = Harness("timmy", Mode.INTELLIGENT, runtime=runtime)
    for _ in range(3):
        assert timmy.execute("deploy").ok
    broken["deploy"] = True
    results = [timmy.execute("deploy") for _ in range(10)]
    assert all(r.status is Status.ERROR for r in results)
    assert not results[0].likely_failure and results[-1].likely_failure  # the evidence turned against it
    assert results[-1].prediction is not None and results[-1].prediction["success_probability"] < 0.25
    assert results[-1].prediction["retries"] == 0
    assert metric(runtime, "uniwizard_predicted_failures_total", {"house": "timmy", "tool": "deploy"}) >= 1
    called = [e for e in EventLog(runtime.store, runtime.host).page(0, 100).events if e.kind == "tool.called"]
    assert called[-1].data["likely_failure"] is True and called[0].data["likely_failure"] is False
    broken["deploy"] = False
    fixed = [timmy.execute("deploy") for _ in range(12)]
    assert all(r.ok for r in fixed)
    # decayed evidence: the newer successes outweigh the ten older failures, where today's undecayed count
    # (Laplace, (14 + 1) / (24 + 2) = 0.58) would still doubt the fixed tool
    assert fixed[-1].prediction is not None and fixed[-1].prediction["success_probability"] > 0.7
    assert not fixed[-1].likely_failure and fixed[-1].prediction["retries"] == 2
    assert samples(runtime, "timmy", "deploy") == 25


def test_the_repository_argument_is_its_own_evidence(runtime: Runtime) -> None:
    timmy = Harness("timmy", Mode.INTELLIGENT, runtime=runtime)
    broken["deploy"] = True
    for _ in range(6):
        timmy.execute("deploy", repository="mesh/legacy")
    broken["deploy"] = False
    for _ in range(6):
        timmy.execute("deploy", repository="mesh/work")
    legacy = runtime.patterns.predict("timmy", "deploy", declared_timeout=30, max_retries=0, shape="mesh/legacy")
    work = runtime.patterns.predict("timmy", "deploy", declared_timeout=30, max_retries=0, shape="mesh/work")
    assert legacy.success_probability < 0.3 < 0.7 < work.success_probability
    assert "on mesh/legacy" in legacy.basis


def test_refusals_denials_and_pending_approvals_are_not_learned(runtime: Runtime) -> None:
    timmy = Harness("timmy", Mode.INTELLIGENT, runtime=runtime)
    broken["net"] = True
    ran = timmy.execute("fetch")  # two transient failures open the breaker (fail_max 2); the retry is refused
    assert ran.error_type == "CircuitOpen" and ran.attempts == 3
    refused = [timmy.execute("fetch") for _ in range(4)]
    assert all(r.error_type == "CircuitOpen" and r.attempts == 1 for r in refused)
    assert samples(runtime, "timmy", "fetch") == 1  # the call that ran failed; the refusals never ran
    allegro = Harness("allegro", Mode.INTELLIGENT, runtime=runtime)
    denied = allegro.execute("restart")
    assert denied.status is Status.DENIED
    assert samples(runtime, "allegro", "restart") == 0


def test_the_approver_sees_the_prediction(runtime: Runtime) -> None:
    timmy = Harness("timmy", Mode.SOVEREIGN, runtime=runtime)
    for _ in range(4):
        assert timmy.execute("deploy").ok
    pending = timmy.execute("restart", service="gitea")  # SOVEREIGN gates a mutating tool behind approval
    assert pending.status is Status.PENDING_APPROVAL and pending.approval_id is not None
    request = runtime.approvals.get(pending.approval_id)
    assert "predicted success" in request.reason and "outcome" in request.reason
    assert samples(runtime, "timmy", "restart") == 0  # a pending call did not run


def test_a_locked_store_degrades_intelligent_to_simple_and_it_recovers_by_itself(tmp_path: Path) -> None:
    broken.update(deploy=False, net=False)
    rt = make(tmp_path, busy_ms=100)
    clock = FakeClock(1000.0)
    rt.fallback.clock, rt.fallback.retry_after = clock, 30.0
    try:
        timmy = Harness("timmy", Mode.INTELLIGENT, runtime=rt)
        assert timmy.execute("deploy").mode is Mode.INTELLIGENT
        locker = sqlite3.connect(rt.settings.db_path, timeout=0)
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the store's write lock
        during = [timmy.execute("deploy", repository=f"mesh/r{i}") for i in range(5)]
        assert all(r.ok and r.output.startswith("deployed") for r in during)  # never failing the call
        assert all(r.mode is Mode.SIMPLE and r.provenance_id is None for r in during)
        assert rt.fallback.degraded and metric(rt, "uniwizard_intelligence_degraded") == 1
        assert metric(rt, "uniwizard_intelligence_fallback_calls_total", {"house": "timmy"}) == 5
        locker.rollback()
        locker.close()
        still = timmy.execute("deploy")  # before retry_after: still SIMPLE-style, the store untouched
        assert still.ok and still.mode is Mode.SIMPLE
        clock.advance(31)
        back = timmy.execute("deploy")  # the probe call: the store answers, the degradation ends
        assert back.ok and back.mode is Mode.INTELLIGENT and back.provenance_id is not None
        assert not rt.fallback.degraded and metric(rt, "uniwizard_intelligence_degraded") == 0
        kinds = [e.kind for e in EventLog(rt.store, rt.host).page(0, 100).events]
        assert kinds.count("intelligence.degraded") == 1 and kinds.count("intelligence.recovered") == 1
        recovered = [e for e in EventLog(rt.store, rt.host).page(0, 100).events if e.kind == "intelligence.recovered"]
        assert recovered[0].data["simple_calls"] == 6
        assert timmy.execute("deploy").mode is Mode.INTELLIGENT
    finally:
        rt.close()


def test_a_record_that_cannot_be_written_for_its_data_is_no_degradation(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hostile input that makes one record unwritable must not switch the host's provenance off: the call is an
    error without a record (not acknowledged as done), and the next calls are INTELLIGENT and recorded."""
    timmy = Harness("timmy", Mode.INTELLIGENT, runtime=runtime)
    finish = timmy._recorder.finish
    calls = [0]

    async def unwritable(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise StoreError("write failed: 'utf-8' codec can't encode character '\\udcff'")
        return await finish(*args, **kwargs)

    monkeypatch.setattr(timmy._recorder, "finish", unwritable)
    first = timmy.execute("deploy")
    assert first.status is Status.ERROR and first.provenance_id is None
    assert not runtime.fallback.degraded
    after = timmy.execute("deploy")
    assert after.ok and after.mode is Mode.INTELLIGENT and after.provenance_id is not None


def test_migration_8_carries_tool_stats_over_and_predictions_start_from_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT)")
    for version in range(1, 8):
        for statement in MIGRATIONS[version - 1].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (?, 'x')", (version,))
    db.execute("INSERT INTO tool_stats VALUES ('bezalel', 'git_push', 20, 4, 1.5, 3.0, '2026-01-01T00:00:00Z')")
    db.commit()
    db.close()
    store = Store(path)
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 8
        rows = store.query("SELECT house, tool, shape, successes, failures, samples, ewma_duration FROM tool_outcomes")
        assert [tuple(r) for r in rows] == [("bezalel", "git_push", "", 4.0, 16.0, 20, 1.5)]
        assert not store.query("SELECT name FROM sqlite_master WHERE name = 'tool_stats'")
        found = PatternDB(store).predict("bezalel", "git_push", declared_timeout=60, max_retries=2)
        assert found.samples == 20 and found.success_probability < 0.3 and found.timeout == 15.0
    finally:
        store.close()


def test_a_slow_commit_degrades_too(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    store = Store(tmp_path / "s.db")
    clock = FakeClock(0.0)
    fallback = Fallback(lambda: store, "h", metrics_registry=registry, slow_after=2.0, retry_after=10.0, clock=clock)
    try:
        asyncio.run(fallback.settled("timmy", 0.1))
        assert not fallback.degraded
        asyncio.run(fallback.settled("timmy", 2.5))  # committed, but too slowly
        assert fallback.degraded and registry.get_sample_value("uniwizard_intelligence_degraded") == 1
        assert not fallback.use_store("timmy")
        clock.advance(10)
        assert fallback.use_store("timmy")  # one probe
        assert not fallback.use_store("timmy")  # and only one
        asyncio.run(fallback.settled("timmy", 0.1))
        assert not fallback.degraded and registry.get_sample_value("uniwizard_intelligence_degraded") == 0
        reasons = [
            e.data["reason"] for e in EventLog(store, "h").page(0, 10).events if e.kind == "intelligence.degraded"
        ]
        assert reasons == ["the store took 2.50 s to commit a call's record (limit 2 s)"]
    finally:
        store.close()
