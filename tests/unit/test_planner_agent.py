"""The model planner's agent loop against a scripted model and a real Harness (real policy, real SQLite
provenance, real files): each tool call runs through the house's Harness and its result goes back to the
model; denials, unknown tools and bad arguments are fed back, not raised; every budget stops the loop
with ``BudgetExhausted`` naming it; a model failure stops it with that error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.cascade.types import Completion, Message, ToolSchema
from uni_wizard.dispatch.types import IssueText
from uni_wizard.errors import BudgetExhausted, CascadeExhausted
from uni_wizard.harness.core import Harness
from uni_wizard.harness.result import Call, Result, Status
from uni_wizard.policy.model import Mode
from uni_wizard.testing import FakeClock, ScriptedModel, make_runtime, text_reply, tool_reply
from uni_wizard.work.agent_loop import AgentBudget, AgentPlanner, render_tool_result
from uni_wizard.work.planner import allowed_tools
from uni_wizard.work.types import AgentContext, AgentRun, Step, StepOutcome

TASK = "mesh/work#7"


class Bench:
    """A house's Harness on a private runtime, a worktree with one file, and the steps it ran."""

    def __init__(self, root: Path, house: str = "ezra") -> None:
        self.runtime = make_runtime(root)
        self.house = house
        self.harness = Harness(house, Mode.INTELLIGENT, runtime=self.runtime, task=TASK)
        self.tree = Path(self.runtime.settings.workspace) / "clone"
        self.tree.mkdir()
        (self.tree / "notes.md").write_text("# Notes\n\nThe mesh has four houses.\n")
        self.outcomes: list[StepOutcome] = []
        policy = self.runtime.policy(house)
        self.context = AgentContext(
            IssueText(7, "Analyse the notes", "How many houses?", ("kind/research",)),
            house,
            "mesh/work",
            str(self.tree),
            f"{house}/issue-7",
            allowed_tools(self.runtime.registry, policy),
        )

    async def execute(self, step: Step) -> StepOutcome:
        args = {k: v.replace("{worktree}", str(self.tree)) if isinstance(v, str) else v for k, v in step.args.items()}
        result = await self.harness.run(Call(step.tool, args))
        outcome = StepOutcome(step, result)
        self.outcomes.append(outcome)
        return outcome

    async def run(self, model: ScriptedModel, **kwargs: Any) -> AgentRun:
        return await AgentPlanner(model, **kwargs).run(self.context, self.execute)

    def provenance(self) -> list[tuple[str, str]]:
        return [(r.tool, r.status) for r in self.runtime.provenance.tail(50, task=TASK)]


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    made = Bench(tmp_path)
    yield made
    made.runtime.close()


def notes(bench: Bench) -> str:
    return str(bench.tree / "notes.md")


# -- the loop ---------------------------------------------------------------------------------------


async def test_a_tool_call_runs_through_the_harness_and_its_result_goes_back(bench: Bench) -> None:
    model = ScriptedModel([tool_reply(("file_read", {"path": "{worktree}/notes.md"})), text_reply("Four houses.")])

    run = await bench.run(model)

    assert run.finished and run.stop is None and run.answer == "Four houses."
    assert (run.turns, run.tool_calls, run.model) == (2, 1, "script/scripted")
    assert (run.usage.input_tokens, run.usage.output_tokens) == (40, 20)
    (outcome,) = bench.outcomes
    assert outcome.result.ok and outcome.result.provenance_id is not None
    assert bench.provenance() == [("file_read", "ok")]

    first, second = model.requests
    system, user = first.messages
    assert system.role == "system" and str(bench.tree) in system.content and "ezra" in system.content
    assert user.role == "user" and "Issue #7: Analyse the notes" in user.content and "kind/research" in user.content
    # the model is shown the house's allowed tools only, with their JSON schemas
    assert first.tools is not None
    shown = {schema.name: schema for schema in first.tools}
    assert set(shown) == {spec.name for spec in bench.context.tools}
    assert "file_read" in shown and "http_post" not in shown and "service_control" not in shown
    assert shown["file_read"].parameters["required"] == ["path"]
    # the second request carries the assistant's call and the tool's result, answering that call
    assistant, tool = second.messages[2:]
    assert assistant.role == "assistant" and assistant.tool_calls[0].id == "call_1"
    assert (tool.role, tool.tool_call_id, tool.name) == ("tool", "call_1", "file_read")
    (fed,) = model.tool_messages()
    assert fed["status"] == "ok" and "four houses" in fed["output"]["content"]


