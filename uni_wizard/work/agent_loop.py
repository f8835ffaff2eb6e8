"""The model planner: a tool-calling agent loop that does an issue through the house's Harness.

``AgentPlanner(model).run(context, execute)`` shows the model the issue and the tools the house's policy
allows (as JSON-schema functions), then loops: ask the model → run each tool call it asks for through
``execute`` (the worker's step runner: the house's Harness, so policy denials, approvals and provenance
hold, and the step is recorded like a playbook step) → give it the result as a ``tool`` message → until
it answers without a tool call. A denied, failed or malformed call is not a crash: its result (status,
error type, reason) is what the model reads next.

Budgets (``AgentBudget``), checked before every model request and every tool call:

- ``max_steps``: tool calls; the model asking for one more ends the loop with ``BudgetExhausted("steps")``;
- ``max_tokens``: input plus output tokens summed over the loop's requests (from each ``Completion.usage``);
- ``max_seconds``: wall time read from the injected ``clock``; a model request also gets only what is left.

A final answer that arrives is always taken, even if it used the last of a budget. A ``ModelError``
(every provider down, a rejected request) ends the loop too; ``AgentRun.stop`` carries it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..cascade.types import CompletionClient, Message, ToolCall, ToolSchema, Usage
from ..errors import BudgetExhausted, ModelError
from ..harness.provenance import redact
from ..harness.result import Result, Status
from ..tools.spec import ToolSpec
from .types import AgentContext, AgentRun, Step, StepRunner

__all__ = ["AgentBudget", "AgentPlanner", "render_tool_result", "system_prompt", "tool_schemas"]

BODY_LIMIT = 8_000  # characters of the issue body shown to the model


@dataclass(frozen=True)
class AgentBudget:
    """How far one agent run may go: tool calls, tokens (input + output) and seconds of wall time."""

    max_steps: int = 12
    max_tokens: int = 20_000
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.max_tokens < 1 or not self.max_seconds > 0:
            raise ValueError(f"every agent budget must be positive: {self}")


def tool_schemas(tools: Sequence[ToolSpec]) -> tuple[ToolSchema, ...]:
    """The functions the model is offered: each tool's name, description and argument JSON schema."""
    return tuple(ToolSchema(spec.name, spec.description, spec.parameters) for spec in tools)


def system_prompt(context: AgentContext) -> str:
    return (
        f"You are {context.house}, a house of the uni-wizard mesh, working on issue #{context.issue.number} "
        f"of {context.repo}. The repository is cloned at {context.worktree} on branch {context.branch}; give "
        "the tools absolute paths inside it (writing {worktree} in an argument stands for that path).\n"
        "Use the tools to do what the issue asks. Every call is checked against your house's policy; a "
        "refused or failed call comes back as the tool's result: read it and adapt, do not repeat it.\n"
        "Do not commit, push or open a pull request yourself: when you stop, the worker commits what "
        "changed, proves it and asks for review.\n"
        "When the work is done, answer without calling a tool: a short report of what you did and found."
    )


def issue_prompt(context: AgentContext) -> str:
    issue = context.issue
    body = issue.body if len(issue.body) <= BODY_LIMIT else issue.body[:BODY_LIMIT] + "\n[... body cut ...]"
    labels = ", ".join(issue.labels) or "none"
    return f"Issue #{issue.number}: {issue.title}\nLabels: {labels}\n\n{body}".rstrip()


