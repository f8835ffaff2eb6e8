"""The owner's world on a bootstrapped devforge: one repository (the shipped ``work`` repository bootstrapped
again under a fresh name, so its protection is the shipped one), Timmy's runtime, and clients for timmy,
bezalel, the owner and ``mallory`` (neither the owner nor a house). For tests/integration/test_owner_steers.py
and benchmarks/owner_loop.py.

    with start_mesh(root, extra_users=(OUTSIDER,)) as mesh:
        async with open_world(mesh, tmp_path) as world:
            pr = await world.open_pr()

PRs are made through the contents API as bezalel; their change is a note (no re-run of tests).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from bootstrapped_forge import ADMIN, LAYOUT, Mesh
from worlds import HOST, ORG, clients, fresh_name, tool_runtime

from uni_wizard.assembly.reviewer import reviewer_on
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.bootstrap import bootstrap, load_layout
from uni_wizard.forge.models import Comment, PullRequest, Review
from uni_wizard.harness import Runtime
from uni_wizard.observe.events import EventLog
from uni_wizard.review import ReviewConfig, Reviewer
from uni_wizard.testing import RecordingTransport
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app

__all__ = ["HOST", "ORG", "OUTSIDER", "OWNER", "PROOF", "SECRET", "World", "open_world"]

OWNER, OUTSIDER = "owner", "mallory"
PROOF = "uni-wizard/proof"
SECRET = "owner-steers-secret"


@dataclass
class World:
    mesh: Mesh
    name: str
    runtime: Runtime
    timmy: GiteaClient
    bezalel: GiteaClient
    owner: GiteaClient
    mallory: GiteaClient
    line: RecordingTransport  # under Timmy's Harness tools (approve, merge)
    servers: list[ThreadedServer] = field(default_factory=list)

    @property
    def repo(self) -> str:
        return f"{ORG}/{self.name}"

    def reviewer(self, *, forge: GiteaClient | None = None, **config: object) -> Reviewer:
        """Timmy's reviewer of this repository, as the composition root builds it, acting through ``forge``
        (default: ``timmy``)."""
        settings = ReviewConfig.model_validate({"owner_login": OWNER, **config})
        return reviewer_on(
            self.runtime, forge or self.timmy, config=settings, repos=[self.repo], owner_login=OWNER,
            events=EventLog(self.runtime.store, HOST),
        )  # fmt: skip

    async def open_pr(self) -> PullRequest:
        """bezalel's PR adding a note (status/review, proof success on its head)."""
        branch = f"bezalel/note-{uuid.uuid4().hex[:6]}"
        await self.bezalel.create_file(ORG, self.name, f"notes/{branch[-6:]}.md", b"a note\n", "Add a note",
                                       branch="main", new_branch=branch)  # fmt: skip
        pr = await self.bezalel.create_pull(ORG, self.name, head=branch, base="main", title="A note", body="Notes.")
        await self.timmy.add_labels(ORG, self.name, pr.number, ["status/review"])
        await self.prove(pr.head_sha)
        return await self.pull(pr.number)

    async def push(self, pr: PullRequest) -> str:
        """Another commit on the PR's branch, proven: the new head."""
        path = f"notes/{pr.head_ref[-6:]}.md"
        old = await self.bezalel.get_contents(ORG, self.name, path, ref=pr.head_ref)
        await self.bezalel.update_file(ORG, self.name, path, b"a better note\n", old.sha, "Better", branch=pr.head_ref)
        head = (await self.pull(pr.number)).head_sha
        await self.prove(head)
        return head

    async def prove(self, sha: str) -> None:
        await self.bezalel.create_status(ORG, self.name, sha, "success", PROOF, description="proof: success")

    async def approve(self, pr: PullRequest, who: GiteaClient | None = None) -> Review:
        return await (who or self.owner).create_review(
            ORG, self.name, pr.number, "APPROVED", "ok", commit_id=pr.head_sha
        )

    async def say(self, pr: PullRequest, body: str, who: GiteaClient | None = None) -> Comment:
        return await (who or self.owner).create_comment(ORG, self.name, pr.number, body)

    async def pull(self, number: int) -> PullRequest:
        return await self.timmy.get_pull(ORG, self.name, number)

    async def merged(self, number: int) -> bool:
        return (await self.pull(number)).merged

    async def replies(self, number: int, login: str = "timmy") -> list[str]:
        comments = await self.timmy.list_comments(ORG, self.name, number)
        return [
            c.body for c in comments if c.user is not None and c.user.login == login and "command comment=" in c.body
        ]

    def daemon(self) -> str:
        """The daemon's app on this world's runtime (its store holds the webhook queue), served over loopback."""
        server = ThreadedServer(create_app(self.runtime, webhook_secret=SECRET), name="daemon").start()
        self.servers.append(server)
        return f"{server.url}/hooks/gitea"

    def queued(self, event_type: str) -> int:
        rows = self.runtime.store.query(
            "SELECT count(*) FROM event_queue WHERE repository = ? AND event_type = ?", (self.repo, event_type)
        )
        return int(rows[0][0])


@contextlib.asynccontextmanager
async def open_world(mesh: Mesh, root: Path) -> AsyncIterator[World]:
    """A fresh repository on ``mesh`` and Timmy's runtime under ``root`` (its ``workspace`` and ``data``);
    the clients, servers and runtime are closed on the way out. ``UNIWIZARD_*`` variables are the caller's
    to clear. ``mesh`` must hold a token for ``mallory`` (``start_mesh(..., extra_users=(OUTSIDER,))``)."""
    name = fresh_name("w")
    shipped = load_layout(LAYOUT)
    (work,) = [r for r in shipped.repos if r.name == "work"]
    layout = shipped.model_copy(update={"repos": (work.model_copy(update={"name": name, "hooks": ()}),)})
    await bootstrap(layout, url=mesh.url, admin=ADMIN, secrets_dir=mesh.secrets)
    async with clients(mesh) as client, tool_runtime(root, mesh) as (runtime, line):
        world = World(mesh, name, runtime, *(client(u) for u in ("timmy", "bezalel", OWNER, OUTSIDER)), line=line)
        try:
            yield world
        finally:
            for server in world.servers:
                server.stop()
