"""What a house works from: a plan of tool steps, and what each step produced.

A plan comes from a playbook (a fenced ``uni-wizard`` YAML block in the issue body) or from a
``Planner`` (the model-driven agent loop the cascade brings). Steps run through the house's own
Harness, so its policy, its mode and provenance apply to every call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..dispatch.types import IssueText
from ..harness.result import Result
from ..tools.spec import ToolSpec

__all__ = ["Expectation", "Plan", "Planner", "Step", "StepOutcome"]

Op = Literal["==", "!=", ">", ">=", "<", "<=", "contains", "exists", "truthy"]


@dataclass(frozen=True)
class Expectation:
    """``path`` is dotted into the Result: ``status``, ``ok``, ``output``, ``output.passed``..."""

    path: str
    op: Op
    value: Any = None


@dataclass(frozen=True)
class Step:
    """One tool call. ``args`` may use ``{worktree}``, ``{issue}``, ``{repo}``, ``{branch}``; ``line`` is the
    step's line in the issue body (for error messages)."""

    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)
    expect: tuple[Expectation, ...] = ()
    line: int = 0
    name: str = ""


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    source: Literal["playbook", "model"] = "playbook"
    title: str = ""  # the PR title, when the plan changes the repository


@dataclass(frozen=True)
class StepOutcome:
    step: Step
    result: Result
    failures: tuple[str, ...] = ()  # expectations that did not hold, as sentences

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.failures


class Planner(Protocol):
    """The seam for a model-driven agent loop; ``None`` means it has no plan for this issue."""

    async def plan(self, issue: IssueText, house: str, tools: Sequence[ToolSpec]) -> Plan | None: ...
