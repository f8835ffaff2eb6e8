"""The Harness in each mode: what it runs, what it records, how it fails."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from uni_wizard import Call, Harness, Mode, Status
from uni_wizard.errors import ToolCallError, ToolExecutionError, TransientToolError, UniWizardError
from uni_wizard.testing import RecordingSleep, make_runtime
from uni_wizard.tools.registry import ToolRegistry
from uni_wizard.tools.spec import ReadPath, WritePath, tool


class Flaky:
    """Fails transiently ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0


flaky_state = Flaky(0)
active = {"now": 0, "max": 0}


@tool(group="demo")
async def echo(text: str = "x") -> str:
    """Echo.

    Args:
        text: what to echo.
    """
    return text


@tool(group="demo")
async def flaky(tag: str = "") -> str:
    """Fail transiently a few times.

    Args:
        tag: ignored.
    """
    flaky_state.calls += 1
    if flaky_state.calls <= flaky_state.failures:
        raise TransientToolError("connection refused")
    return "recovered"


@tool(group="demo", mutates=True)
async def flaky_write(tag: str = "") -> str:
    """A non-idempotent tool that fails transiently.

    Args:
        tag: ignored.
    """
    flaky_state.calls += 1
    raise TransientToolError("connection refused")


@tool(group="net")
async def down(tag: str = "") -> str:
    """Always fails transiently.

    Args:
        tag: ignored.
    """
    raise TransientToolError("connection refused")


@tool(group="net")
async def bad_input(tag: str = "") -> str:
    """Always fails with an ordinary error.

    Args:
        tag: ignored.
    """
    raise ToolExecutionError("not a git repository")


@tool(group="demo")
async def sleepy(seconds: float = 10.0) -> str:
    """Sleep.

    Args:
        seconds: how long.
    """
    active["now"] += 1
    active["max"] = max(active["max"], active["now"])
    try:
        await asyncio.sleep(seconds)
    finally:
        active["now"] -= 1
    return "woke"


@tool(group="demo")
def buggy(tag: str = "") -> str:
    """Raise a bug (sync tool, runs in a thread).

    Args:
        tag: ignored.
    """
    raise KeyError("oops")


@tool(group="demo")
def caller_fault(tag: str = "") -> str:
    """Raise ToolCallError from inside.

    Args:
        tag: ignored.
    """
    raise ToolCallError("invalid regex: unbalanced parenthesis")


@tool(group="demo")
async def login(user: str, api_token: str) -> dict[str, Any]:
    """Pretend to log in.

    Args:
        user: who.
        api_token: the secret.
    """
    return {"user": user}


@tool(group="file")
def read_it(path: ReadPath) -> str:
    """Read a file.

    Args:
        path: the file.
    """
    return Path(path).read_text()


@tool(group="file")
def where(path: ReadPath) -> str:
    """Say which path the tool was given.

    Args:
        path: the file.
    """
    return path


@tool(group="file", mutates=True)
def write_it(path: WritePath, content: str) -> int:
    """Write a file.

    Args:
        path: the file.
        content: text.
    """
    return Path(path).write_text(content)


TOOLS = [echo, flaky, flaky_write, down, bad_input, sleepy, buggy, caller_fault, login, read_it, where, write_it]


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def runtime(tmp_path: Path, sleep: RecordingSleep):  # type: ignore[no-untyped-def]
    rt = make_runtime(tmp_path, registry=ToolRegistry(TOOLS), sleep=sleep, breaker_fail_max=3)
    yield rt
    rt.close()


def harness(runtime: Any, house: str = "timmy", mode: Mode = Mode.INTELLIGENT, task: str | None = None) -> Harness:
    return Harness(house, mode, runtime=runtime, task=task)


def rows(runtime: Any, sql: str) -> list[sqlite3.Row]:
    return runtime.store.query(sql)


def test_simple_mode_writes_nothing(runtime: Any, tmp_path: Path) -> None:
    result = harness(runtime, mode=Mode.SIMPLE).execute("echo", text="hi")
    assert (result.status, result.output, result.provenance_id, result.attempts) == (Status.OK, "hi", None, 1)
    assert not (tmp_path / "data" / "uni-wizard.db").exists()


def test_intelligent_mode_records_provenance_prediction_and_learning(runtime: Any) -> None:
    h = harness(runtime, task="issue-7")
    first = h.execute("echo", text="hi")
    second = h.execute("echo", text="hi")
    assert (first.provenance_id, second.provenance_id) == (1, 2)
    record = runtime.provenance.get(2)
    assert (record.house, record.host, record.mode, record.tool, record.task) == (
        "timmy",
        "test-host",
        "intelligent",
        "echo",
        "issue-7",
    )
    assert record.output_json is None and record.output_digest
    decision = json.loads(record.decision_json)
    assert decision["allowed"] and decision["prediction"]["samples"] == 1
    stats = rows(runtime, "SELECT samples, successes FROM tool_outcomes WHERE house='timmy' AND tool='echo'")
    assert tuple(stats[0]) == (2, pytest.approx(1.9))  # two successes, the older decayed by 0.9
    assert runtime.provenance.verify() == 2


