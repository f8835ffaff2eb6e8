"""A worker built from default settings, end to end: a real devforge over loopback HTTP, real clones and pushes, a
real cascade (a fake OpenAI-compatible server on a loopback socket, or ports where nothing listens), real test
runs in the sandbox.

- ``planner: auto`` (the default): a plain issue (no playbook) goes to the model planner when a provider of the
  cascade answers; when none does, the issue is blocked with a comment naming the cascade file in force, its
  ``providers`` and the ``planner`` setting, and showing a playbook;
- the repository has no ``.uni-wizard.yaml``: the proof runs the detected pytest and says which and why;
- each decision is one INFO line: claimed, plan, proof, PR opened, blocked.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrapped_forge import ADMIN, Mesh, start_mesh
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.worker import build_worker
from uni_wizard.cascade.types import ToolCall
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.models import Comment
from uni_wizard.harness.runtime import Runtime
from uni_wizard.testing import make_runtime
from uni_wizard.testing.model_servers import FakeOpenAI, Reply, closed_port
from uni_wizard.work.publish import PROOF_CONTEXT
from uni_wizard.work.report import report_marker
from uni_wizard.work.worker import Worker

ORG = "mesh"
APP = "def greet():\n    return 'hi'\n"
FIXED = "def greet():\n    return 'hello'\n"
FILES = {
    "pyproject.toml": "[project]\nname = 'greeter'\nversion = '0.1'\n",
    "app.py": APP,
    "tests/test_app.py": "from app import greet\n\n\ndef test_greet():\n    assert greet() == 'hello'\n",
    ".gitignore": "__pycache__/\n",
}
LABELS = ("status/routed", "status/in-progress", "status/review", "status/done", "status/blocked")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with start_mesh(tmp_path_factory.mktemp("defaults-mesh")) as started:
        yield started


@dataclass
class Repo:
    mesh: Mesh
    name: str
    timmy: GiteaClient
    root: Path

    @property
    def full(self) -> str:
        return f"{ORG}/{self.name}"

    async def route(self, title: str, body: str, house: str = "bezalel") -> int:
        issue = await self.timmy.create_issue(ORG, self.name, title, body)
        await self.timmy.replace_labels(ORG, self.name, issue.number, ["status/routed", f"house/{house}"])
        await self.timmy.edit_issue(ORG, self.name, issue.number, assignees=[house])
        return issue.number

    def cascade_file(self, *providers: dict[str, Any]) -> Path:
        path = self.root / "cascade.yaml"
        path.write_text(yaml.safe_dump({"health": {"timeout_seconds": 2}, "providers": list(providers)}))
        return path

    def runtime(self, house: str = "bezalel", **settings: Any) -> Runtime:
        values = {"gitea_url": self.mesh.url, "gitea_token": self.mesh.token(house), "house": house}
        return make_runtime(self.root / f"host-{uuid.uuid4().hex[:6]}", worker_repos=(self.full,), **values, **settings)

    async def report(self, number: int, house: str = "bezalel") -> Comment:
        comments = await self.timmy.list_comments(ORG, self.name, number)
        (comment,) = [c for c in comments if report_marker(house, number) in c.body]
        return comment

    async def labels(self, number: int) -> set[str]:
        return set((await self.timmy.get_issue(ORG, self.name, number)).label_names)


@pytest.fixture
async def repo(mesh: Mesh, tmp_path: Path) -> AsyncIterator[Repo]:
    name = f"d-{uuid.uuid4().hex[:8]}"
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(name, org=ORG, auto_init=True)
        for user, permission in (("timmy", "admin"), ("bezalel", "write"), ("ezra", "write")):
            await root.add_collaborator(ORG, name, user, permission)
    timmy = GiteaClient(mesh.url, mesh.token("timmy"), registry=CollectorRegistry())
    for path, content in FILES.items():
        await timmy.create_file(ORG, name, path, content.encode(), f"add {path}")
    for label in LABELS:
        await timmy.ensure_label(ORG, name, label, "#cccccc", exclusive=True)
    for label in ("house/bezalel", "house/ezra"):
        await timmy.ensure_label(ORG, name, label, "#cccccc")
    try:
        yield Repo(mesh, name, timmy, tmp_path)
    finally:
        await timmy.aclose()


@contextlib.asynccontextmanager
async def worker_of(runtime: Runtime) -> AsyncIterator[Worker]:
    """The worker ``build_worker`` makes of ``runtime``'s settings: what the daemon's worker role runs."""
    try:
        async with contextlib.AsyncExitStack() as closing:
            yield build_worker(runtime.settings, runtime, closing=closing)
    finally:
        runtime.close()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The worker's decisions (not the mirror's housekeeping: ``no mirror of ... yet``)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("uni_wizard.work") and r.name != "uni_wizard.work.mirror" and r.levelno == logging.INFO
    ]


async def test_a_plain_issue_with_no_model_answering_is_blocked_saying_what_to_set(
    repo: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uni_wizard.work")
    dead_ollama, dead_llamacpp = closed_port(), closed_port()
    cascade = repo.cascade_file(
        {"name": "ollama", "kind": "ollama", "url": f"http://127.0.0.1:{dead_ollama}", "models": [{"name": "m", "context": 4096}]},
        {"name": "llamacpp", "kind": "openai-compatible", "url": f"http://127.0.0.1:{dead_llamacpp}/v1",
         "models": [{"name": "smollm2", "context": 2048}]},
    )  # fmt: skip
    number = await repo.route("Greet politely", "The greeting should be 'hello'. Please fix it.")

    async with worker_of(repo.runtime(cascade_config=cascade)) as worker:
        assert worker.setup.planner == "auto"  # the default
        (report,) = await worker.poll_once()

    assert report.status == "blocked" and report.outcomes == []
    assert "status/blocked" in await repo.labels(number)
    body = (await repo.report(number)).body
    assert "needs a playbook or a configured model" in body
    assert f"no model provider of the cascade file `{cascade}` can take it now" in body
    assert f"- `ollama` (ollama at http://127.0.0.1:{dead_ollama}): no answer to `GET /api/tags`" in body
    assert (
        f"- `llamacpp` (openai-compatible at http://127.0.0.1:{dead_llamacpp}/v1): no answer to `GET /models`" in body
    )
    assert f"under the key `providers` of the cascade file in force, `{cascade}`:" in body
    assert "The setting `planner` (now `auto`, its default)" in body
    assert "```uni-wizard" in body and "tool: run_tests" in body  # what a playbook looks like
    n = f"{repo.full}#{number}"
    assert lines(caplog) == [
        f"bezalel claimed {n}",
        f"bezalel blocked {n}: no playbook, and no model provider of the cascade file `{cascade}` can take it now",
    ]


async def test_a_plain_issue_goes_to_the_model_when_a_provider_answers_and_the_proof_names_its_runner(
    repo: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uni_wizard.work")
    with FakeOpenAI(models=("fake-model",)) as server:
        server.script(
            Reply("", tool_calls=(ToolCall("file_write", {"path": "{worktree}/app.py", "content": FIXED}),)),
            Reply("Fixed the greeting: it says hello now."),
        )
        cascade = repo.cascade_file({"name": "local", "kind": "openai-compatible", "url": server.url,
                                     "models": [{"name": "fake-model", "context": 4096}]})  # fmt: skip
        number = await repo.route("Greet politely", "The greeting should be 'hello'. Please fix it.")

        async with worker_of(repo.runtime(cascade_config=cascade)) as worker:
            (report,) = await worker.poll_once()

    assert report.status == "review", report.reason
    (pull,) = await repo.timmy.list_pulls(ORG, repo.name, state="all")
    written = await repo.timmy.get_contents(ORG, repo.name, "app.py", ref=pull.head_ref)
    assert written.content is not None and written.content.decode() == FIXED
    # no .uni-wizard.yaml: the proof ran the detected pytest in the sandbox and says which and why
    statuses = await repo.timmy.list_statuses(ORG, repo.name, pull.head_sha)
    assert [(s.status, s.description) for s in statuses if s.context == PROOF_CONTEXT] == [
        ("success", "1 passed, 0 failed")
    ]
    comments = await repo.timmy.list_comments(ORG, repo.name, number)
    (proof,) = [c.body for c in comments if "<!-- uni-wizard:proof " in c.body]
    chosen = "-m pytest -q` (pytest, because `pyproject.toml` is there)"
    assert chosen in proof
    body = (await repo.report(number)).body
    assert chosen in body and "it says hello now" in body  # the report says it too, and quotes the model
    n, sha = f"{repo.full}#{number}", pull.head_sha[:12]
    said = lines(caplog)
    assert said[:2] == [
        f"bezalel claimed {n}",
        f"bezalel: plan for {n} from the model planner (local (fake-model) answers)",
    ]
    assert said[2].startswith(f"bezalel: the model planner finished {n}: the model `local/fake-model` finished after")
    assert said[3].startswith(f"bezalel: proof passed on {sha} for {n} (1 passed, 0 failed): `")
    assert said[4:] == [
        f"bezalel: PR opened !{pull.number} for {n} from bezalel/issue-{number}",
        f"bezalel: {n} is review: pull request #{pull.number} from `bezalel/issue-{number}` waits for review",
    ]


async def test_planner_playbook_blocks_plain_issues_and_runs_playbooks(
    repo: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uni_wizard.work")
    plain = await repo.route("Look around", "What is in app.py?", house="ezra")
    playbook = '```uni-wizard\n- tool: file_read\n  args: {path: "{worktree}/app.py"}\n```\n'
    planned = await repo.route("Read the app", playbook, house="ezra")

    async with worker_of(repo.runtime("ezra", planner="playbook")) as worker:
        assert worker.agent is None
        reports = {r.number: r for r in await worker.poll_once()}

    assert (reports[plain].status, reports[planned].status) == ("blocked", "done")
    body = (await repo.report(plain, "ezra")).body
    assert "this worker's setting `planner` is `playbook` (set by settings), so it never asks a model" in body
    assert "`providers` of the cascade file in force" in body and "`cascade_config` at the copy" in body
    said = lines(caplog)
    assert f"ezra: plan for {repo.full}#{planned} from its playbook (1 step)" in said
    assert f"ezra: {repo.full}#{planned} is done: the plan ran; it changed nothing in the repository" in said
    assert any(line.startswith(f"ezra blocked {repo.full}#{plain}: no playbook, and this worker's") for line in said)
