"""``Result`` carries its error's class; the wire carries its name; ``raise_for_status`` raises that class."""

from __future__ import annotations

import json
import re

import pytest

from uni_wizard import errors
from uni_wizard.harness.result import Result, Status, error_class_named, restored
from uni_wizard.policy.model import Mode
from uni_wizard.tools.anchor import PathChanged

EVERY_CLASS = sorted(errors.BY_NAME.values(), key=lambda cls: cls.__name__)


def failed(error_type: str | None = None, error_class: type[errors.UniWizardError] | None = None) -> Result:
    return Result(
        Status.ERROR, "file_read", "ezra", Mode.SIMPLE, error="it broke: here is why",
        error_type=error_type, error_class=error_class,
    )  # fmt: skip


def over_the_wire(result: Result) -> Result:
    return Result.from_dict(json.loads(json.dumps(result.as_dict())))


def test_by_name_holds_exactly_the_tree() -> None:
    exported = {name for name in errors.__all__ if name != "BY_NAME"}
    assert set(errors.BY_NAME) == exported
    assert all(errors.BY_NAME[name].__name__ == name for name in exported)
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or "")) | {"UniWizardError"}
    assert drawn == exported  # the docstring draws every class, and only those


@pytest.mark.parametrize("cls", EVERY_CLASS, ids=lambda cls: cls.__name__)
def test_every_error_class_survives_result_json_result_exception(cls: type[errors.UniWizardError]) -> None:
    result = failed(error_class=cls)
    assert result.error_type == cls.__name__
    back = over_the_wire(result)
    assert (back.error_type, back.error_class) == (cls.__name__, cls)
    assert back == result
    with pytest.raises(cls) as raised:
        back.raise_for_status()
    assert type(raised.value) is cls
    assert str(raised.value) == "it broke: here is why"


def test_the_wire_shape_is_unchanged() -> None:
    data = failed(error_class=errors.TransientToolError).as_dict()
    assert "error_class" not in data
    assert data["error_type"] == "TransientToolError" and data["status"] == "error" and data["mode"] == "simple"
    assert set(data) == {
        "status", "tool", "house", "mode", "output", "error", "error_type", "duration", "attempts",
        "provenance_id", "approval_id", "reason", "rule", "prediction", "likely_failure",
    }  # fmt: skip


def test_a_name_gives_its_class_and_an_unknown_name_is_tool_execution_error() -> None:
    assert failed(error_type="ShaMismatch").error_class is errors.ShaMismatch
    assert error_class_named("NoSuchError") is errors.ToolExecutionError
    unknown = over_the_wire(failed(error_type="NoSuchError"))
    assert unknown.error_type == "NoSuchError"  # the wire keeps what it was given
    with pytest.raises(errors.ToolExecutionError) as raised:
        unknown.raise_for_status()
    assert type(raised.value) is errors.ToolExecutionError


def test_a_class_outside_the_tree_is_kept_in_process_and_its_parent_after_json() -> None:
    result = failed(error_class=PathChanged)
    with pytest.raises(PathChanged):
        result.raise_for_status()
    back = over_the_wire(result)
    assert (back.error_type, back.error_class) == ("PathChanged", errors.ToolExecutionError)


def test_a_name_that_contradicts_the_class_is_refused() -> None:
    with pytest.raises(ValueError, match="does not name"):
        failed(error_type="ToolCallError", error_class=errors.ToolTimeout)


def test_the_statuses_that_say_it_themselves() -> None:
    denied = Result(Status.DENIED, "git_push", "ezra", Mode.SIMPLE, error="no", error_type="PolicyDenied", rule="deny")
    with pytest.raises(errors.PolicyDenied) as refused:
        over_the_wire(denied).raise_for_status()
    assert refused.value.rule == "deny"
    timed_out = Result(Status.TIMEOUT, "sleepy", "ezra", Mode.SIMPLE, error_type="ToolTimeout")
    with pytest.raises(errors.ToolTimeout):
        over_the_wire(timed_out).raise_for_status()
    with pytest.raises(errors.ApprovalError, match="approval 4 pending"):
        Result(Status.PENDING_APPROVAL, "git_push", "timmy", Mode.SOVEREIGN, approval_id=4).raise_for_status()
    ok = Result(Status.OK, "echo", "ezra", Mode.SIMPLE, output={"text": "hi"})
    assert ok.error_class is None and over_the_wire(ok).raise_for_status() == ok


def test_an_error_without_a_class_is_tool_execution_error() -> None:
    with pytest.raises(errors.ToolExecutionError):
        failed().raise_for_status()


def test_classes_that_make_their_text_from_data_keep_the_text_given() -> None:
    circuit = restored(errors.CircuitOpen, "the net group is failing")
    assert isinstance(circuit, errors.CircuitOpen) and str(circuit) == "the net group is failing"
    assert circuit.group == "" and circuit.retry_after == 0.0
    assert str(restored(errors.ConfigError, "bad key")) == "bad key"