def test_sovereign_mode_keeps_outputs_and_gates_mutations(runtime: Any, tmp_path: Path) -> None:
    read = harness(runtime, "timmy", Mode.SOVEREIGN).execute("echo", text="kept")
    assert json.loads(runtime.provenance.get(read.provenance_id).output_json) == "kept"
    h = harness(runtime, "bezalel", Mode.SOVEREIGN)
    target = str(tmp_path / "workspace" / "out.txt")
    pending = h.execute("write_it", path=target, content="v1")
    again = h.execute("write_it", path=target, content="v1")
    assert pending.status is again.status is Status.PENDING_APPROVAL
    assert pending.approval_id == again.approval_id  # no duplicate request for the same call
    assert not Path(target).exists()
    runtime.approvals.approve(pending.approval_id, actor="timmy")
    done = h.execute("write_it", path=target, content="v1")
    assert done.ok and Path(target).read_text() == "v1"
    assert runtime.approvals.get(pending.approval_id).state == "consumed"
    other = h.execute("write_it", path=target, content="v2")  # different arguments need their own approval
    assert other.status is Status.PENDING_APPROVAL and other.approval_id != pending.approval_id


def test_transient_errors_are_retried_for_idempotent_tools(runtime: Any, sleep: RecordingSleep) -> None:
    flaky_state.failures, flaky_state.calls = 2, 0
    result = harness(runtime).execute("flaky")
    assert (result.status, result.output, result.attempts) == (Status.OK, "recovered", 3)
    assert len(sleep.delays) == 2  # waited between attempts, through the injected sleep


def test_retries_give_up_after_the_budget(runtime: Any) -> None:
    flaky_state.failures, flaky_state.calls = 10, 0
    result = harness(runtime, mode=Mode.SIMPLE).execute("flaky")
    assert (result.status, result.error_type, result.attempts) == (Status.ERROR, "TransientToolError", 3)


def test_non_idempotent_tools_are_never_retried(runtime: Any) -> None:
    flaky_state.calls = 0
    result = harness(runtime, mode=Mode.SIMPLE).execute("flaky_write")
    assert (result.status, result.attempts, flaky_state.calls) == (Status.ERROR, 1, 1)


def test_breaker_opens_on_transient_failures_only_for_its_group(runtime: Any) -> None:
    h = harness(runtime, mode=Mode.SIMPLE)
    first = h.execute("down")
    assert first.error_type == "TransientToolError"  # 3 failures trip the breaker (fail_max=3)
    refused = h.execute("down")
    assert (refused.status, refused.error_type, refused.attempts) == (Status.ERROR, "CircuitOpen", 1)
    assert "circuit breaker is open" in refused.error
    assert h.execute("echo").ok  # the demo group is unaffected
    assert runtime.breakers.states()["net"] == "open"


def test_ordinary_errors_do_not_trip_the_breaker(runtime: Any) -> None:
    h = harness(runtime, mode=Mode.SIMPLE)
    for _ in range(6):
        result = h.execute("bad_input")
        assert (result.error_type, result.error) == ("ToolExecutionError", "not a git repository")
    assert runtime.breakers.states()["net"] == "closed"


def test_timeout(runtime: Any) -> None:
    result = harness(runtime).execute_many([Call("sleepy", {"seconds": 5}, timeout=0.05)])[0]
    assert (result.status, result.error_type) == (Status.TIMEOUT, "ToolTimeout")
    assert runtime.provenance.get(result.provenance_id).status == "timeout"


def test_unexpected_exception_is_reported_typed(runtime: Any) -> None:
    result = harness(runtime, mode=Mode.SIMPLE).execute("buggy")
    assert (result.status, result.error_type) == (Status.ERROR, "ToolExecutionError")
    assert result.error == "buggy raised KeyError: 'oops'"
    with pytest.raises(ToolExecutionError):
        result.raise_for_status()


def test_caller_fault_inside_a_tool_keeps_its_type(runtime: Any) -> None:
    result = harness(runtime, mode=Mode.SIMPLE).execute("caller_fault")
    assert result.error_type == "ToolCallError"
    with pytest.raises(ToolCallError):
        result.raise_for_status()


@pytest.mark.parametrize(
    ("tool", "args", "fragment"),
    [
        ("no_such_tool", {}, "unknown tool 'no_such_tool'"),
        ("echo", {"text": 5}, "argument 'text'"),
        ("login", {"user": "u"}, "missing argument 'api_token'"),
        ("echo", {"colour": "red"}, "unknown argument 'colour'"),
    ],
)
def test_bad_calls_are_errors_and_still_recorded(runtime: Any, tool: str, args: dict[str, Any], fragment: str) -> None:
    result = harness(runtime).execute(tool, **args)
    assert (result.status, result.error_type, result.attempts) == (Status.ERROR, "ToolCallError", 0)
    assert fragment in result.error
    assert runtime.provenance.get(result.provenance_id).status == "error"


