"""The real-model tier (``-m real_model``): the REAL ``Cascade`` with a dead Ollama port in front of a real
llama.cpp server (``python -m llama_cpp.server``) serving SmolLM2-135M on loopback, and one run of the model
planner on it.

The model venv comes from ``make model-venv`` (``scripts/real_model.py prepare``). Without it the tier is
skipped, saying how to get it, except under ``make test`` (``REAL_MODEL_REQUIRED=1``), where a missing model
fails. SmolLM2-135M answers poorly: these tests check the mechanics (provider, fallbacks, usage, streaming,
errors, steps recorded through the Harness), never the wording.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_server import LlamaServer, ModelUnavailable, find_gguf, free_port, model_venv
from prometheus_client import CollectorRegistry

from uni_wizard.cascade import Cascade, Message
from uni_wizard.cascade.config import CascadeConfig
from uni_wizard.cascade.planner import AgentBudget, AgentPlanner
from uni_wizard.dispatch.types import IssueText
from uni_wizard.errors import BudgetExhausted, CascadeExhausted, ModelError
from uni_wizard.harness.core import Harness
from uni_wizard.harness.result import Call
from uni_wizard.policy.model import Mode
from uni_wizard.testing import make_runtime
from uni_wizard.work.types import AgentContext, Step, StepOutcome

pytestmark = pytest.mark.real_model

REQUIRED = os.environ.get("REAL_MODEL_REQUIRED") == "1"
QUESTION = [Message("system", "Answer in one short sentence."), Message("user", "Name the three primary colours.")]


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    venv = model_venv()
    try:
        gguf = find_gguf(venv)
    except ModelUnavailable as exc:
        if REQUIRED:
            pytest.fail(f"the real-model tier is required here (REAL_MODEL_REQUIRED=1): {exc}")
        pytest.skip(f"real-model tier: {exc}")
    with LlamaServer(venv, gguf, log=tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server


def config_for(llama: LlamaServer) -> CascadeConfig:
    dead = free_port()  # nothing listens there: connection refused
    data: dict[str, Any] = {
        "providers": [
            {
                "name": "ollama",
                "kind": "ollama",
                "url": f"http://127.0.0.1:{dead}",
                "models": [{"name": "qwen2.5:0.5b", "context": 8192}],
                "retry": {"attempts": 1},
                "breaker": {"fail_max": 2, "reset_timeout_seconds": 600},
            },
            {
                "name": "local",
                "kind": "openai-compatible",
                "url": llama.url,
                "models": [{"name": "smollm2", "context": 2048}],
                "timeouts": {"first_token_seconds": 120, "total_seconds": 300},
                "retry": {"attempts": 1},
            },
        ]
    }
    return CascadeConfig.model_validate(data)


@pytest.fixture
async def cascade(llama: LlamaServer) -> AsyncIterator[tuple[Cascade, CollectorRegistry]]:
    registry = CollectorRegistry()
    made = Cascade.from_config(config_for(llama), registry=registry)
    try:
        yield made, registry
    finally:
        await made.aclose()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_complete_fails_over_from_the_dead_ollama_and_counts_usage(
    cascade: tuple[Cascade, CollectorRegistry],
) -> None:
    model, registry = cascade

    first = await model.complete(QUESTION)
    second = await model.complete(QUESTION)

    assert (first.provider, first.model) == ("local", "smollm2")
    assert isinstance(first.content, str) and first.content.strip() and not first.incomplete
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    # the first request found Ollama refusing connections; the second failure tripped its breaker (fail_max 2)
    assert first.fallbacks == (("ollama", "local", "unavailable"),)
    assert second.fallbacks == (("ollama", "local", "circuit_open"),)
    fallbacks = "uniwizard_cascade_fallbacks_total"
    assert sample(registry, fallbacks, from_provider="ollama", to_provider="local", reason="unavailable") == 1
    assert sample(registry, fallbacks, from_provider="ollama", to_provider="local", reason="circuit_open") == 1
    tokens = "uniwizard_cascade_tokens_total"
    used = first.usage.input_tokens + second.usage.input_tokens
    assert sample(registry, tokens, provider="local", model="smollm2", direction="input") == used
    assert model.status()["providers"][0]["breaker"] == "open"


async def test_a_stream_arrives_in_pieces_from_the_local_server(cascade: tuple[Cascade, CollectorRegistry]) -> None:
    model, _ = cascade

    async with model.stream(QUESTION) as stream:
        pieces = [text async for text in stream]

    completion = stream.completion
    assert (completion.provider, completion.model) == ("local", "smollm2") and not completion.incomplete
    assert len(pieces) >= 2 and "".join(pieces) == completion.content and completion.content.strip()
    assert completion.fallbacks and completion.fallbacks[0][:2] == ("ollama", "local")
    collected = await model.complete(QUESTION, stream=True)
    assert collected.provider == "local" and collected.content.strip()


async def test_a_prompt_beyond_the_context_is_a_context_length_error(
    cascade: tuple[Cascade, CollectorRegistry],
) -> None:
    model, registry = cascade
    huge = [Message("user", "word " * 6000)]  # far more than 2,048 tokens

    with pytest.raises(CascadeExhausted) as caught:
        await model.complete(huge)

    # no model after smollm2 has a bigger context, so the cascade is exhausted; the local attempt says why
    local = [why for provider, name, why in caught.value.attempts if provider == "local"]
    assert (len(local), local[0].split(":")[0]) == (1, "context_length")
    assert sample(registry, "uniwizard_cascade_exhausted_total") == 1


async def test_the_model_planner_runs_its_loop_on_the_real_model(
    cascade: tuple[Cascade, CollectorRegistry], tmp_path: Path
) -> None:
    model, _ = cascade
    runtime = make_runtime(tmp_path)
    try:
        harness = Harness("ezra", Mode.INTELLIGENT, runtime=runtime, task="mesh/work#1")
        tree = Path(runtime.settings.workspace) / "clone"
        tree.mkdir()
        (tree / "notes.md").write_text("# Notes\n\nThe mesh has four houses.\n")
        outcomes: list[StepOutcome] = []

        async def execute(step: Step) -> StepOutcome:
            outcome = StepOutcome(step, await harness.run(Call(step.tool, step.args)))
            outcomes.append(outcome)
            return outcome

        context = AgentContext(
            IssueText(1, "How many houses?", f"Read {tree}/notes.md and say how many houses the mesh has."),
            "ezra",
            "mesh/work",
            str(tree),
            "ezra/issue-1",
            (runtime.registry.get("file_read"),),  # one small tool: the prompt fits the 2,048-token context
        )
        planner = AgentPlanner(model, budget=AgentBudget(max_steps=3, max_tokens=6_000, max_seconds=240))

        run = await planner.run(context, execute)

        assert run.turns >= 1 and run.model == "local/smollm2"
        assert run.usage.input_tokens > 0 and run.usage.output_tokens > 0
        if run.finished:
            assert isinstance(run.answer, str)
        else:  # a small model may loop, run long, or overflow its context: each ends the run cleanly
            assert isinstance(run.stop, BudgetExhausted | ModelError)
        # every call it asked for went through the Harness and is in the provenance log
        assert len(outcomes) <= run.tool_calls <= 3
        records = runtime.provenance.tail(10, task="mesh/work#1")
        assert [r.tool for r in records] == [o.step.tool for o in outcomes]
        assert all(o.result.provenance_id is not None for o in outcomes)
    finally:
        runtime.close()
