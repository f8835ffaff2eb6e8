"""The upgrade queue end to end: a real devforge over loopback, real git, Timmy's real reviewer and Harness.

Each test gets a fresh repository standing in for the mesh's own (``upgrades.repo``), protected like the
mesh protects it, and bezalel's upgrade PRs (label ``upgrade``, proof status on the head). The reconcilers
are played by posting ``uni-wizard/deploy/<host>`` statuses for two hosts, as the contract says.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrapped_forge import ADMIN, Mesh, start_mesh
from prometheus_client import CollectorRegistry

from uni_wizard.assembly.reviewer import reviewer_on
from uni_wizard.cli import main
from uni_wizard.config import Settings
from uni_wizard.errors import ServerError, TransitionRefused
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.models import Issue, Label, PullRequest, Review
from uni_wizard.harness import Runtime
from uni_wizard.review import ReviewConfig, Reviewer
from uni_wizard.testing import FakeClock
from uni_wizard.testing import git_as as git
from uni_wizard.tools.env import ToolEnv
from uni_wizard.upgrade import State, Upgrade, UpgradeConfig, UpgradeHook, UpgradeQueue, UpgradeStore

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="git is not installed"
)

ROOT = Path(__file__).resolve().parents[2]
ORG, OWNER, HOST, PROOF = "mesh", "owner", "test-host", "uni-wizard/proof"
HOSTS = ("host-a", "host-b")
CHECK = "import sys\nprint('1 passed, 0 failed')\nsys.exit(0)\n"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with start_mesh(tmp_path_factory.mktemp("upgrade-mesh"), extra_users=(OWNER,)) as started:
        yield started


@dataclass
class Desk:
    mesh: Mesh
    repo: str
    runtime: Runtime
    work: Path
    timmy: GiteaClient
    bezalel: GiteaClient
    owner: GiteaClient
    clock: FakeClock
    reviewer: Reviewer = field(init=False)
    queue: UpgradeQueue = field(init=False)

    def __post_init__(self) -> None:
        self.use()

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def use(self, **config: Any) -> UpgradeQueue:
        """(Re)build the queue with ``config`` over the defaults, and the reviewer it extends."""
        review = ReviewConfig()
        self.queue = UpgradeQueue(
            self.timmy, UpgradeStore(self.runtime.store, clock=self.clock),
            UpgradeConfig.model_validate({"repo": self.repo, **config}), review=review,
            login="timmy", approvers=frozenset({"timmy", OWNER}), deploy_hosts=HOSTS, host=HOST, clock=self.clock,
        )  # fmt: skip
        self.reviewer = reviewer_on(
            self.runtime, self.timmy, config=review, repos=[self.repo], extensions=[UpgradeHook(self.queue)]
        )
        return self.queue

    def push(self, branch: str, files: dict[str, str]) -> str:
        start = (
            f"origin/{branch}" if git("branch", "-r", "--list", f"origin/{branch}", cwd=self.work) else "origin/main"
        )
        git("checkout", "-q", "-B", branch, start, cwd=self.work)
        for path, text in files.items():
            (self.work / path).parent.mkdir(parents=True, exist_ok=True)
            (self.work / path).write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", f"Change {', '.join(files)}", cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        git("fetch", "-q", "origin", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    async def prove(self, sha: str) -> None:
        await self.bezalel.create_status(ORG, self.name, sha, "success", PROOF, description="proof: success")

    async def open_upgrade(self, files: dict[str, str], *, proof: bool = True) -> PullRequest:
        branch = f"bezalel/upgrade-{uuid.uuid4().hex[:6]}"
        head = self.push(branch, files)
        pr = await self.bezalel.create_pull(ORG, self.name, head=branch, base="main", title=f"Upgrade {branch}")
        await self.bezalel.add_labels(ORG, self.name, pr.number, ["upgrade"])
        if proof:
            await self.prove(head)
        return await self.timmy.get_pull(ORG, self.name, pr.number)

    def get(self, number: int) -> Upgrade:
        upgrade = self.queue.records.get(self.repo, number)
        assert upgrade is not None
        return upgrade

    def history(self, number: int) -> list[tuple[str | None, str, str]]:
        return [(t.from_state, t.to_state, t.actor) for t in self.get(number).history]

    async def upgrade_labels(self, number: int) -> set[str]:
        labels = (await self.timmy.get_issue(ORG, self.name, number)).label_names
        return {label for label in labels if label.startswith("upgrade")}

    async def reviews(self, number: int) -> list[Review]:
        return await self.timmy.list_reviews(ORG, self.name, number)

    async def comments_by(self, number: int, login: str) -> list[str]:
        comments = await self.timmy.list_comments(ORG, self.name, number)
        return [c.body for c in comments if c.user is not None and c.user.login == login]

    async def deploy(self, sha: str, host: str, state: str, description: str = "") -> None:
        context = f"uni-wizard/deploy/{host}"
        await self.bezalel.create_status(ORG, self.name, sha, state, context, description=description)  # type: ignore[arg-type]


@pytest.fixture
async def desk(mesh: Mesh, tmp_path: Path) -> AsyncIterator[Desk]:
    name = f"u-{uuid.uuid4().hex[:8]}"
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(name, org=ORG, auto_init=True)
        for user, permission in (("timmy", "admin"), (OWNER, "admin"), ("bezalel", "write"), ("allegro", "write")):
            await root.add_collaborator(ORG, name, user, permission)  # type: ignore[arg-type]
        await root.ensure_label(ORG, name, "upgrade", "#1d76db", description="a change to the mesh itself")
    work = tmp_path / "bezalel"
    url = f"http://bezalel:{mesh.token('bezalel')}@127.0.0.1:{mesh.server.port}/{ORG}/{name}.git"
    git("clone", "-q", url, str(work), cwd=tmp_path)
    for path, text in {
        "check.py": CHECK, ".uni-wizard.yaml": f"test_command: {json.dumps([sys.executable, 'check.py'])}\n",
        "configs/app.yaml": "answer: 42\n", "docs/notes.md": "# Notes\n",
    }.items():  # fmt: skip
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "The mesh", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_branch_protection(
            ORG, name, "main", required_approvals=1, enable_approvals_whitelist=True,
            approvals_whitelist_username=["timmy", OWNER], enable_merge_whitelist=True,
            merge_whitelist_usernames=["timmy", OWNER], enable_status_check=True, status_check_contexts=[PROOF],
        )  # fmt: skip
    token = mesh.token("timmy")
    (tmp_path / "workspace").mkdir()
    settings = Settings(
        host=HOST, data_dir=tmp_path / "data", workspace=tmp_path / "workspace", gitea_url=mesh.url, gitea_token=token
    )
    runtime = Runtime(
        settings, env=ToolEnv(gitea_url=mesh.url, gitea_token=token), metrics_registry=CollectorRegistry()
    )
    clients = [GiteaClient(mesh.url, mesh.token(u), registry=CollectorRegistry()) for u in ("timmy", "bezalel", OWNER)]
    try:
        yield Desk(mesh, f"{ORG}/{name}", runtime, work, *clients, clock=FakeClock())
    finally:
        for client in clients:
            await client.aclose()
        runtime.close()


def approvals(reviews: list[Review]) -> list[Review]:
    return [r for r in reviews if r.state == "APPROVED"]


async def approved_and_merged(desk: Desk) -> tuple[PullRequest, Upgrade]:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    assert [r.verdict for r in await desk.reviewer.review_once()] == ["pre_reviewed"]
    await desk.queue.approve(pr.number, desk.reviewer.approve_head)
    (merged,) = await desk.reviewer.merge_once()
    assert merged.outcome == "merged", merged.reasons
    return pr, desk.get(pr.number)


# -- the way through ------------------------------------------------------------------------------


async def test_propose_approve_merge_then_applying_then_applied_once_both_hosts_report(desk: Desk) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})

    (report,) = await desk.reviewer.review_once()

    assert report.verdict == "pre_reviewed"
    up = desk.get(pr.number)
    assert (up.state, up.head_sha, up.risk) == (State.PROPOSED, pr.head_sha, "high")
    assert len(up.diff_sha256) == 64 and up.files == ("configs/app.yaml",) and up.lines == 2
    assert "outside the low-risk globs: configs/app.yaml" in up.risk_reasons[0]
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/proposed"}
    (comment,) = await desk.comments_by(pr.number, "timmy")
    assert f"`uni-wizard upgrades approve {pr.number}`" in comment and up.diff_sha256 in comment
    assert not await desk.reviews(pr.number)  # auto-approve is off by default: nobody approved
    (blocked,) = await desk.reviewer.merge_once()
    assert blocked.outcome == "blocked" and f"upgrade #{pr.number} is proposed, not approved" in blocked.reasons

    approved = await desk.queue.approve(pr.number, desk.reviewer.approve_head)

    assert approved.state is State.APPROVED
    (approval,) = approvals(await desk.reviews(pr.number))
    assert approval.user is not None and approval.user.login == "timmy" and approval.commit_id == pr.head_sha
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/approved"}
    (merged,) = await desk.reviewer.merge_once()
    assert merged.outcome == "merged", merged.reasons
    up = desk.get(pr.number)
    merge_sha = (await desk.timmy.get_pull(ORG, desk.name, pr.number)).merge_commit_sha
    assert (up.state, up.merge_sha) == (State.APPLYING, merge_sha) and merge_sha
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/applying"}

    await desk.deploy(merge_sha, "host-a", "success", "applied, healthy")
    await desk.queue.sync_once()
    assert desk.get(pr.number).state is State.APPLYING
    assert desk.get(pr.number).note == "waiting for the deploy status of host-b"
    await desk.deploy(merge_sha, "host-b", "success", "applied, healthy")
    await desk.queue.sync_once()

    assert desk.get(pr.number).state is State.APPLIED
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/applied"}
    assert desk.history(pr.number) == [
        (None, "proposed", "bezalel"), ("proposed", "approved", "timmy"), ("approved", "applying", "timmy"),
        ("applying", "applied", "reconciler"),
    ]  # fmt: skip
    assert desk.get(pr.number).history[-1].reason == "applied and healthy on host-a, host-b"


async def test_a_failure_status_from_one_host_fails_the_upgrade_as_rolled_back(desk: Desk) -> None:
    pr, up = await approved_and_merged(desk)
    assert up.merge_sha
    await desk.deploy(up.merge_sha, "host-a", "success")
    await desk.deploy(up.merge_sha, "host-b", "failure", "health gate: /ready not green in 30 s; rolled back")

    await desk.queue.sync_once()

    failed = desk.get(pr.number)
    assert failed.state is State.FAILED
    last = failed.history[-1]
    assert (last.from_state, last.to_state, last.actor) == ("applying", "failed", "host-b")
    assert last.reason == "rolled back: health gate: /ready not green in 30 s; rolled back"
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/failed"}
    await desk.deploy(up.merge_sha, "host-b", "success")  # a failed upgrade needs a new approval: it stays failed
    await desk.queue.sync_once()
    assert desk.get(pr.number).state is State.FAILED


# -- what keeps an upgrade from being approved ------------------------------------------------------


async def test_a_push_after_approval_unbinds_it_back_to_proposed_and_the_new_head_is_re_proposed(desk: Desk) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    await desk.reviewer.review_once()
    first = await desk.queue.approve(pr.number, desk.reviewer.approve_head)
    new_head = desk.push(pr.head_ref, {"configs/app.yaml": "answer: 44\n"})
    await desk.prove(new_head)

    (blocked,) = await desk.reviewer.merge_once()

    assert blocked.outcome == "blocked" and not (await desk.timmy.get_pull(ORG, desk.name, pr.number)).merged
    back = desk.get(pr.number)
    assert (back.state, back.head_sha) == (State.PROPOSED, pr.head_sha)
    assert (
        back.history[-1].reason
        == f"the head moved to {new_head[:12]}: the approval of {pr.head_sha[:12]} no longer binds"
    )
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/proposed"}
    with pytest.raises(TransitionRefused, match="moved from .* to .*: the reviewer must check the new head"):
        await desk.queue.approve(pr.number, desk.reviewer.approve_head)

    (again,) = await desk.reviewer.review_once()

    assert (again.verdict, again.head) == ("pre_reviewed", new_head)
    renewed = desk.get(pr.number)
    assert renewed.head_sha == new_head and renewed.diff_sha256 != first.diff_sha256
    assert [(f, t) for f, t, _ in desk.history(pr.number)][-2:] == [("approved", "proposed"), ("proposed", "proposed")]
    assert (await desk.queue.approve(pr.number, desk.reviewer.approve_head)).head_sha == new_head
    assert [(r.commit_id, r.stale) for r in approvals(await desk.reviews(pr.number))] == [
        (pr.head_sha, True), (new_head, False)
    ]  # fmt: skip
    assert [m.outcome for m in await desk.reviewer.merge_once()] == ["merged"]


async def test_a_diff_over_the_limit_is_rejected(desk: Desk) -> None:
    desk.use(max_diff_lines=10)
    pr = await desk.open_upgrade({"docs/long.md": "".join(f"line {i}\n" for i in range(20))})

    (report,) = await desk.reviewer.review_once()

    assert report.verdict == "changes_requested"
    assert report.reasons == ["the diff is too large: 20 lines changed against the limit of 10; split it into "
                              "smaller pull requests"]  # fmt: skip
    up = desk.get(pr.number)
    assert up.state is State.REJECTED and "too large" in up.history[-1].reason
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/rejected"}
    assert [r.state for r in await desk.reviews(pr.number)] == ["REQUEST_CHANGES"]
    with pytest.raises(TransitionRefused, match="is rejected: only a proposed one can be approved"):
        await desk.queue.approve(pr.number, desk.reviewer.approve_head)


async def test_without_proof_it_stays_proposed_with_the_reason_and_is_never_approved(desk: Desk) -> None:
    desk.use(auto_approve_upgrades=True)
    pr = await desk.open_upgrade({"docs/notes.md": "# Notes\n\nlow risk\n"}, proof=False)

    (report,) = await desk.reviewer.review_once()

    assert report.verdict == "changes_requested"
    up = desk.get(pr.number)
    assert up.state is State.PROPOSED and up.risk == "low"
    assert f"has no `{PROOF}` status" in up.note
    with pytest.raises(TransitionRefused, match=f"has no `{PROOF}` status.*nothing approved"):
        await desk.queue.approve(pr.number, desk.reviewer.approve_head)
    await desk.owner.create_review(ORG, desk.name, pr.number, "APPROVED", "fine by me", commit_id=pr.head_sha)
    await desk.queue.sync_once()
    up = desk.get(pr.number)
    assert up.state is State.PROPOSED and up.note.startswith(f"approved by {OWNER}, but head")
    assert not [r for r in approvals(await desk.reviews(pr.number)) if r.user and r.user.login == "timmy"]
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/proposed"}


async def test_after_the_timeout_a_proposal_is_closed_with_a_comment_and_expired(desk: Desk) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    await desk.reviewer.review_once()
    desk.clock.advance(23 * 3600)
    await desk.queue.sync_once()
    assert desk.get(pr.number).state is State.PROPOSED

    desk.clock.advance(2 * 3600)
    await desk.queue.sync_once()

    up = desk.get(pr.number)
    assert up.state is State.EXPIRED and up.history[-1].actor == "timmy"
    assert (await desk.timmy.get_pull(ORG, desk.name, pr.number)).state == "closed"
    assert any("**Upgrade expired**" in body and "within 24 hours" in body
               for body in await desk.comments_by(pr.number, "timmy"))  # fmt: skip
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/expired"}


async def test_auto_approve_is_off_by_default_and_when_on_only_approves_low_risk(desk: Desk) -> None:
    low = await desk.open_upgrade({"docs/notes.md": "# Notes\n\nclearer\n"})
    assert [r.verdict for r in await desk.reviewer.review_once()] == ["pre_reviewed"]  # off: even low risk waits
    assert desk.get(low.number).state is State.PROPOSED and not await desk.reviews(low.number)

    desk.use(auto_approve_upgrades=True)
    low_again = await desk.open_upgrade({"docs/other.md": "# Other\n"})
    high = await desk.open_upgrade({"configs/app.yaml": "answer: 45\n"})
    verdicts = {r.number: r.verdict for r in await desk.reviewer.review_once()}

    assert verdicts == {low_again.number: "approved", high.number: "pre_reviewed", low.number: "reviewed_already"}
    auto = desk.get(low_again.number)
    assert auto.state is State.APPROVED and auto.history[-1].reason.startswith("auto-approved head")
    (approval,) = approvals(await desk.reviews(low_again.number))
    assert approval.commit_id == low_again.head_sha
    assert desk.get(high.number).state is State.PROPOSED and not await desk.reviews(high.number)
    assert await desk.upgrade_labels(low_again.number) == {"upgrade", "upgrade/approved"}


# -- the sovereign's CLI --------------------------------------------------------------------------


def settings_file(desk: Desk, tmp_path: Path, house: str) -> Path:
    triage = yaml.safe_load((ROOT / "configs" / "triage.yaml").read_text())
    triage["dispatcher"]["repos"] = [desk.repo]
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(triage))
    (tmp_path / "upgrades.yaml").write_text(f"repo: {desk.repo}\n")
    path = tmp_path / f"{house}.yaml"
    path.write_text(yaml.safe_dump({
        "host": HOST, "data_dir": str(desk.runtime.settings.data_dir), "workspace": str(desk.runtime.settings.workspace),
        "gitea_url": desk.mesh.url, "gitea_token": desk.mesh.token(house), "house": house, "owner": OWNER,
        "triage_config": str(tmp_path / "triage.yaml"), "upgrades_config": str(tmp_path / "upgrades.yaml"),
    }))  # fmt: skip
    return path


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def test_the_cli_approves_as_the_sovereign_refuses_anyone_else_and_rejects_with_a_reason(
    desk: Desk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    other = await desk.open_upgrade({"configs/app.yaml": "answer: 46\n"})
    await desk.reviewer.review_once()
    timmy, allegro = settings_file(desk, tmp_path, "timmy"), settings_file(desk, tmp_path, "allegro")

    code, out = await cli(capsys, "--config", str(allegro), "upgrades", "approve", str(pr.number))

    assert code == 3 and "allegro may not approve or reject upgrades: rules.may_approve is false" in out
    assert desk.get(pr.number).state is State.PROPOSED and not await desk.reviews(pr.number)

    code, out = await cli(capsys, "--config", str(timmy), "upgrades", "approve", str(pr.number))

    assert code == 0 and f"upgrade #{pr.number} approved at head {pr.head_sha}" in out
    assert desk.get(pr.number).state is State.APPROVED
    assert [(r.user.login if r.user else "", r.commit_id) for r in approvals(await desk.reviews(pr.number))] == [
        ("timmy", pr.head_sha)
    ]
    code, out = await cli(capsys, "--config", str(timmy), "upgrades", "approve", str(pr.number))
    assert code == 4 and "is approved: only a proposed one can be approved" in out

    code, out = await cli(capsys, "--config", str(timmy), "upgrades", "reject", str(other.number))
    assert code == 2 and "--reason" in out
    code, out = await cli(
        capsys, "--config", str(timmy), "upgrades", "reject", str(other.number), "--reason", "not now"
    )

    assert code == 0
    rejected = desk.get(other.number)
    assert (rejected.state, rejected.history[-1].actor, rejected.history[-1].reason) == (
        State.REJECTED,
        "timmy",
        "not now",
    )
    assert (await desk.timmy.get_pull(ORG, desk.name, other.number)).state == "closed"
    assert any(
        "**Upgrade rejected** by timmy" in b and "not now" in b for b in await desk.comments_by(other.number, "timmy")
    )
    assert await desk.upgrade_labels(other.number) == {"upgrade", "upgrade/rejected"}

    code, out = await cli(capsys, "--config", str(timmy), "upgrades", "list", "--json")
    assert code == 0
    listed = {u["number"]: u["state"] for u in json.loads(out)["upgrades"]}
    assert listed == {pr.number: "approved", other.number: "rejected"}


# -- the paths off the way through ----------------------------------------------------------------


def last_step(up: Upgrade) -> tuple[str | None, str, str, str]:
    step = up.history[-1]
    return step.from_state, step.to_state, step.actor, step.reason


@pytest.mark.parametrize("approved", [False, True], ids=["proposed", "approved"])
async def test_a_pull_request_closed_without_being_merged_rejects_the_upgrade(desk: Desk, approved: bool) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    await desk.reviewer.review_once()
    if approved:
        await desk.queue.approve(pr.number, desk.reviewer.approve_head)
    before = desk.get(pr.number).state
    await desk.bezalel.edit_issue(ORG, desk.name, pr.number, state="closed")

    await desk.queue.sync_once()

    up = desk.get(pr.number)
    assert up.state is State.REJECTED and up.merge_sha is None
    assert last_step(up) == (before.value, "rejected", "timmy", "closed without being merged")
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/rejected"}
    closed = await desk.timmy.get_pull(ORG, desk.name, pr.number)
    assert (closed.state, closed.merged) == ("closed", False)
    await desk.queue.sync_once()  # finished: nothing more happens to it
    assert len(desk.get(pr.number).history) == len(up.history)


async def test_a_dismissed_approval_sends_the_upgrade_back_to_proposed_and_the_merge_waits(desk: Desk) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    await desk.reviewer.review_once()
    await desk.queue.approve(pr.number, desk.reviewer.approve_head)
    (approval,) = approvals(await desk.reviews(pr.number))
    await desk.owner.dismiss_review(ORG, desk.name, pr.number, approval.id, "not this one after all")

    (blocked,) = await desk.reviewer.merge_once()

    assert blocked.outcome == "blocked" and f"upgrade #{pr.number} is proposed, not approved" in blocked.reasons
    up = desk.get(pr.number)
    assert (up.state, up.head_sha) == (State.PROPOSED, pr.head_sha)
    why = f"the approval of head {pr.head_sha[:12]} was dismissed or no longer counts"
    assert last_step(up) == ("approved", "proposed", "timmy", why)
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/proposed"}
    assert [r.dismissed for r in approvals(await desk.reviews(pr.number))] == [True]
    assert not (await desk.timmy.get_pull(ORG, desk.name, pr.number)).merged
    # the same head can be approved again, and only then merged
    assert (await desk.queue.approve(pr.number, desk.reviewer.approve_head)).state is State.APPROVED
    assert [m.outcome for m in await desk.reviewer.merge_once()] == ["merged"]
    assert desk.get(pr.number).state is State.APPLYING


async def test_a_merge_by_hand_at_a_head_pushed_after_the_approval_rejects_it_and_it_is_never_applied(
    desk: Desk,
) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    await desk.reviewer.review_once()
    await desk.queue.approve(pr.number, desk.reviewer.approve_head)
    new_head = desk.push(pr.head_ref, {"configs/app.yaml": "answer: 666\n"})
    await desk.prove(new_head)
    # the forge's own gate lets the owner merge (a stale approval still counts there); the queue's gate is
    # bypassed, as when someone merges in the web UI before the queue saw the push
    await desk.owner.merge_pull(ORG, desk.name, pr.number, head_commit_id=new_head)

    await desk.queue.sync_once()

    up = desk.get(pr.number)
    merged = await desk.timmy.get_pull(ORG, desk.name, pr.number)
    assert merged.merged and merged.head_sha == new_head and merged.merge_commit_sha
    assert (up.state, up.head_sha, up.merge_sha) == (State.REJECTED, pr.head_sha, None)
    why = f"merged at head {new_head[:12]}, not at the approved head {pr.head_sha[:12]}: it will not be applied"
    assert last_step(up) == ("approved", "rejected", "timmy", why)
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/rejected"}
    for host in HOSTS:  # a reconciler that applied it anyway does not make it applied
        await desk.deploy(merged.merge_commit_sha, host, "success")
    await desk.queue.sync_once()
    assert desk.get(pr.number).state is State.REJECTED


async def test_a_proposal_whose_proof_stays_pending_still_expires_after_the_timeout(desk: Desk) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"}, proof=False)
    await desk.bezalel.create_status(ORG, desk.name, pr.head_sha, "pending", PROOF, description="running")

    (report,) = await desk.reviewer.review_once()

    assert report.verdict == "waiting"
    up = desk.get(pr.number)  # recorded although no verdict can be given yet: its timeout runs
    assert (up.state, up.head_sha) == (State.PROPOSED, pr.head_sha) and "pending" in up.note
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/proposed"}
    assert not await desk.reviews(pr.number) and not await desk.comments_by(pr.number, "timmy")
    assert [r.verdict for r in await desk.reviewer.review_once()] == ["waiting"]
    desk.clock.advance(23 * 3600)
    await desk.queue.sync_once()
    assert desk.get(pr.number).state is State.PROPOSED

    desk.clock.advance(2 * 3600)
    await desk.queue.sync_once()

    up = desk.get(pr.number)
    assert up.state is State.EXPIRED
    why = "not approved within 24 hours; the pull request was closed"
    assert last_step(up) == ("proposed", "expired", "timmy", why)
    assert (await desk.timmy.get_pull(ORG, desk.name, pr.number)).state == "closed"
    assert any("**Upgrade expired**" in body for body in await desk.comments_by(pr.number, "timmy"))
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/expired"}


async def test_a_proof_that_was_pending_then_succeeds_gets_the_usual_verdict_on_the_same_proposal(desk: Desk) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"}, proof=False)
    await desk.bezalel.create_status(ORG, desk.name, pr.head_sha, "pending", PROOF, description="running")
    assert [r.verdict for r in await desk.reviewer.review_once()] == ["waiting"]
    proposed_at = desk.get(pr.number).proposed_at
    await desk.prove(pr.head_sha)

    (report,) = await desk.reviewer.review_once()

    assert report.verdict == "pre_reviewed"
    up = desk.get(pr.number)
    assert (up.state, up.proposed_at, up.note) == (State.PROPOSED, proposed_at, "waiting for the sovereign's approval")
    assert desk.history(pr.number) == [(None, "proposed", "bezalel")]
    assert (await desk.queue.approve(pr.number, desk.reviewer.approve_head)).state is State.APPROVED


class FailingLabelWrites:
    """The label mirror's forge calls, with the next ``failures`` label writes answered 500."""

    def __init__(self, forge: GiteaClient, failures: int) -> None:
        self.forge = forge
        self.failures = failures

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue:
        return await self.forge.get_issue(owner, repo, index)

    async def ensure_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = "", exclusive: bool = False
    ) -> Label:
        return await self.forge.ensure_label(owner, repo, name, color, description=description, exclusive=exclusive)

    async def replace_labels(self, owner: str, repo: str, index: int, labels: list[str]) -> list[Label]:
        if self.failures > 0:
            self.failures -= 1
            raise ServerError("injected: the label write failed", url=f"/repos/{owner}/{repo}/issues/{index}/labels")
        return await self.forge.replace_labels(owner, repo, index, labels)