def render_tool_result(result: Result, limit: int) -> str:
    """What the model reads back from a call: JSON with the status and the output, or why it failed.

    Secret-looking keys are redacted; text beyond ``limit`` characters is cut (and says so).
    """
    data: dict[str, Any] = {"status": str(result.status)}
    if result.status is Status.OK:
        data["output"] = redact(result.output)
    elif result.status is Status.DENIED:
        data["rule"], data["reason"] = result.rule, result.reason or result.error
    elif result.status is Status.PENDING_APPROVAL:
        data["approval_id"] = result.approval_id
        data["reason"] = "the call waits for a sovereign approval; it did not run"
    else:
        data["error_type"], data["error"] = result.error_type, result.error
    text = json.dumps(data, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = f"{text[:limit]}... [cut: {len(text) - limit} of {len(text)} characters not shown]"
    return text


class AgentPlanner:
    """The ``AgentRunner`` on a ``CompletionClient`` (the cascade; ``ScriptedModel`` in tests).

    >>> planner = AgentPlanner(cascade, budget=AgentBudget(max_steps=8))
    >>> run = await planner.run(context, execute)   # the worker's context and step runner
    """

    def __init__(
        self,
        model: CompletionClient,
        *,
        budget: AgentBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        result_chars: int = 4_000,
    ) -> None:
        self.model, self.budget, self.clock = model, budget or AgentBudget(), clock
        self.result_chars = result_chars

    async def run(self, context: AgentContext, execute: StepRunner) -> AgentRun:
        loop = _Loop(self, context)
        return await loop.run(execute)


class _Loop:
    """One run's state: the conversation and what has been spent."""

    def __init__(self, planner: AgentPlanner, context: AgentContext) -> None:
        self.planner, self.budget, self.clock = planner, planner.budget, planner.clock
        self.schemas = tool_schemas(context.tools)
        self.messages = [Message("system", system_prompt(context)), Message("user", issue_prompt(context))]
        self.started = self.clock()
        self.turns = self.calls = 0
        self.usage = Usage()
        self.model = ""

    def _end(self, *, answer: str = "", stop: ModelError | None = None) -> AgentRun:
        return AgentRun(
            finished=stop is None,
            answer=answer,
            stop=stop,
            turns=self.turns,
            tool_calls=self.calls,
            usage=self.usage,
            model=self.model,
            seconds=max(0.0, self.clock() - self.started),
        )

    def _left(self) -> float:
        return self.budget.max_seconds - (self.clock() - self.started)

    def _out_of_time(self) -> BudgetExhausted:
        return BudgetExhausted(f"the time budget ran out: {self.budget.max_seconds:g} s of wall time", budget="time")

    async def run(self, execute: StepRunner) -> AgentRun:
        while True:
            if self._left() <= 0:
                return self._end(stop=self._out_of_time())
            spent = self.usage.input_tokens + self.usage.output_tokens
            if spent >= self.budget.max_tokens:
                message = f"the token budget ran out: {spent} of {self.budget.max_tokens} tokens used"
                return self._end(stop=BudgetExhausted(message, budget="tokens"))
            try:
                completion = await asyncio.wait_for(
                    self.planner.model.complete(self.messages, self.schemas or None), timeout=self._left()
                )
            except TimeoutError:
                return self._end(stop=self._out_of_time())
            except ModelError as exc:
                return self._end(stop=exc)
            self.turns += 1
            self.model = f"{completion.provider}/{completion.model}"
            self.usage = Usage(
                self.usage.input_tokens + completion.usage.input_tokens,
                self.usage.output_tokens + completion.usage.output_tokens,
            )
            if completion.incomplete:
                broke = ModelError("the model's answer broke off mid-stream", provider=completion.provider)
                return self._end(answer=completion.content, stop=broke)
            if not completion.tool_calls:
                return self._end(answer=completion.content.strip())
            calls = tuple(
                ToolCall(call.name, call.arguments, call.id or f"call_{self.turns}_{index}")
                for index, call in enumerate(completion.tool_calls, 1)
            )
            self.messages.append(Message("assistant", completion.content, tool_calls=calls))
            for call in calls:
                stop = self._before_call()
                if stop is not None:
                    return self._end(stop=stop)
                if isinstance(call.arguments, Mapping):
                    outcome = await execute(Step(call.name, call.arguments, name=f"model call {self.calls + 1}"))
                    content = render_tool_result(outcome.result, self.planner.result_chars)
                else:  # not even an object: nothing the Harness could check, so nothing runs
                    problem = f"{call.name}: the arguments must be a JSON object, got {type(call.arguments).__name__}"
                    content = json.dumps({"status": "error", "error_type": "ToolCallError", "error": problem})
                self.calls += 1
                self.messages.append(Message("tool", content, tool_call_id=call.id, name=call.name))

    def _before_call(self) -> BudgetExhausted | None:
        if self.calls >= self.budget.max_steps:
            return BudgetExhausted(
                f"the step budget ran out: the model asked for more than {self.budget.max_steps} tool calls",
                budget="steps",
            )
        if self._left() <= 0:
            return self._out_of_time()
        return None