async def test_a_denial_is_fed_back_and_the_loop_goes_on(bench: Bench) -> None:
    model = ScriptedModel(
        [
            tool_reply(
                ("file_write", {"path": notes(bench), "content": "blind\n"}), ("http_post", {"url": "http://x"})
            ),
            text_reply("I may not write blind."),
        ]
    )

    run = await bench.run(model)

    assert run.finished and run.tool_calls == 2
    write, post = model.tool_messages()
    assert (write["status"], write["rule"]) == ("denied", "read_before_write")
    assert post["status"] == "denied" and "http_post" in post["reason"]
    assert bench.provenance() == [("file_write", "denied"), ("http_post", "denied")]
    assert (bench.tree / "notes.md").read_text().startswith("# Notes")  # nothing written


async def test_an_unknown_tool_is_fed_back_as_a_tool_call_error(bench: Bench) -> None:
    model = ScriptedModel([tool_reply(("make_coffee", {"strength": 3})), text_reply("ok")])

    run = await bench.run(model)

    assert run.finished
    (fed,) = model.tool_messages()
    assert (fed["status"], fed["error_type"]) == ("error", "ToolCallError")
    assert "unknown tool 'make_coffee'" in fed["error"]
    assert bench.provenance() == [("make_coffee", "error")]  # recorded like any other call


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"pth": "x"}, "unknown argument 'pth'"),
        ({}, "missing argument 'path'"),
        ({"path": 12}, "argument 'path'"),
        (["a", "list"], "must be a JSON object"),
    ],
)
async def test_malformed_arguments_are_fed_back_as_a_tool_call_error(
    bench: Bench, arguments: Any, problem: str
) -> None:
    model = ScriptedModel([tool_reply(("file_read", arguments)), text_reply("sorry")])

    run = await bench.run(model)

    assert run.finished and run.tool_calls == 1
    (fed,) = model.tool_messages()
    assert (fed["status"], fed["error_type"]) == ("error", "ToolCallError") and problem in fed["error"]


async def test_a_model_failure_ends_the_loop_with_that_error(bench: Bench) -> None:
    down = CascadeExhausted("every provider failed", attempts=(("ollama", "m", "connection refused"),))
    model = ScriptedModel([tool_reply(("file_read", {"path": notes(bench)})), down])

    run = await bench.run(model)

    assert not run.finished and run.stop is down
    assert (run.turns, run.tool_calls) == (1, 1)
    assert "stopped after 1 model request(s), 1 tool call(s)" in run.summary()


async def test_a_stream_that_broke_off_ends_the_loop(bench: Bench) -> None:
    broken = Completion("Four hou", provider="local", model="m", incomplete=True)
    run = await bench.run(ScriptedModel([broken]))
    assert not run.finished and run.answer == "Four hou" and "broke off" in str(run.stop)


# -- budgets ------------------------------------------------------------------------------------------


def reading_forever(bench: Bench, **usage: int) -> ScriptedModel:
    return ScriptedModel([tool_reply(("file_read", {"path": notes(bench)}), **usage) for _ in range(10)])


