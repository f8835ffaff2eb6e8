"""The model switches in the settings: off by default (no agent, no classifier, no model contacted); on,
the worker gets the model planner within the configured budgets and triage the model classifier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from uni_wizard.cascade import Cascade
from uni_wizard.cascade.classifier import ModelClassifier
from uni_wizard.cascade.planner import AgentPlanner
from uni_wizard.config import Settings
from uni_wizard.dispatch.wiring import build_dispatch_loop
from uni_wizard.harness.runtime import Runtime
from uni_wizard.testing import ScriptedModel, make_runtime
from uni_wizard.work.wiring import build_worker

BASE: dict[str, Any] = {"gitea_url": "http://127.0.0.1:9/", "gitea_token": "not-a-real-token", "house": "ezra"}


@pytest.fixture
def runtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Runtime]]:
    for name in [n for n in os.environ if n.startswith("UNIWIZARD_")]:
        monkeypatch.delenv(name)
    made: list[Runtime] = []
    yield made
    for runtime in made:
        runtime.close()


def runtime_with(runtimes: list[Runtime], root: Path, **settings: Any) -> Runtime:
    runtime = make_runtime(root / str(len(runtimes)), roles=("worker", "dispatcher"), **{**BASE, **settings})
    runtimes.append(runtime)
    return runtime


async def test_by_default_no_model_is_used(runtimes: list[Runtime], tmp_path: Path) -> None:
    runtime = runtime_with(runtimes, tmp_path)
    worker = build_worker(runtime.settings, runtime)
    loop = build_dispatch_loop(runtime.settings, runtime)
    try:
        assert worker.agent is None and loop.dispatcher.classifier is None
    finally:
        await worker.forge.aclose()
        await loop.forge.aclose()


async def test_planner_model_gives_the_worker_the_agent_loop_with_the_budgets(
    runtimes: list[Runtime], tmp_path: Path
) -> None:
    runtime = runtime_with(
        runtimes, tmp_path, planner="model", planner_max_steps=5, planner_max_tokens=900, planner_max_seconds=30
    )
    model = ScriptedModel([])
    worker = build_worker(runtime.settings, runtime, model=model)
    try:
        assert isinstance(worker.agent, AgentPlanner) and worker.agent.model is model
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