def test_denied_calls_are_recorded_and_counted(runtime: Any) -> None:
    result = harness(runtime, "ezra").execute("echo")  # ezra's allow list has no demo:*
    assert (result.status, result.rule, result.error_type) == (Status.DENIED, "allow", "PolicyDenied")
    assert runtime.provenance.get(result.provenance_id).status == "denied"
    value = runtime.metrics.registry.get_sample_value(
        "uniwizard_policy_denials_total", {"house": "ezra", "tool": "echo", "rule": "allow"}
    )
    assert value == 1.0


def test_secrets_are_redacted_in_provenance(runtime: Any) -> None:
    result = harness(runtime).execute("login", user="u", api_token="hunter2")
    stored = runtime.provenance.get(result.provenance_id)
    assert "hunter2" not in stored.args_json and json.loads(stored.args_json) == {"user": "u", "api_token": "***"}


def test_read_before_write_spans_the_task(runtime: Any, tmp_path: Path) -> None:
    notes = tmp_path / "workspace" / "notes.md"
    notes.write_text("old")
    ezra_runtime = make_runtime(tmp_path / "ezra", registry=ToolRegistry(TOOLS))
    ezra_runtime.houses["ezra"] = ezra_runtime.houses["ezra"].model_copy(
        update={"tools": ezra_runtime.houses["ezra"].tools.model_copy(update={"allow": ("file:*",)})}
    )
    ezra = Harness("ezra", Mode.SIMPLE, runtime=ezra_runtime, task="t1")
    notes2 = tmp_path / "ezra" / "workspace" / "notes.md"
    notes2.write_text("old")
    assert ezra.execute("write_it", path=str(notes2), content="new").rule == "read_before_write"
    assert ezra.execute("read_it", path=str(notes2)).ok
    assert ezra.execute("write_it", path=str(notes2), content="new").ok
    assert ezra.for_task("t2").execute("write_it", path=str(notes2), content="x").rule == "read_before_write"
    ezra_runtime.close()


async def test_aexecute_many_keeps_order_and_bounds_concurrency(runtime: Any) -> None:
    active["now"] = active["max"] = 0
    h = harness(runtime, mode=Mode.SIMPLE)
    calls = [Call("sleepy", {"seconds": 0.01 * (i % 3)}) for i in range(12)] + [Call("echo", {"text": "last"})]
    results = await h.aexecute_many(calls, concurrency=4)
    assert [r.output for r in results] == ["woke"] * 12 + ["last"]
    assert 1 < active["max"] <= 4


async def test_sync_facade_refuses_a_running_loop(runtime: Any) -> None:
    with pytest.raises(UniWizardError, match="await harness.aexecute"):
        harness(runtime).execute("echo")


def test_metrics_count_outcomes(runtime: Any) -> None:
    h = harness(runtime, mode=Mode.SIMPLE)
    h.execute("echo")
    h.execute("echo")
    registry = runtime.metrics.registry
    labels = {"house": "timmy", "tool": "echo", "mode": "simple", "outcome": "ok"}
    assert registry.get_sample_value("uniwizard_tool_calls_total", labels) == 2.0
    assert (
        registry.get_sample_value("uniwizard_tool_call_duration_seconds_count", {"house": "timmy", "tool": "echo"})
        == 2.0
    )


def test_an_approval_binds_to_the_resolved_path(runtime: Any, tmp_path: Path, monkeypatch) -> None:
    """Approving ``path=out.txt`` in one directory does not approve the same text elsewhere."""
    h = harness(runtime, "bezalel", Mode.SOVEREIGN)
    first, second = tmp_path / "workspace" / "a", tmp_path / "workspace" / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    pending = h.execute("write_it", path="out.txt", content="x")
    runtime.approvals.approve(pending.approval_id, actor="timmy")
    monkeypatch.chdir(second)
    elsewhere = h.execute("write_it", path="out.txt", content="x")
    assert elsewhere.status is Status.PENDING_APPROVAL and elsewhere.approval_id != pending.approval_id
    assert not (second / "out.txt").exists()
    monkeypatch.chdir(first)
    assert h.execute("write_it", path="out.txt", content="x").ok
    assert (first / "out.txt").read_text() == "x"


def test_the_tool_gets_the_path_the_policy_checked(runtime: Any, tmp_path: Path, monkeypatch) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "real.txt").write_text("checked")
    (workspace / "alias.txt").symlink_to(workspace / "real.txt")
    monkeypatch.chdir(workspace)
    result = harness(runtime, "timmy", Mode.SOVEREIGN).execute("where", path="alias.txt")
    assert result.ok and result.output == str((workspace / "real.txt").resolve())
    stored = json.loads(runtime.provenance.get(result.provenance_id).args_json)
    assert stored == {"path": "alias.txt"}  # provenance keeps what the caller asked for
