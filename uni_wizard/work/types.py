"""What a house works from: a plan of tool steps, and what each step produced.

A plan comes from a playbook (a fenced ``uni-wizard`` YAML block in the issue body) or from a
``Planner`` (a whole plan decided up front). An ``AgentRunner`` (the model's tool-calling loop,
``uni_wizard.work.agent_loop.AgentPlanner``) decides its steps one at a time instead, and runs each
through the ``StepRunner`` the worker hands it. Either way steps run through the house's own Harness,
so its policy, its mode and provenance apply to every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..cascade.types import Usage
from ..dispatch.types import IssueText
from ..errors import ModelError
from ..harness.result import Result
from ..tools.spec import ToolSpec

__all__ = [
    "AgentContext",
    "AgentRun",
    "AgentRunner",
    "Expectation",
    "ModelCheck",
    "ModelGate",
    "ModelSetup",
    "Plan",
    "Planner",
    "Step",
    "StepOutcome",
    "StepRunner",
]

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
    """The seam for a whole plan decided before anything runs; ``None`` means no plan for this issue."""

    async def plan(self, issue: IssueText, house: str, tools: Sequence[ToolSpec]) -> Plan | None: ...


# Runs one step through the house's Harness (``{worktree}``... filled in), records it, returns its outcome.
StepRunner = Callable[[Step], Awaitable[StepOutcome]]


@dataclass(frozen=True)
class AgentContext:
    """What an agent works on: the issue, the house, the clone (``worktree`` on ``branch``), and the tools
    the house's policy lets it use (what the model is shown)."""

    issue: IssueText
    house: str
    repo: str
    worktree: str
    branch: str
    tools: tuple[ToolSpec, ...]


@dataclass(frozen=True)
class AgentRun:
    """How an agent's loop ended.

    ``finished`` when the model answered without asking for a tool (``answer`` is that answer); otherwise
    ``stop`` says why it ended: ``BudgetExhausted`` (``.budget`` is "steps", "tokens" or "time") or the
    ``ModelError`` the model failed with. ``turns`` counts model requests, ``tool_calls`` the steps run.
    """

    finished: bool
    answer: str = ""
    stop: ModelError | None = None
    turns: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    model: str = ""  # "provider/model" of the last answer
    seconds: float = 0.0

    def summary(self) -> str:
        """One paragraph for the report: how it ended and what it cost."""
        cost = (
            f"{self.turns} model request(s), {self.tool_calls} tool call(s), "
            f"{self.usage.input_tokens + self.usage.output_tokens} tokens, {self.seconds:.1f} s"
        )
        who = f"the model `{self.model}`" if self.model else "the model"
        if self.finished:
            return f"{who} finished after {cost}."
        return f"{who} stopped after {cost}: {self.stop}"


class AgentRunner(Protocol):
    """The seam for a model-driven agent loop: it calls ``execute`` for each step it decides on."""

    async def run(self, context: AgentContext, execute: StepRunner) -> AgentRun: ...


@dataclass(frozen=True)
class ModelCheck:
    """What a look at the model providers found: ``usable`` names those that can take a request now
    (``"llamacpp (smollm2)"``), ``problems`` says for each other one why it cannot (one line each)."""

    usable: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


class ModelGate(Protocol):
    """The seam of ``planner: auto``: asked before each issue without a playbook whether a model can plan it."""

    async def check(self) -> ModelCheck: ...


@dataclass(frozen=True)
class ModelSetup:
    """Where a worker's model comes from, to name in a comment when there is none: the ``planner`` setting and
    where it was set (``default``, the settings file, ``environment variable UNIWIZARD_PLANNER``), and the cascade
    file in force (``shipped``: the one that comes with uni-wizard, not the host's own)."""

    planner: Literal["auto", "playbook", "model"] = "auto"
    planner_from: str = "default"
    cascade_file: str = "configs/cascade.yaml"
    shipped: bool = True