async def test_the_step_budget_stops_the_loop_and_says_so(bench: Bench) -> None:
    model = reading_forever(bench)

    run = await bench.run(model, budget=AgentBudget(max_steps=3))

    assert not run.finished and isinstance(run.stop, BudgetExhausted) and run.stop.budget == "steps"
    assert "more than 3 tool calls" in str(run.stop)
    assert run.tool_calls == 3 and len(bench.outcomes) == 3 and len(model.requests) == 4
    assert "3 tool call(s)" in run.summary()


async def test_the_step_budget_counts_calls_within_one_answer(bench: Bench) -> None:
    many = tool_reply(*[("file_read", {"path": notes(bench)})] * 5)
    run = await bench.run(ScriptedModel([many]), budget=AgentBudget(max_steps=2))
    assert isinstance(run.stop, BudgetExhausted) and run.stop.budget == "steps" and len(bench.outcomes) == 2


async def test_the_token_budget_stops_before_the_next_request(bench: Bench) -> None:
    model = reading_forever(bench, input_tokens=20, output_tokens=10)

    run = await bench.run(model, budget=AgentBudget(max_tokens=50))

    assert isinstance(run.stop, BudgetExhausted) and run.stop.budget == "tokens"
    assert "60 of 50 tokens" in str(run.stop)
    assert len(model.requests) == 2 and run.tool_calls == 2


async def test_a_final_answer_is_taken_even_when_it_spends_the_last_tokens(bench: Bench) -> None:
    run = await bench.run(
        ScriptedModel([text_reply("done", input_tokens=90, output_tokens=30)]), budget=AgentBudget(max_tokens=50)
    )
    assert run.finished and run.answer == "done"


async def test_the_time_budget_reads_the_injected_clock(bench: Bench) -> None:
    clock = FakeClock()

    def slow(messages: Sequence[Message]) -> Completion:
        clock.advance(400)
        return tool_reply(("file_read", {"path": notes(bench)}))

    model = ScriptedModel([slow, slow, slow])
    run = await bench.run(model, budget=AgentBudget(max_seconds=600), clock=clock)

    assert isinstance(run.stop, BudgetExhausted) and run.stop.budget == "time"
    # the first answer's call ran (400 s spent); the second answer came at 800 s: its call did not run
    assert len(model.requests) == 2 and run.tool_calls == 1 and run.seconds == 800


async def test_a_model_request_gets_only_the_time_that_is_left(bench: Bench) -> None:
    never = asyncio.Event()

    class Hanging:
        async def complete(
            self, messages: Sequence[Message], tools: Sequence[ToolSchema] | None = None, stream: bool = False
        ) -> Completion:
            await never.wait()
            raise AssertionError("unreachable")

    run = await AgentPlanner(Hanging(), budget=AgentBudget(max_seconds=0.05)).run(bench.context, bench.execute)
    assert isinstance(run.stop, BudgetExhausted) and run.stop.budget == "time" and run.turns == 0


@pytest.mark.parametrize("budget", [{"max_steps": 0}, {"max_tokens": 0}, {"max_seconds": 0}])
def test_a_budget_must_be_positive(budget: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        AgentBudget(**budget)


# -- what the model reads back ------------------------------------------------------------------------


def test_a_long_result_is_cut_and_says_so() -> None:
    result = Result(Status.OK, "file_read", "ezra", Mode.SIMPLE, output={"content": "x" * 500})
    text = render_tool_result(result, 100)
    assert text.startswith('{"status": "ok"') and len(text) < 200 and "characters not shown]" in text


def test_secrets_in_a_result_are_redacted() -> None:
    result = Result(Status.OK, "http_get", "ezra", Mode.SIMPLE, output={"token": "s3cret", "body": "hi"})
    text = render_tool_result(result, 4_000)
    assert "s3cret" not in text and "hi" in text


def test_a_pending_approval_is_explained() -> None:
    result = Result(Status.PENDING_APPROVAL, "git_push", "timmy", Mode.SOVEREIGN, approval_id=4)
    text = render_tool_result(result, 4_000)
    assert '"approval_id": 4' in text and "did not run" in text
