"""Building blocks of the integration tests' worlds on a bootstrapped devforge (``bootstrapped_forge``).

A test module's ``World`` is a dataclass of what its test needs; its fixture composes these pieces:

    @pytest.fixture
    async def world(mesh, tmp_path):
        repo = await create_repo(mesh, fresh_name("t"), labels=[("status/review", "#5319e7", True)])
        async with clients(mesh) as client, tool_runtime(tmp_path, mesh) as (runtime, line):
            yield World(mesh, repo, runtime, line, timmy=client("timmy"), client=client)

- ``create_repo``: a repository in ``mesh`` made by the forge's admin, its members and labels;
- ``clients``: opens a ``GiteaClient`` per user (each with a registry of its own), closes them all;
- ``plain_runtime`` / ``tool_runtime``: a house's runtime under a test's directory, closed at the end; the
  second with its tools' HTTP going through a ``RecordingTransport``;
- ``clone`` / ``commit_and_push`` / ``push_files``: a house's git clone over smart HTTP;
- ``triage_for``: the shipped triage configuration, dispatching only a test's repository.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from bootstrapped_forge import ADMIN, Mesh
from prometheus_client import CollectorRegistry

from uni_wizard.dispatch.config import TriageConfig, load_triage_config
from uni_wizard.forge import GiteaClient
from uni_wizard.harness import Runtime
from uni_wizard.testing import RecordingTransport, make_runtime
from uni_wizard.testing import git_as as git
from uni_wizard.tools.env import ToolEnv

ORG = "mesh"
HOST = "test-host"  # make_runtime's host: audit comments and events name it
Permission = Literal["read", "write", "admin"]
HOUSES: Mapping[str, Permission] = {"timmy": "admin", "allegro": "write", "ezra": "write", "bezalel": "write"}


def fresh_name(prefix: str) -> str:
    """A repository name no other test uses: ``prefix-<8 hex>``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_repo(
    mesh: Mesh,
    name: str,
    *,
    members: Mapping[str, Permission] = HOUSES,
    labels: Sequence[tuple[str, str, bool]] = (),
    auto_init: bool = True,
) -> str:
    """``mesh/<name>``, made by the forge's admin, with ``members`` (user -> permission) and ``labels``
    (name, colour, exclusive); its full name."""
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(name, org=ORG, auto_init=auto_init)
        for user, permission in members.items():
            await root.add_collaborator(ORG, name, user, permission)
        for label, color, exclusive in labels:
            await root.ensure_label(ORG, name, label, color, exclusive=exclusive)
    return f"{ORG}/{name}"


class Tokens(Protocol):
    """A forge whose users' tokens a test holds: the bootstrapped ``Mesh``, conftest_devforge's ``Forge``."""

    @property
    def url(self) -> str: ...

    def token(self, user: str) -> str: ...


Clients = Callable[..., GiteaClient]
"""``client(user, transport=None, **kwargs)``: a ``GiteaClient`` acting as ``user`` (see ``clients``)."""


@contextlib.asynccontextmanager
async def clients(forge: Tokens) -> AsyncIterator[Clients]:
    """Opens a ``GiteaClient`` per call on ``forge`` (with a registry of its own unless ``registry=`` is
    given); closes every one it opened at the end."""
    opened: list[GiteaClient] = []

    def client(user: str, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> GiteaClient:
        kwargs.setdefault("registry", CollectorRegistry())
        opened.append(GiteaClient(forge.url, forge.token(user), transport=transport, **kwargs))
        return opened[-1]

    try:
        yield client
    finally:
        for made in opened:
            await made.aclose()


@contextlib.contextmanager
def plain_runtime(root: Path, mesh: Mesh | None = None, **settings: Any) -> Iterator[Runtime]:
    """``make_runtime(root, ...)`` (pointed at ``mesh`` when given), closed at the end."""
    if mesh is not None:
        settings.setdefault("gitea_url", mesh.url)
    runtime = make_runtime(root, **settings)
    try:
        yield runtime
    finally:
        runtime.close()


@contextlib.asynccontextmanager
async def tool_runtime(
    root: Path, mesh: Mesh, house: str = "timmy"
) -> AsyncIterator[tuple[Runtime, RecordingTransport]]:
    """A runtime whose tools act as ``house`` on ``mesh`` through a ``RecordingTransport`` (each tool call
    closes its client; the line stays open until the end), and that line."""
    line = RecordingTransport(close_inner=False)
    token = mesh.token(house)
    env = ToolEnv(gitea_url=mesh.url, gitea_token=token, http_transport=line)
    try:
        with plain_runtime(root, mesh, gitea_token=token, env=env) as runtime:
            yield runtime, line
    finally:
        await line.inner.aclose()


def triage_for(repo: str) -> TriageConfig:
    """The shipped triage configuration, its dispatcher watching only ``repo``."""
    config = load_triage_config()
    return config.model_copy(update={"dispatcher": config.dispatcher.model_copy(update={"repos": (repo,)})})


# -- a house's clone ------------------------------------------------------------------------------------


def clone(mesh: Mesh, repo: str, into: Path, user: str = "bezalel") -> Path:
    """``user``'s clone of ``repo`` (its token in the remote URL, as a house pushes)."""
    url = f"http://{user}:{mesh.token(user)}@127.0.0.1:{mesh.server.port}/{repo}.git"
    git("clone", "-q", url, str(into), cwd=into.parent)
    return into


def commit_and_push(work: Path, message: str, branch: str = "main") -> str:
    """Everything in ``work`` committed and pushed to ``branch``; the new head."""
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def push_files(
    work: Path, branch: str, files: Mapping[str, str | None], message: str, *, base: str = "origin/main"
) -> str:
    """A commit writing ``files`` (None: delete) on ``branch`` (from ``base`` when it is new), pushed; its sha."""
    git("fetch", "-q", "origin", cwd=work)
    start = f"origin/{branch}" if git("branch", "-r", "--list", f"origin/{branch}", cwd=work) else base
    git("checkout", "-q", "-B", branch, start, cwd=work)
    for path, text in files.items():
        if text is None:
            (work / path).unlink()
        else:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
    return commit_and_push(work, message, branch)
