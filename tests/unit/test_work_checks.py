"""Placeholder substitution and expectation checks against real Results."""

from __future__ import annotations

from typing import Any

import pytest

from uni_wizard.harness.result import Result, Status
from uni_wizard.policy.model import Mode
from uni_wizard.work.checks import MISSING, check, has_placeholder, resolve, substitute
from uni_wizard.work.types import Expectation, Step

VALUES = {"worktree": "/srv/w/bezalel-7", "issue": "7", "repo": "ops/mesh", "branch": "bezalel/issue-7"}


def result(output: Any = None, status: Status = Status.OK, **kwargs: Any) -> Result:
    return Result(status=status, tool="run_tests", house="bezalel", mode=Mode.INTELLIGENT, output=output, **kwargs)


OUTPUT = {
    "passed": 12,
    "failed": 0,
    "ratio": 0.5,
    "runner": "pytest",
    "flag": True,
    "none": None,
    "tail": "12 passed in 0.3s",
    "files": [{"path": "a.py"}, {"path": "b.py"}],
    "labels": ["kind/bug", "P1"],
    "counts": {"x": 1},
    "empty": [],
}


# -- substitute -----------------------------------------------------------------------------------


def test_substitute_fills_strings_at_any_depth() -> None:
    args = {
        "path": "{worktree}/docs/{issue}.md",
        "n": 3,
        "flag": True,
        "headers": {"X-Issue": "{repo}#{issue}"},
        "items": ["{branch}", 1, ["{issue}"]],
        "none": None,
    }
    assert substitute(args, VALUES) == {
        "path": "/srv/w/bezalel-7/docs/7.md",
        "n": 3,
        "flag": True,
        "headers": {"X-Issue": "ops/mesh#7"},
        "items": ["bezalel/issue-7", 1, ["7"]],
        "none": None,
    }


def test_substitute_leaves_other_braces_and_does_not_recurse_into_values() -> None:
    values = {"worktree": "/w/{issue}", "issue": "7"}
    assert substitute({"c": "{worktree} {name} {} {{issue}} {issue}"}, values) == {"c": "/w/{issue} {name} {} {7} 7"}


def test_substitute_does_not_change_its_input() -> None:
    args = {"a": ["{issue}"]}
    substitute(args, VALUES)
    assert args == {"a": ["{issue}"]}


def test_has_placeholder() -> None:
    assert has_placeholder("{worktree}/x")
    assert has_placeholder({"a": ["x", "{branch}"]})
    assert not has_placeholder("{name}") and not has_placeholder(3) and not has_placeholder(None)


# -- resolve --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("status", "ok"),
        ("ok", True),
        ("mode", "intelligent"),
        ("output.passed", 12),
        ("output.files.1.path", "b.py"),
        ("output.none", None),
        ("output.files.2", MISSING),
        ("output.files.x", MISSING),
        ("output.passed.more", MISSING),
        ("output.nope", MISSING),
        ("error", MISSING),  # a Result field that is None counts as missing
        ("nope", MISSING),
    ],
)
def test_resolve(path: str, expected: Any) -> None:
    assert resolve(result(OUTPUT), path) == expected


# -- check: (expectation, holds?, the sentence when it does not) ----------------------------------

CASES: list[tuple[Expectation, str | None]] = [
    (Expectation("status", "==", "ok"), None),
    (Expectation("status", "!=", "ok"), 'expected status != "ok", but it is "ok"'),
    (Expectation("ok", "==", True), None),
    (Expectation("output.passed", ">=", 1), None),
    (Expectation("output.passed", ">", 12), "expected output.passed > 12, but it is 12"),
    (Expectation("output.failed", "<", 1), None),
    (Expectation("output.failed", "<=", -1), "expected output.failed <= -1, but it is 0"),
    (Expectation("output.ratio", ">", 0.25), None),
    (Expectation("output.runner", ">", 1), 'expected output.runner > 1, but it is "pytest" (not a number)'),
    (Expectation("output.flag", ">=", 1), "expected output.flag >= 1, but it is true (not a number)"),
    (Expectation("output.flag", "==", 1), "expected output.flag == 1, but it is true"),
    (Expectation("output.passed", "==", 12.0), None),
    (Expectation("output.counts", "==", {"x": 1}), None),
    (Expectation("output.tail", "contains", "passed"), None),
    (
        Expectation("output.tail", "contains", "failed"),
        'expected output.tail to contain "failed", but it is "12 passed in 0.3s"',
    ),
    (Expectation("output.labels", "contains", "P1"), None),
    (
        Expectation("output.labels", "contains", "P0"),
        'expected output.labels to contain "P0", but it is ["kind/bug", "P1"]',
    ),
    (Expectation("output.counts", "contains", "x"), None),
    (
        Expectation("output.passed", "contains", 1),
        "expected output.passed to contain 1, but it is 12 (not text, a list or a mapping)",
    ),
    (Expectation("output.passed", "exists", True), None),
    (Expectation("output.none", "exists", True), None),
    (Expectation("output.nope", "exists", True), "expected output.nope to exist, but the result has no output.nope"),
    (Expectation("output.nope", "exists", False), None),
    (Expectation("error", "exists", False), None),
    (Expectation("output.passed", "exists", False), "expected output.passed not to exist, but it is 12"),
    (Expectation("output.passed", "truthy", True), None),
    (Expectation("output.empty", "truthy", True), "expected output.empty to be truthy, but it is []"),
    (Expectation("output.empty", "truthy", False), None),
    (Expectation("output.nope", ">=", 1), "expected output.nope >= 1, but the result has no output.nope"),
    (
        Expectation("output.nope", "truthy", False),
        "expected output.nope to be falsy, but the result has no output.nope",
    ),
]


@pytest.mark.parametrize(("expectation", "sentence"), CASES, ids=[f"{e.path} {e.op} {e.value!r}" for e, _ in CASES])
def test_check_one(expectation: Expectation, sentence: str | None) -> None:
    failures = check(Step("run_tests", expect=(expectation,)), result(OUTPUT))
    assert failures == (() if sentence is None else (sentence,))


def test_check_returns_every_failure_in_order() -> None:
    step = Step(
        "run_tests",
        expect=(
            Expectation("status", "==", "ok"),
            Expectation("output.passed", ">=", 1),
            Expectation("output.failed", "==", 0),
        ),
    )
    failed = result({"passed": 0, "failed": 3})
    assert check(step, failed) == (
        "expected output.passed >= 1, but it is 0",
        "expected output.failed == 0, but it is 3",
    )
    assert check(step, result({"passed": 5, "failed": 0})) == ()
    assert check(Step("run_tests"), failed) == ()


def test_an_error_result_has_no_output() -> None:
    step = Step("run_tests", expect=(Expectation("status", "==", "ok"), Expectation("output.passed", ">=", 1)))
    errored = result(None, Status.ERROR, error="boom", error_type="ToolExecutionError")
    assert check(step, errored) == (
        'expected status == "ok", but it is "error"',
        "expected output.passed >= 1, but the result has no output.passed",
    )


def test_long_actual_values_are_cut() -> None:
    (sentence,) = check(Step("t", expect=(Expectation("output", "==", "x"),)), result("y" * 1000))
    assert sentence.endswith("…") and len(sentence) < 300
