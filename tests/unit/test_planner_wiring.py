"""The model switches in the settings: by default (`planner: auto`) the worker gets the model planner behind a
gate that asks the cascade first, and triage no classifier; `planner: model` gives the planner without the
gate, `playbook` none; the budgets come from the settings, triage_model turns the model classifier on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.assembly.worker import build_worker
from uni_wizard.cascade import Cascade
from uni_wizard.cascade.config import default_cascade_path
from uni_wizard.config import Settings
from uni_wizard.dispatch.classifier import ModelClassifier
from uni_wizard.harness.runtime import Runtime
from uni_wizard.testing import ScriptedModel, make_runtime
from uni_wizard.work.agent_loop import AgentPlanner
from uni_wizard.work.model_gate import CascadeGate
from uni_wizard.work.types import ModelSetup

BASE: dict[str, Any] = {"gitea_url": "http://127.0.0.1:9/", "gitea_token": "not-a-real-token", "house": "ezra"}


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for runtime in made:
        runtime.close()


def runtime_with(runtimes: list[Runtime], root: Path, **settings: Any) -> Runtime:
    runtime = make_runtime(root / str(len(runtimes)), roles=("worker", "dispatcher"), **{**BASE, **settings})
    runtimes.append(runtime)
    return runtime


async def test_by_default_the_worker_plans_with_a_model_when_one_answers(
    runtimes: list[Runtime], tmp_path: Path
) -> None:
    """`planner: auto`: the model planner on the cascade of the shipped file, asked through a gate before each
    issue without a playbook (building it contacts nothing); triage's classifier stays off."""
    assert Settings().planner == "auto"
    runtime = runtime_with(runtimes, tmp_path)
    async with contextlib.AsyncExitStack() as closing:
        worker = build_worker(runtime.settings, runtime, closing=closing)
        loop = build_dispatch_loop(runtime.settings, runtime, closing=closing)
        assert isinstance(worker.agent, AgentPlanner) and isinstance(worker.gate, CascadeGate)
        assert worker.gate.cascade is worker.agent.model
        assert [p.name for p in worker.gate.cascade.providers] == ["ollama", "llamacpp"]
        assert worker.setup == ModelSetup("auto", "default", str(default_cascade_path()), shipped=True)
        assert loop.dispatcher.classifier is None


async def test_planner_playbook_builds_no_model(runtimes: list[Runtime], tmp_path: Path) -> None:
    runtime = runtime_with(runtimes, tmp_path, planner="playbook")
    worker = build_worker(runtime.settings, runtime)
    try:
        assert worker.agent is None and worker.gate is None and worker.setup.planner == "playbook"
    finally:
        await worker.forge.aclose()


async def test_a_given_model_that_is_not_a_cascade_is_used_without_a_gate(
    runtimes: list[Runtime], tmp_path: Path
) -> None:
    runtime = runtime_with(runtimes, tmp_path)  # auto
    model = ScriptedModel([])
    worker = build_worker(runtime.settings, runtime, model=model)
    try:
        assert isinstance(worker.agent, AgentPlanner) and worker.agent.model is model and worker.gate is None
    finally:
        await worker.forge.aclose()


async def test_planner_model_gives_the_worker_the_agent_loop_with_the_budgets(
    runtimes: list[Runtime], tmp_path: Path
) -> None:
    runtime = runtime_with(
        runtimes, tmp_path, planner="model", planner_max_steps=5, planner_max_tokens=900, planner_max_seconds=30
    )
    model = ScriptedModel([])
    worker = build_worker(runtime.settings, runtime, model=model)
    try:
        assert isinstance(worker.agent, AgentPlanner) and worker.agent.model is model and worker.gate is None
        budget = worker.agent.budget
        assert (budget.max_steps, budget.max_tokens, budget.max_seconds) == (5, 900, 30.0)
    finally:
        await worker.forge.aclose()


async def test_without_a_model_given_the_cascade_of_the_settings_is_built(
    runtimes: list[Runtime], tmp_path: Path
) -> None:
    cascade_file = tmp_path / "cascade.yaml"
    cascade_file.write_text(
        "providers:\n"
        "  - name: local\n"
        "    kind: openai-compatible\n"
        "    url: http://127.0.0.1:9/v1\n"
        "    models: [{name: smollm2, context: 2048}]\n"
    )
    runtime = runtime_with(runtimes, tmp_path, planner="model", cascade_config=cascade_file)
    worker = build_worker(runtime.settings, runtime)
    try:
        assert isinstance(worker.agent, AgentPlanner) and isinstance(worker.agent.model, Cascade)
        assert [p.name for p in worker.agent.model.providers] == ["local"]
        assert worker.gate is None  # `model`: always the model, no look first
        assert worker.setup == ModelSetup("model", "settings", str(cascade_file), shipped=False)
    finally:
        await worker.forge.aclose()
        if isinstance(worker.agent, AgentPlanner) and isinstance(worker.agent.model, Cascade):
            await worker.agent.model.aclose()


async def test_triage_model_gives_the_dispatcher_the_model_classifier(runtimes: list[Runtime], tmp_path: Path) -> None:
    runtime = runtime_with(runtimes, tmp_path, triage_model=True)
    model = ScriptedModel([])
    loop = build_dispatch_loop(runtime.settings, runtime, model=model)
    try:
        classifier = loop.dispatcher.classifier
        assert isinstance(classifier, ModelClassifier) and classifier.model is model
    finally:
        await loop.forge.aclose()


@pytest.mark.parametrize(
    "bad",
    [{"planner": "gpt"}, {"planner_max_steps": 0}, {"planner_max_tokens": 0}, {"planner_max_seconds": 0}],
)
def test_bad_model_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)
