"""The worker with the model planner, end to end: a real devforge over loopback HTTP, real git clones and
pushes, real SQLite provenance; only the model is scripted (``ScriptedModel``).

An issue without a playbook is done by the agent loop: every tool call the model asks for runs through the
house's Harness (policy, read-before-write, provenance under the issue's task) and is listed in the report
like a playbook step; a change becomes a pull request; a budget that runs out or a model that is down
blocks the issue with a report saying which and what was done; a playbook still wins over the model.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bootstrapped_forge import ADMIN, Mesh, start_mesh
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.worker import worker_on
from uni_wizard.errors import CascadeExhausted
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.models import Comment
from uni_wizard.harness.runtime import Runtime
from uni_wizard.testing import ScriptedModel, make_runtime, text_reply, tool_reply
from uni_wizard.work.agent_loop import AgentBudget, AgentPlanner
from uni_wizard.work.report import report_marker
from uni_wizard.work.worker import Worker

ORG = "mesh"
NOTES = "# Notes\n\nThe mesh has four houses.\n"
# ezra's policy requires proof: the repository names a test command that passes (a notes repository has no suite)
CONFIG = f"test_command: [{sys.executable!r}, -c, 'pass']\n"
ANALYSED = NOTES + "\n## Analysis\n\nFour is enough.\n"
NOTES_PATH = "{worktree}/docs/notes.md"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with start_mesh(tmp_path_factory.mktemp("agent-mesh")) as started:
        yield started


@dataclass
class Repo:
    mesh: Mesh
    name: str
    runtime: Runtime
    timmy: GiteaClient
    ezra: GiteaClient

    @property
    def full(self) -> str:
        return f"{ORG}/{self.name}"

    async def route(self, title: str, body: str) -> int:
        issue = await self.timmy.create_issue(ORG, self.name, title, body)
        labels = ["status/routed", "house/ezra", "kind/research", "priority/P2"]
        await self.timmy.replace_labels(ORG, self.name, issue.number, labels)
        await self.timmy.edit_issue(ORG, self.name, issue.number, assignees=["ezra"])
        return issue.number

    def worker(self, model: ScriptedModel, **budget: Any) -> Worker:
        return worker_on(
            self.runtime,
            self.ezra,
            house="ezra",
            repos=[self.full],
            agent=AgentPlanner(model, budget=AgentBudget(**budget)),
            claim_ttl=60.0,
            host="test-host",
            token=self.mesh.token("ezra"),
        )

    async def report(self, number: int) -> Comment:
        comments = await self.timmy.list_comments(ORG, self.name, number)
        (comment,) = [c for c in comments if report_marker("ezra", number) in c.body]
        return comment

    async def labels(self, number: int) -> set[str]:
        return set((await self.timmy.get_issue(ORG, self.name, number)).label_names)

    def provenance(self, number: int) -> list[tuple[str, str]]:
        return [(r.tool, r.status) for r in self.runtime.provenance.tail(50, task=f"{self.full}#{number}")]


@pytest.fixture
async def repo(mesh: Mesh, tmp_path: Path) -> AsyncIterator[Repo]:
    name = f"a-{uuid.uuid4().hex[:8]}"
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(name, org=ORG, auto_init=True)
        for user, permission in (("timmy", "admin"), ("ezra", "write")):
            await root.add_collaborator(ORG, name, user, permission)
    runtime = make_runtime(tmp_path, gitea_url=mesh.url)
    timmy = GiteaClient(mesh.url, mesh.token("timmy"), registry=CollectorRegistry())
    ezra = GiteaClient(mesh.url, mesh.token("ezra"), registry=CollectorRegistry())
    await timmy.create_file(ORG, name, "docs/notes.md", NOTES.encode(), "add the notes")
    await timmy.create_file(ORG, name, ".uni-wizard.yaml", CONFIG.encode(), "name the test command")
    for label in ("status/routed", "status/in-progress", "status/review", "status/done", "status/blocked"):
        await timmy.ensure_label(ORG, name, label, "#cccccc", exclusive=True)
    for label in ("house/ezra", "kind/research", "priority/P2"):
        await timmy.ensure_label(ORG, name, label, "#cccccc")
    try:
        yield Repo(mesh, name, runtime, timmy, ezra)
    finally:
        await timmy.aclose()
        await ezra.aclose()
        runtime.close()


async def test_the_model_planner_does_an_issue_without_a_playbook(repo: Repo) -> None:
    number = await repo.route("Analyse the notes", "Add an analysis section to docs/notes.md.")
    model = ScriptedModel(
        [
            tool_reply(("file_write", {"path": NOTES_PATH, "content": ANALYSED})),  # blind: denied
            tool_reply(("file_read", {"path": NOTES_PATH})),
            tool_reply(("file_write", {"path": NOTES_PATH, "content": ANALYSED})),
            text_reply("Added an analysis section: four houses are enough."),
        ]
    )

    (report,) = await repo.worker(model).poll_once()

    assert report.status == "review", report.reason
    assert "status/review" in await repo.labels(number)
    # the model's calls ran through ezra's Harness under the issue's task, then the worker published
    assert repo.provenance(number) == [
        ("file_write", "denied"),
        ("file_read", "ok"),
        ("file_write", "ok"),
        ("git_commit", "ok"),
        ("run_tests", "ok"),  # the proof
        ("git_push", "ok"),
    ]
    assert [o.step.tool for o in report.outcomes][:3] == ["file_write", "file_read", "file_write"]
    worktree = model.requests[0].messages[0].content
    assert f"ezra/issue-{number}" in worktree  # the model was told where the clone is
    assert str(report.outcomes[1].step.args["path"]).endswith("/docs/notes.md")  # {worktree} filled in
    assert "{worktree}" not in str(report.outcomes[1].step.args["path"])
    denied = model.tool_messages(1)
    assert denied[0]["status"] == "denied" and denied[0]["rule"] == "read_before_write"

    (pull,) = await repo.timmy.list_pulls(ORG, repo.name, state="all")
    assert pull.head_ref == f"ezra/issue-{number}" and pull.title == "Analyse the notes"
    written = await repo.timmy.get_contents(ORG, repo.name, "docs/notes.md", ref=pull.head_ref)
    assert written.content is not None and written.content.decode() == ANALYSED
    comment = (await repo.report(number)).body
    assert "**review**" in comment and "Model planner" in comment
    assert "four houses are enough" in comment and "4 model request(s), 3 tool call(s)" in comment
    assert "read_before_write" in comment  # the denied step is listed like any other


async def test_a_budget_that_runs_out_blocks_the_issue_and_says_which(repo: Repo) -> None:
    number = await repo.route("Read the notes forever", "Keep reading.")
    model = ScriptedModel([tool_reply(("file_read", {"path": NOTES_PATH})) for _ in range(5)])

    (report,) = await repo.worker(model, max_steps=2).poll_once()

    assert report.status == "blocked" and "step budget ran out" in report.reason
    assert await repo.labels(number) >= {"status/blocked"}
    assert repo.provenance(number) == [("file_read", "ok"), ("file_read", "ok")]
    comment = (await repo.report(number)).body
    assert "**blocked**" in comment and "more than 2 tool calls" in comment and "2 tool call(s)" in comment
    assert await repo.timmy.list_pulls(ORG, repo.name, state="all") == []


async def test_a_model_that_is_down_blocks_the_issue_with_the_reason(repo: Repo) -> None:
    number = await repo.route("Analyse the notes", "Please.")
    down = CascadeExhausted("every provider failed: ollama (connection refused)")
    model = ScriptedModel([down])

    (report,) = await repo.worker(model).poll_once()

    assert report.status == "blocked" and report.outcomes == []
    comment = (await repo.report(number)).body
    assert "every provider failed" in comment and "No step ran." in comment


async def test_a_playbook_still_wins_over_the_model(repo: Repo) -> None:
    body = f'Look.\n\n```uni-wizard\n- tool: file_read\n  args: {{path: "{NOTES_PATH}"}}\n```\n'
    number = await repo.route("Look at the notes", body)
    model = ScriptedModel([])

    (report,) = await repo.worker(model).poll_once()

    assert report.status == "done" and model.requests == []
    assert repo.provenance(number) == [("file_read", "ok")]