# closed: the same sync retries the label right after the transition, so the forge fails twice
@pytest.mark.parametrize(("how", "failures"), [("closed", 2), ("rejected", 1)], ids=["closed", "rejected"])
async def test_a_label_write_that_failed_after_a_final_state_is_repaired_by_the_next_sync(
    desk: Desk, how: str, failures: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pr = await desk.open_upgrade({"configs/app.yaml": "answer: 43\n"})
    await desk.reviewer.review_once()
    failing = FailingLabelWrites(desk.timmy, failures=failures)
    monkeypatch.setattr(desk.queue.labels, "forge", failing)
    if how == "closed":
        await desk.bezalel.edit_issue(ORG, desk.name, pr.number, state="closed")
        await desk.queue.sync_once()
        expected = ("proposed", "rejected", "timmy", "closed without being merged")
    else:  # the sovereign's rejection still closes the pull request with its comment
        await desk.queue.reject(pr.number, "not now")
        expected = ("proposed", "rejected", "timmy", "not now")
        assert any("**Upgrade rejected**" in body for body in await desk.comments_by(pr.number, "timmy"))

    assert failing.failures == 0  # the writes were attempted and failed
    up = desk.get(pr.number)
    assert up.state is State.REJECTED and last_step(up) == expected
    assert up.note.startswith("label not written yet: upgrade/rejected")
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/proposed"}
    assert (await desk.timmy.get_pull(ORG, desk.name, pr.number)).state == "closed"

    await desk.queue.sync_once()

    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/rejected"}
    repaired = desk.get(pr.number)
    assert repaired.state is State.REJECTED and repaired.history == up.history and repaired.note == ""
    await desk.queue.sync_once()  # repaired once: nothing left to write
    assert await desk.upgrade_labels(pr.number) == {"upgrade", "upgrade/rejected"}
