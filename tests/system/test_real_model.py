"""The real-model tier (``-m real_model``): the REAL ``Cascade`` with a dead Ollama port in front of a real
llama.cpp server (``python -m llama_cpp.server``) serving SmolLM2-135M on loopback, one run of the model
planner on it, and a worker built from default settings (``planner: auto``) taking a plain issue (no
playbook) from a devforge to a pull request or a blocked comment that says what the model did.

The model venv comes from ``make model-venv`` (``scripts/real_model.py prepare``). Without it the tier is
skipped, saying how to get it, except under ``make test`` (``REAL_MODEL_REQUIRED=1``), where a missing model
fails. SmolLM2-135M answers poorly: these tests check the mechanics (provider, fallbacks, usage, streaming,
errors, steps recorded through the Harness), never the wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from llama_server import LlamaServer, free_port, llama_fixture
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from bootstrapped_forge import ADMIN, Mesh, start_mesh

from uni_wizard.assembly.worker import build_worker
from uni_wizard.cascade import Cascade, Message
from uni_wizard.cascade.config import CascadeConfig
from uni_wizard.config import default_houses_dir
from uni_wizard.dispatch.types import IssueText
from uni_wizard.errors import BudgetExhausted, CascadeExhausted, ModelError
from uni_wizard.forge import GiteaClient
from uni_wizard.harness.core import Harness
from uni_wizard.harness.result import Call
from uni_wizard.policy.loader import load_houses
from uni_wizard.policy.model import Mode, ToolRules
from uni_wizard.testing import make_runtime
from uni_wizard.work.agent_loop import AgentBudget, AgentPlanner
from uni_wizard.work.report import report_marker
from uni_wizard.work.types import AgentContext, Step, StepOutcome

pytestmark = pytest.mark.real_model

QUESTION = [Message("system", "Answer in one short sentence."), Message("user", "Name the three primary colours.")]


llama = llama_fixture()


def config_for(llama: LlamaServer) -> CascadeConfig:
    return CascadeConfig.model_validate(cascade_data(llama))


def cascade_data(llama: LlamaServer) -> dict[str, Any]:
    """A dead Ollama port in front of the llama.cpp server, as a cascade file holds it."""
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
    return data


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


# -- a plain issue through a worker built from default settings -------------------------------------------

ORG = "mesh"
NOTES = "# Notes\n\nThe mesh has four houses.\n"
ISSUE = "Add the line `Timmy reviews every change.` at the end of docs/notes.md."
WAIT = 420  # seconds: the planner's 240 s budget, the clone, the push, the forge's answers


def small_ezra() -> dict[str, Any]:
    """The shipped houses, with ezra shown only file_read and file_write: the prompt then fits SmolLM2's 2,048
    tokens of context (its policy, read-before-write included, is otherwise ezra's own; without run_tests it
    cannot prove, so proof is not required here: what is tested is the model's plan, not the proof)."""
    houses = load_houses(default_houses_dir())
    ezra = houses["ezra"]
    houses["ezra"] = ezra.model_copy(
        update={
            "tools": ToolRules(allow=("file:file_read", "file:file_write")),
            "rules": ezra.rules.model_copy(update={"proof_required": False}),
        }
    )
    return houses


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    """A bootstrapped devforge (started outside the test's event loop: ``start_mesh`` runs its own)."""
    with start_mesh(tmp_path / "mesh") as started:
        yield started


async def test_a_plain_issue_reaches_a_pull_request_or_a_blocked_comment_on_the_real_model(
    llama: LlamaServer, mesh: Mesh, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uni_wizard.work")
    cascade_file = tmp_path / "cascade.yaml"
    cascade_file.write_text(yaml.safe_dump(cascade_data(llama)))
    name = f"r-{uuid.uuid4().hex[:8]}"
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(name, org=ORG, auto_init=True)
        for user, permission in (("timmy", "admin"), ("ezra", "write")):
            await root.add_collaborator(ORG, name, user, permission)
    async with GiteaClient(mesh.url, mesh.token("timmy"), registry=CollectorRegistry()) as timmy:
        await timmy.create_file(ORG, name, "docs/notes.md", NOTES.encode(), "add the notes")
        for label in ("status/routed", "status/in-progress", "status/review", "status/done", "status/blocked"):
            await timmy.ensure_label(ORG, name, label, "#cccccc", exclusive=True)
        issue = await timmy.create_issue(ORG, name, "Note who reviews", ISSUE)
        await timmy.replace_labels(ORG, name, issue.number, ["status/routed"])
        await timmy.edit_issue(ORG, name, issue.number, assignees=["ezra"])
        runtime = make_runtime(
            tmp_path / "host", houses=small_ezra(), gitea_url=mesh.url, gitea_token=mesh.token("ezra"),
            house="ezra", worker_repos=(f"{ORG}/{name}",), cascade_config=cascade_file,
            planner_max_steps=3, planner_max_tokens=6_000, planner_max_seconds=240,
        )  # fmt: skip
        try:
            async with contextlib.AsyncExitStack() as closing:
                worker = build_worker(runtime.settings, runtime, closing=closing)  # planner: auto, the default
                (report,) = await asyncio.wait_for(worker.poll_once(), timeout=WAIT)  # never a silent stall
        finally:
            runtime.close()
        comments = await timmy.list_comments(ORG, name, issue.number)
        labels = set((await timmy.get_issue(ORG, name, issue.number)).label_names)
        pulls = await timmy.list_pulls(ORG, name, state="all")

    task = f"{ORG}/{name}#{issue.number}"
    said = [r.getMessage() for r in caplog.records if r.name.startswith("uni_wizard.work")]
    assert f"ezra: plan for {task} from the model planner (local (smollm2) answers)" in said  # auto chose the model
    (body,) = [c.body for c in comments if report_marker("ezra", issue.number) in c.body]
    assert "Model planner: the model" in body and "model request(s)" in body  # what the model did, and its cost
    assert f"status/{report.status}" in labels
    if report.status == "review":
        (pull,) = pulls
        assert (
            pull.head_ref == f"ezra/issue-{issue.number}"
            and f"ezra: PR opened !{pull.number} for {task}" in " ".join(said)
        )
    else:  # SmolLM2-135M may loop, overflow its context, or change nothing: each ends in a comment, not a crash
        assert report.status in ("blocked", "done"), report.reason
        assert pulls == [] and report.reason in body
        assert any(line.startswith((f"ezra blocked {task}:", f"ezra: {task} is done:")) for line in said)
