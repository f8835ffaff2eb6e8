"""The whole spine end to end: Timmy files, Allegro routes, Bezalel works with proof, Timmy reviews and
merges; Ezra answers an analysis issue with a report. One devforge, protected as a Gitea of the mesh
(one approval by timmy or the owner, status check ``uni-wizard/proof``), everything in-process.

The loops are driven turn by turn (``run_once``, ``poll_once``, ``review_once``, ``merge_once``) until
the expected end state, at most ``TURNS`` turns.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bootstrapped_forge import ADMIN, Mesh, start_mesh
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.assembly.reviewer import reviewer_on
from uni_wizard.assembly.worker import worker_on
from uni_wizard.config import Settings
from uni_wizard.demo.spine import FILES, FIXED, STUDY_BODY, fix_body
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.dispatch.loop import DispatchLoop
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.models import Comment, PullRequest
from uni_wizard.harness import Runtime
from uni_wizard.review import ReviewConfig, Reviewer
from uni_wizard.tools.env import ToolEnv
from uni_wizard.work.report import report_marker
from uni_wizard.work.worker import Worker

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="git is not installed"
)

ROOT = Path(__file__).resolve().parents[2]
ORG = "mesh"
OWNER = "owner"
HOST = "test-host"
PROOF = "uni-wizard/proof"
TURNS = 40

# the sample project and issues are the demo's (uni_wizard/demo/spine.py): one recipe for both
BROKEN = "def add(a, b=0):\n    return a - b\n"
implementation = fix_body
ANALYSIS = STUDY_BODY


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with start_mesh(tmp_path_factory.mktemp("spine-mesh"), extra_users=(OWNER,)) as started:
        yield started


@dataclass
class Spine:
    repo: str
    timmy: GiteaClient
    dispatcher: DispatchLoop
    workers: list[Worker]
    reviewer: Reviewer
    clients: list[GiteaClient] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    async def turn(self) -> None:
        await self.dispatcher.run_once()
        for worker in self.workers:
            await worker.poll_once()
        await self.reviewer.review_once()
        await self.reviewer.merge_once()

    async def labels(self, number: int) -> set[str]:
        return set((await self.timmy.get_issue(ORG, self.name, number)).label_names)

    async def comments(self, number: int) -> list[Comment]:
        return await self.timmy.list_comments(ORG, self.name, number)

    async def pull_for(self, number: int) -> PullRequest | None:
        pulls = await self.timmy.list_pulls(ORG, self.name, state="all")
        return next((p for p in pulls if (p.body or "").startswith(f"Closes #{number}\n")), None)


@pytest.fixture
async def spine(mesh: Mesh, tmp_path: Path) -> AsyncIterator[Spine]:
    name = f"s-{uuid.uuid4().hex[:8]}"
    repo = f"{ORG}/{name}"
    config = load_triage_config()
    config = config.model_copy(
        update={"dispatcher": config.dispatcher.model_copy(update={"repos": (repo,), "poll_seconds": 0.2})}
    )
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(name, org=ORG, auto_init=True)
        for user, permission in (("timmy", "admin"), ("allegro", "write"), ("ezra", "write"), ("bezalel", "write")):
            await root.add_collaborator(ORG, name, user, permission)
        for path, content in FILES.items():
            await root.create_file(ORG, name, path, content.encode(), f"add {path}")
        await root.create_branch_protection(
            ORG, name, "main", required_approvals=1, enable_approvals_whitelist=True,
            approvals_whitelist_username=["timmy", OWNER], enable_merge_whitelist=True,
            merge_whitelist_usernames=["timmy", OWNER], enable_status_check=True, status_check_contexts=[PROOF],
            block_on_rejected_reviews=True, dismiss_stale_approvals=True,
        )  # fmt: skip
    (tmp_path / "workspace").mkdir()
    token = mesh.token("timmy")
    settings = Settings(
        host=HOST, data_dir=tmp_path / "data", workspace=tmp_path / "workspace", gitea_url=mesh.url, gitea_token=token
    )
    runtime = Runtime(
        settings, env=ToolEnv(gitea_url=mesh.url, gitea_token=token), metrics_registry=CollectorRegistry()
    )
    clients = {u: GiteaClient(mesh.url, mesh.token(u), registry=CollectorRegistry()) for u in HOUSES}
    dispatcher = build_dispatch_loop(settings, runtime, forge=clients["allegro"], config=config)
    workers = [
        worker_on(runtime, clients[h], house=h, repos=[repo], claim_ttl=60, host=HOST, token=mesh.token(h))
        for h in ("bezalel", "ezra")
    ]
    reviewer = reviewer_on(runtime, clients["timmy"], config=ReviewConfig(auto_approve=True), repos=[repo], host=HOST)
    spine = Spine(repo, clients["timmy"], dispatcher, workers, reviewer, list(clients.values()))
    try:
        yield spine
    finally:
        for client in spine.clients:
            await client.aclose()
        runtime.close()


HOUSES = ("timmy", "allegro", "ezra", "bezalel")


async def test_the_whole_spine_end_to_end(spine: Spine) -> None:
    fix = await spine.timmy.create_issue(ORG, spine.name, "add crashes without a second number", implementation(FIXED))
    study = await spine.timmy.create_issue(ORG, spine.name, "Research: how well is calc tested?", ANALYSIS)

    async def finished() -> bool:
        pr = await spine.pull_for(fix.number)
        fixed = pr is not None and pr.merged and "status/done" in await spine.labels(fix.number)
        studied = "status/done" in await spine.labels(study.number)
        return fixed and studied

    for _ in range(TURNS):
        await spine.turn()
        if await finished():
            break
    else:
        said = [c.body[:400] for n in (fix.number, study.number) for c in await spine.comments(n)]
        pytest.fail(f"{said} not done in {TURNS} turns: #{fix.number} {await spine.labels(fix.number)}, "
                    f"#{study.number} {await spine.labels(study.number)}")  # fmt: skip

    issue = await spine.timmy.get_issue(ORG, spine.name, fix.number)
    assert issue.state == "closed" and "status/done" in issue.label_names
    assert [a.login for a in issue.assignees] == ["bezalel"]
    pr = await spine.pull_for(fix.number)
    assert pr is not None and pr.merged and pr.merge_commit_sha
    assert pr.user is not None and pr.user.login == "bezalel"
    head = pr.head_sha
    reviews = await spine.timmy.list_reviews(ORG, spine.name, pr.number)
    approved = [r for r in reviews if r.state == "APPROVED" and r.user is not None and r.user.login == "timmy"]
    assert len(approved) == 1 and approved[0].commit_id == head
    statuses = await spine.timmy.list_statuses(ORG, spine.name, head)
    assert any(s.context == PROOF and s.status == "success" for s in statuses)

    study_issue = await spine.timmy.get_issue(ORG, spine.name, study.number)
    assert [a.login for a in study_issue.assignees] == ["ezra"]
    comments = await spine.comments(study.number)
    reports = [c for c in comments if report_marker("ezra", study.number) in c.body]
    assert len(reports) == 1 and "calc.py" in reports[0].body
    assert await spine.pull_for(study.number) is None  # an analysis changes nothing

    for number in (fix.number, study.number):  # a few more turns change nothing, and nothing was said twice
        before = [c.body for c in await spine.comments(number)]
        assert len(before) == len(set(before)), number
    for _ in range(3):
        await spine.turn()
    assert len(await spine.comments(study.number)) == len(before)


async def test_a_failing_suite_is_never_approved(spine: Spine) -> None:
    issue = await spine.timmy.create_issue(
        ORG, spine.name, "add crashes without a second number", implementation(BROKEN)
    )
    for _ in range(TURNS):
        await spine.turn()
        if "status/blocked" in await spine.labels(issue.number):
            break
    else:
        pytest.fail(f"#{issue.number} not blocked: {await spine.labels(issue.number)}")
    for _ in range(3):
        await spine.turn()
    pulls = await spine.timmy.list_pulls(ORG, spine.name, state="all")
    for pr in pulls:
        assert not pr.merged
        reviews = await spine.timmy.list_reviews(ORG, spine.name, pr.number)
        assert not [r for r in reviews if r.state == "APPROVED"]
    assert (await spine.timmy.get_issue(ORG, spine.name, issue.number)).state == "open"
