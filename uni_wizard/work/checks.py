"""Placeholders in step arguments, and the expectations a step's ``Result`` must meet.

``substitute`` fills ``{worktree}``, ``{issue}``, ``{repo}`` and ``{branch}`` into the strings of a
step's arguments (in one pass, so a value that itself contains braces is left alone); other braces
are kept as written. ``check`` evaluates a step's expectations against its ``Result`` and returns
each one that does not hold as a sentence with the actual value.

Paths are dotted into the Result: the first part is a field of ``Result`` (``status``, ``ok``,
``output``, ``error``, ``error_type``, ``reason``...), later parts are keys of ``output`` or list
indexes (``output.files.0.path``). A Result field that is ``None`` counts as missing; inside
``output`` a key that is present counts as existing even when its value is null. A missing path
fails every operator except ``exists`` with the value false.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import fields
from enum import Enum
from typing import Any, Final, get_args

from ..harness.result import Result
from .types import Expectation, Op, Step

__all__ = ["MISSING", "OPS", "PLACEHOLDERS", "RESULT_PATHS", "check", "has_placeholder", "resolve", "substitute"]

PLACEHOLDERS: Final = ("worktree", "issue", "repo", "branch")
OPS: Final[tuple[str, ...]] = get_args(Op)
RESULT_PATHS: Final = tuple(sorted({f.name for f in fields(Result)} | {"ok"}))

_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_NAME = re.compile(r"\{(\w+)\}")
_SHOWN = 200


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def substitute(args: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``args`` with ``{name}`` replaced by ``values[name]`` in every string, at any depth.

    >>> substitute({"path": "{worktree}/README.md", "n": 3}, {"worktree": "/w"})
    {'path': '/w/README.md', 'n': 3}
    """
    return {key: _fill(value, values) for key, value in args.items()}


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _NAME.sub(lambda m: values.get(m[1], m[0]), value)
    if isinstance(value, Mapping):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(item, values) for item in value]
    return value


def has_placeholder(value: Any) -> bool:
    """Whether ``value`` (a string, or a structure holding strings) uses one of ``PLACEHOLDERS``."""
    if isinstance(value, str):
        return _PLACEHOLDER.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_placeholder(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_placeholder(item) for item in value)
    return False


def resolve(result: Result, path: str) -> Any:
    """The value at the dotted ``path`` of ``result``, or ``MISSING``."""
    root, *rest = path.split(".")
    if root not in RESULT_PATHS:
        return MISSING
    value: Any = getattr(result, root)
    if value is None:
        return MISSING
    if isinstance(value, Enum):
        value = value.value
    for part in rest:
        if isinstance(value, Mapping):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def check(step: Step, result: Result) -> tuple[str, ...]:
    """Every expectation of ``step`` that ``result`` does not meet, as a sentence; empty when all hold."""
    failures = (_failure(expectation, result) for expectation in step.expect)
    return tuple(sentence for sentence in failures if sentence is not None)


def _failure(exp: Expectation, result: Result) -> str | None:
    actual = resolve(result, exp.path)
    if exp.op == "exists":
        want = exp.value is None or bool(exp.value)
        if (actual is not MISSING) == want:
            return None
        if want:
            return f"expected {exp.path} to exist, but the result has no {exp.path}"
        return f"expected {exp.path} not to exist, but it is {_show(actual)}"
    if actual is MISSING:
        return f"expected {exp.path} {_wanted(exp)}, but the result has no {exp.path}"
    holds, why = _holds(exp, actual)
    if holds:
        return None
    return f"expected {exp.path} {_wanted(exp)}, but it is {_show(actual)}{why}"


def _holds(exp: Expectation, actual: Any) -> tuple[bool, str]:
    """Whether ``actual`` meets ``exp`` (never MISSING here), and a note when the types cannot compare."""
    if exp.op == "truthy":
        return bool(actual) == (exp.value is None or bool(exp.value)), ""
    if exp.op == "==":
        return _equal(actual, exp.value), ""
    if exp.op == "!=":
        return not _equal(actual, exp.value), ""
    if exp.op == "contains":
        if isinstance(actual, str):
            return isinstance(exp.value, str) and exp.value in actual, ""
        if isinstance(actual, list | tuple):
            return any(_equal(item, exp.value) for item in actual), ""
        if isinstance(actual, Mapping):
            return exp.value in actual, ""
        return False, " (not text, a list or a mapping)"
    if not _number(actual):
        return False, " (not a number)"
    if not _number(exp.value):
        return False, " (the expected value is not a number)"
    compare = {">": actual > exp.value, ">=": actual >= exp.value, "<": actual < exp.value, "<=": actual <= exp.value}
    return compare[exp.op], ""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    """``==`` that keeps booleans apart from numbers (``true`` is not ``1``), at any depth."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _wanted(exp: Expectation) -> str:
    if exp.op == "truthy":
        return "to be truthy" if exp.value is None or exp.value else "to be falsy"
    if exp.op == "contains":
        return f"to contain {_show(exp.value)}"
    return f"{exp.op} {_show(exp.value)}"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
