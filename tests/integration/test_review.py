"""Timmy's reviewer and merge gate end to end: a real devforge over loopback, real git, a real Harness.

One devforge per module, bootstrapped from ``configs/forge-layout.example.yaml`` (timmy, ezra, bezalel,
allegro) plus ``owner``, the human owner. Every test gets a fresh repository in ``mesh`` whose ``main``
holds a tiny project with a test command (``check.py``), protected as the mesh protects it: one
approval, approvals and merges whitelisted to timmy and the owner, status check ``uni-wizard/proof``.
The PRs are built here with the client and git, as bezalel would open them (the worker is not used):
a branch pushed over smart HTTP, a PR closing an issue, a ``uni-wizard/proof`` status, ``status/review``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bootstrapped_forge import ADMIN, Mesh, mesh_fixture
from worlds import (
    HOST,
    HOUSES,
    ORG,
    Clients,
    Permission,
    clients,
    clone,
    commit_and_push,
    create_repo,
    fresh_name,
    push_files,
    tool_runtime,
)

from uni_wizard.assembly.reviewer import reviewer_on
from uni_wizard.attention import Calibration, Escalations
from uni_wizard.errors import GitRefused, PolicyDenied, ToolExecutionError
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.models import PullRequest, Review
from uni_wizard.harness import Harness, ProvenanceRecord, Runtime, Status
from uni_wizard.harness.provenance import canonical_json, sha256_text
from uni_wizard.review import ReviewConfig, Reviewer, Worktrees, check_provenance, load_review_config
from uni_wizard.review.render import VERDICT, marker
from uni_wizard.store import utc_now
from uni_wizard.testing import RecordingTransport

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="git is not installed"
)

OWNER = "owner"
PROOF = "uni-wizard/proof"

CALC = "def add(a, b):\n    return a + b\n"
BROKEN = "def add(a, b):\n    return a - b\n"
CHECK = (
    "import sys\n\nfrom calc import add\n\nok = add(2, 3) == 5\n"
    'print("1 passed, 0 failed" if ok else "0 passed, 1 failed")\nsys.exit(0 if ok else 1)\n'
)


# -- one test's world ---------------------------------------------------------------------------------

mesh = mesh_fixture(extra_users=(OWNER,))
MEMBERS: dict[str, Permission] = {**HOUSES, OWNER: "admin"}
LABELS = [("status/review", "#5319e7", True), ("status/done", "#0e8a16", True), ("hold", "#b60205", False)]


@dataclass
class World:
    mesh: Mesh
    repo: str
    runtime: Runtime
    line: RecordingTransport  # the Harness tools' way to the forge; ``before`` runs first
    work: Path  # bezalel's clone
    timmy: GiteaClient
    bezalel: GiteaClient
    owner: GiteaClient
    client: Clients

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def reviewer(self, house: str = "timmy", client: GiteaClient | None = None, **config: object) -> Reviewer:
        settings = ReviewConfig.model_validate({"auto_approve": True, **config})
        return reviewer_on(self.runtime, client or self.timmy, config=settings, repos=[self.repo], house=house)

    def push(self, branch: str, files: dict[str, str], message: str) -> str:
        return push_files(self.work, branch, dict(files), message)

    async def prove(self, sha: str, state: str = "success") -> None:
        await self.bezalel.create_status(ORG, self.name, sha, state, PROOF, description=f"proof: {state}")  # type: ignore[arg-type]

    async def open_pr(self, files: dict[str, str], *, proof: str | None = "success") -> tuple[int, PullRequest]:
        """An issue in status/review and bezalel's PR closing it (labelled status/review, with proof)."""
        issue = await self.timmy.create_issue(ORG, self.name, f"Task {uuid.uuid4().hex[:6]}", "do it")
        await self.timmy.add_labels(ORG, self.name, issue.number, ["status/review"])
        branch = f"bezalel/issue-{issue.number}"
        head = self.push(branch, files, f"Work on #{issue.number}")
        pr = await self.bezalel.create_pull(
            ORG, self.name, head=branch, base="main", title=f"Do #{issue.number}", body=f"Closes #{issue.number}"
        )
        await self.bezalel.add_labels(ORG, self.name, pr.number, ["status/review"])
        if proof is not None:
            await self.prove(head, proof)
        return issue.number, await self.timmy.get_pull(ORG, self.name, pr.number)

    async def pull(self, number: int) -> PullRequest:
        return await self.timmy.get_pull(ORG, self.name, number)

    async def reviews(self, number: int) -> list[Review]:
        return await self.timmy.list_reviews(ORG, self.name, number)

    async def labels(self, number: int) -> set[str]:
        return set((await self.timmy.get_issue(ORG, self.name, number)).label_names)

    async def comments_by(self, number: int, login: str) -> list[str]:
        comments = await self.timmy.list_comments(ORG, self.name, number)
        return [c.body for c in comments if c.user is not None and c.user.login == login]


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    repo = await create_repo(mesh, fresh_name("r"), members=MEMBERS, labels=LABELS)
    work = clone(mesh, repo, tmp_path / "bezalel")
    (work / "calc.py").write_text(CALC)
    (work / "check.py").write_text(CHECK)
    (work / ".uni-wizard.yaml").write_text(f"test_command: {json.dumps([sys.executable, 'check.py'])}\n")
    (work / "configs").mkdir()
    (work / "configs" / "app.yaml").write_text("answer: 42\n")
    commit_and_push(work, "A small project with a test")
    async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_branch_protection(
            ORG, repo.split("/")[1], "main", required_approvals=1, enable_approvals_whitelist=True,
            approvals_whitelist_username=["timmy", OWNER], enable_merge_whitelist=True,
            merge_whitelist_usernames=["timmy", OWNER], enable_status_check=True, status_check_contexts=[PROOF],
            block_on_rejected_reviews=True,
        )  # fmt: skip
    async with clients(mesh) as client, tool_runtime(tmp_path, mesh) as (runtime, line):
        yield World(mesh, repo, runtime, line, work, client("timmy"), client("bezalel"), client(OWNER), client)


def approvals(reviews: list[Review], login: str) -> list[Review]:
    return [r for r in reviews if r.state == "APPROVED" and r.user is not None and r.user.login == login]


# -- the happy path -----------------------------------------------------------------------------------


async def test_a_proven_passing_pr_is_approved_at_its_head_merged_and_its_issue_done(world: World) -> None:
    issue, pr = await world.open_pr({"calc.py": CALC + "\n\ndef mul(a, b):\n    return a * b\n"})
    reviewer = world.reviewer()

    (report,) = await reviewer.review_once()

    assert (report.number, report.head, report.verdict, report.reasons) == (pr.number, pr.head_sha, "approved", [])
    (approval,) = approvals(await world.reviews(pr.number), "timmy")
    assert approval.commit_id == pr.head_sha and approval.official and not approval.stale
    assert approval.body.startswith(marker(VERDICT, pr.number, pr.head_sha))
    assert "tests re-run in a clean worktree" in approval.body and "1 passed, 0 failed" in approval.body
    # the work ran on another host: no records here, and the summary says so instead of failing
    assert f"no records of `{world.repo}#{issue}` are visible on `{HOST}`" in approval.body
    assert not any((world.runtime.settings.workspace / "review" / "worktrees").rglob("calc.py"))
    tools = [(r.tool, r.status) for r in world.runtime.provenance.tail(10)]
    assert ("run_tests", "ok") in tools and ("gitea_approve_pr", "ok") in tools

    again = await reviewer.review_once()  # one verdict per head: nothing is written twice
    assert [r.verdict for r in again] == ["reviewed_already"]
    assert len(await world.reviews(pr.number)) == 1

    (merged,) = await reviewer.merge_once()

    assert merged.outcome == "merged", merged.reasons
    assert await world.timmy.is_merged(ORG, world.name, pr.number)
    closed = await world.timmy.get_issue(ORG, world.name, issue)
    assert (
        closed.state == "closed" and "status/done" in closed.label_names and "status/review" not in closed.label_names
    )
    assert "status/done" in await world.labels(pr.number)
    assert f"POST /api/v1/repos/{world.repo}/pulls/{pr.number}/merge" in world.line.requests
    assert await reviewer.merge_once() == []  # closed: nothing is waiting any more


async def test_the_bare_cache_lives_in_the_data_directory_out_of_the_houses_reach(world: World) -> None:
    """As ``build_reviewer`` wires it: the cache under ``<data_dir>/cache/review``, the worktree (which
    Timmy's Harness runs the tests in) under the workspace, and nothing of the cache left there."""
    _, pr = await world.open_pr({"calc.py": CALC + "\n\ndef mul(a, b):\n    return a * b\n"})
    reviewer = world.reviewer()
    settings = world.runtime.settings
    cache = settings.data_dir / "cache" / "review"
    token = world.mesh.token("timmy")
    reviewer.worktrees = Worktrees(settings.workspace / "review", cache=cache, token=token, forge_url=world.mesh.url)

    (report,) = await reviewer.review_once()

    assert (report.number, report.verdict) == (pr.number, "approved"), report.reasons
    assert (cache / ORG / f"{world.name}.git" / "HEAD").is_file()
    assert [p for p in settings.workspace.rglob("*") if p.name in ("HEAD", "config")] == []
    config = (cache / ORG / f"{world.name}.git" / "config").read_text()
    assert token not in config and "extraheader" not in config.lower()


async def test_a_cache_a_house_could_write_runs_none_of_its_hooks_or_config(world: World, tmp_path: Path) -> None:
    """The old layout (cache in the workspace): hooks planted there never run, and hostile config is refused."""
    _, pr = await world.open_pr({"calc.py": CALC + "\n# touched\n"})
    marker = tmp_path / "pwned"
    trees = Worktrees(world.runtime.settings.workspace / "review", token=world.mesh.token("timmy"))
    url, owner = f"{world.mesh.url}{world.repo}.git", ORG
    cache = await trees.fetch(url, owner, world.name, pr.number, pr.head_sha, "main")
    for hook in ("post-checkout", "reference-transaction", "post-index-change"):
        (cache / "hooks" / hook).write_text(f"#!/bin/sh\necho {hook} >> {marker}\n")
        (cache / "hooks" / hook).chmod(0o755)
    async with trees.checkout(url, owner, world.name, pr.number, pr.head_sha, "main") as co:
        assert (co.path / "calc.py").read_text().endswith("# touched\n")
    assert not marker.exists()

    with (cache / "config").open("a", encoding="utf-8") as fh:
        fh.write(f'[core]\n\tfsmonitor = "touch {marker}; false"\n')
    with pytest.raises(GitRefused, match="core.fsmonitor"):
        async with trees.checkout(url, owner, world.name, pr.number, pr.head_sha, "main"):
            pass
    assert not marker.exists()


async def test_a_symlink_planted_under_the_review_worktrees_is_refused(world: World, tmp_path: Path) -> None:
    """The worktrees are in the workspace, where houses write: a link there must not send the checkout
    (the PR's files, chosen by its author) somewhere else."""
    _, pr = await world.open_pr({"calc.py": CALC + "\n# elsewhere\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = world.runtime.settings.workspace / "review"
    root.mkdir(parents=True, exist_ok=True)
    (root / "worktrees").symlink_to(elsewhere)
    cache = world.runtime.settings.data_dir / "cache" / "review"
    trees = Worktrees(root, cache=cache, token=world.mesh.token("timmy"), forge_url=world.mesh.url)
    with pytest.raises(ToolExecutionError, match="a symlink on the way leads elsewhere"):
        async with trees.checkout(f"{world.mesh.url}{world.repo}.git", ORG, world.name, pr.number, pr.head_sha, "main"):
            pass
    assert not any(elsewhere.rglob("calc.py"))


async def test_a_dry_run_plans_the_verdict_and_the_merge_but_writes_nothing(world: World) -> None:
    _, pr = await world.open_pr({"calc.py": CALC + "# dry\n"})
    before = await world.timmy.get_issue(ORG, world.name, pr.number)
    reviewer = world.reviewer()
    reviewer.dry_run = True

    (report,) = await reviewer.review_once()

    assert report.verdict == "approved" and [a.kind for a in report.actions] == ["approve"]
    assert await world.reviews(pr.number) == [] and world.line.requests == []
    assert (await world.timmy.get_issue(ORG, world.name, pr.number)).updated_at == before.updated_at
    await world.owner.create_review(ORG, world.name, pr.number, "APPROVED", "ok", commit_id=pr.head_sha)
    (ready,) = await reviewer.merge_once()
    assert (ready.outcome, [a.kind for a in ready.actions]) == ("ready", ["merge"])
    assert not await world.timmy.is_merged(ORG, world.name, pr.number) and world.line.requests == []


# -- what is never approved ---------------------------------------------------------------------------


async def test_a_failed_proof_is_rejected_never_approved_and_never_merged(world: World) -> None:
    _, pr = await world.open_pr({"calc.py": BROKEN}, proof="failure")
    reviewer = world.reviewer()

    (report,) = await reviewer.review_once()

    assert report.verdict == "changes_requested"
    assert any("status of head" in r and "is failure" in r for r in report.reasons), report.reasons
    assert "tests not re-run: the head is rejected already" in report.notes
    reviews = await world.reviews(pr.number)
    assert [r.state for r in reviews] == ["REQUEST_CHANGES"] and not approvals(reviews, "timmy")
    assert reviews[0].commit_id == pr.head_sha and "**Changes requested**" in reviews[0].body
    (blocked,) = await reviewer.merge_once()
    assert blocked.outcome == "blocked"
    assert any("requested changes" in b for b in blocked.reasons) and any(
        "no approval yet" in b for b in blocked.reasons
    )
    assert not await world.timmy.is_merged(ORG, world.name, pr.number)
    assert not any("/merge" in r for r in world.line.requests)


async def test_a_success_proof_the_rerun_contradicts_is_rejected(world: World) -> None:
    _, pr = await world.open_pr({"calc.py": BROKEN}, proof="success")  # the worker's proof lies

    (report,) = await world.reviewer().review_once()

    assert report.verdict == "changes_requested"
    (reason,) = report.reasons
    assert "the proof says success, but the tests re-run in a clean worktree" in reason
    assert "0 passed, 1 failed, 0 errors (exit 1)" in reason
    assert [r.state for r in await world.reviews(pr.number)] == ["REQUEST_CHANGES"]


async def test_a_diff_over_the_limit_is_rejected_as_too_large(world: World) -> None:
    _, pr = await world.open_pr({"notes/long.txt": "".join(f"line {i}\n" for i in range(20))})

    (report,) = await world.reviewer(max_diff_lines=10).review_once()

    assert report.verdict == "changes_requested"
    assert report.reasons == [
        "the diff is too large: 20 lines changed against the limit of 10; split it into smaller pull requests"
    ]
    assert [r.state for r in await world.reviews(pr.number)] == ["REQUEST_CHANGES"]


# -- stale approvals and a moving head ----------------------------------------------------------------


async def test_a_push_after_the_approval_makes_it_stale_blocks_the_merge_and_sends_it_back(world: World) -> None:
    issue, pr = await world.open_pr({"calc.py": CALC + "# v1\n"})
    reviewer = world.reviewer()
    assert [r.verdict for r in await reviewer.review_once()] == ["approved"]
    new_head = world.push(f"bezalel/issue-{issue}", {"calc.py": CALC + "# v2\n"}, "More work")
    await world.prove(new_head)

    (blocked,) = await reviewer.merge_once()

    assert blocked.outcome == "blocked" and blocked.head == new_head
    assert any(
        f"is stale: it approved {pr.head_sha[:12]}, the head is now {new_head[:12]}" in b for b in blocked.reasons
    )
    assert not await world.timmy.is_merged(ORG, world.name, pr.number)
    (old,) = approvals(await world.reviews(pr.number), "timmy")
    assert old.stale and old.commit_id == pr.head_sha

    (again,) = await reviewer.review_once()  # back to review: the new head gets its own verdict
    assert (again.verdict, again.head) == ("approved", new_head)
    (merged,) = await reviewer.merge_once()
    assert merged.outcome == "merged" and merged.head == new_head
    assert (await world.pull(pr.number)).merged


async def test_a_head_that_moves_between_the_check_and_the_merge_gets_409_and_goes_back_to_review(
    world: World,
) -> None:
    issue, pr = await world.open_pr({"calc.py": CALC + "# v1\n"})
    reviewer = world.reviewer()
    assert [r.verdict for r in await reviewer.review_once()] == ["approved"]
    await world.timmy.replace_labels(ORG, world.name, issue, ["status/in-progress"])  # as if someone moved it on
    moved: list[str] = []
    status_url = f"{world.mesh.url}api/v1/repos/{world.repo}/statuses/"

    def push_first(request: httpx.Request) -> None:  # the push lands after the gate's check, before the merge
        if request.url.path.endswith("/merge") and not moved:
            moved.append(world.push(f"bezalel/issue-{issue}", {"calc.py": CALC + "# v2\n"}, "Late push"))
            headers = {"Authorization": f"token {world.mesh.token('bezalel')}"}
            body = {"state": "success", "context": PROOF}
            assert httpx.post(status_url + moved[0], json=body, headers=headers).status_code == 201

    world.line.before = push_first

    (report,) = await reviewer.merge_once()

    assert report.outcome == "head_moved", report.reasons
    assert report.reasons == ["the forge answered 409: head out of date"]
    assert not await world.timmy.is_merged(ORG, world.name, pr.number)
    assert "status/review" in await world.labels(issue) and "status/in-progress" not in await world.labels(issue)
    (comment,) = await world.comments_by(pr.number, "timmy")
    assert comment.startswith(marker("merge-409", pr.number, pr.head_sha))
    assert f"the head moved to `{moved[0][:12]}` after `{pr.head_sha[:12]}` was reviewed" in comment

    world.line.before = None
    assert [(r.verdict, r.head) for r in await reviewer.review_once()] == [("approved", moved[0])]
    assert [r.outcome for r in await reviewer.merge_once()] == ["merged"]


# -- the owner ----------------------------------------------------------------------------------------


async def test_sensitive_paths_go_to_the_owner_and_only_the_owners_approval_counts(world: World) -> None:
    _, pr = await world.open_pr({"configs/app.yaml": "answer: 43\n"})
    reviewer = world.reviewer()  # auto_approve on, and still no approval by timmy

    (report,) = await reviewer.review_once()

    assert report.verdict == "escalated"
    assert not await world.reviews(pr.number)
    assert "needs-owner" in await world.labels(pr.number)
    (comment,) = await world.comments_by(pr.number, "timmy")
    assert f"**Needs the owner** @{OWNER}" in comment and "`configs/app.yaml`" in comment
    assert [r.verdict for r in await reviewer.review_once()] == ["reviewed_already"]
    # timmy's own approval would not count on a needs-owner PR
    await world.timmy.create_review(ORG, world.name, pr.number, "APPROVED", "lgtm", commit_id=pr.head_sha)
    (blocked,) = await reviewer.merge_once()
    assert blocked.outcome == "blocked"
    assert any("only the owner's approval counts" in b for b in blocked.reasons), blocked.reasons

    await world.owner.create_review(ORG, world.name, pr.number, "APPROVED", "mine", commit_id=pr.head_sha)
    (merged,) = await reviewer.merge_once()
    assert merged.outcome == "merged", merged.reasons


async def test_an_escalated_verdict_goes_through_the_escalation_policy(world: World) -> None:
    """The owner ignored review escalations: the verdict still asks them, without the mention, and the digest
    carries it; once they act on reviews again, the next escalated verdict mentions them at once."""
    reviewer = world.reviewer()
    desk = Escalations(world.runtime.store, world.timmy, repo=world.repo, owner=OWNER, calibration=Calibration(),
                       host="test-host")  # fmt: skip
    reviewer.escalations = desk
    desk.thresholds.learn("review", acted=False)
    _, quiet = await world.open_pr({"configs/app.yaml": "answer: 43\n"})

    (report,) = await reviewer.review_once()

    (comment,) = await world.comments_by(quiet.number, "timmy")
    assert report.verdict == "escalated" and f"**Needs the owner** {OWNER}:" in comment and f"@{OWNER}" not in comment
    [batched] = desk.recent()
    assert (batched["category"], batched["route"], batched["number"]) == ("review", "digest", quiet.number)
    for _ in range(3):
        desk.thresholds.learn("review", acted=True)
    _, loud = await world.open_pr({"configs/app.yaml": "answer: 44\n"})
    await reviewer.review_once()
    (mention,) = await world.comments_by(loud.number, "timmy")
    assert f"**Needs the owner** @{OWNER}" in mention
    assert desk.recent()[0]["route"] == "immediate" and desk.recent()[0]["sent_at"] is not None


async def test_without_auto_approve_timmy_pre_reviews_and_merges_after_the_owner_approves(world: World) -> None:
    _, pr = await world.open_pr({"calc.py": CALC + "# tidy\n"})
    reviewer = world.reviewer(auto_approve=False)

    (report,) = await reviewer.review_once()

    assert report.verdict == "pre_reviewed"
    assert not await world.reviews(pr.number)
    (comment,) = await world.comments_by(pr.number, "timmy")
    assert f"**Ready for the owner's approval** (@{OWNER})" in comment and pr.head_sha in comment
    (blocked,) = await reviewer.merge_once()
    assert blocked.outcome == "blocked" and any("no approval yet" in b for b in blocked.reasons)

    await world.owner.create_review(ORG, world.name, pr.number, "APPROVED", "ok", commit_id=pr.head_sha)
    (merged,) = await reviewer.merge_once()
    assert merged.outcome == "merged", merged.reasons


async def test_a_rejection_is_withdrawn_when_a_new_head_passes(world: World) -> None:
    issue, pr = await world.open_pr({"calc.py": BROKEN})
    reviewer = world.reviewer(auto_approve=False)
    assert [r.verdict for r in await reviewer.review_once()] == ["changes_requested"]
    fixed = world.push(f"bezalel/issue-{issue}", {"calc.py": CALC}, "Fix it")
    await world.prove(fixed)

    assert [r.verdict for r in await reviewer.review_once()] == ["pre_reviewed"]

    (rejected,) = [r for r in await world.reviews(pr.number) if r.state == "REQUEST_CHANGES"]
    assert rejected.dismissed  # it would block the merge of the fixed head otherwise
    await world.owner.create_review(ORG, world.name, pr.number, "APPROVED", "ok", commit_id=fixed)
    assert [r.outcome for r in await reviewer.merge_once()] == ["merged"]


async def test_the_hold_label_blocks_the_merge(world: World) -> None:
    _, pr = await world.open_pr({"calc.py": CALC + "# held\n"})
    reviewer = world.reviewer()
    assert [r.verdict for r in await reviewer.review_once()] == ["approved"]
    await world.timmy.add_labels(ORG, world.name, pr.number, ["hold"])

    (blocked,) = await reviewer.merge_once()

    assert blocked.outcome == "blocked"
    assert blocked.reasons == ["the `hold` label is set: remove it to let the merge go ahead"]
    hold = next(label for label in (await world.pull(pr.number)).labels if label.name == "hold")
    await world.timmy.remove_label(ORG, world.name, pr.number, hold.id)
    assert [r.outcome for r in await reviewer.merge_once()] == ["merged"]


# -- who may approve ----------------------------------------------------------------------------------


async def test_allegro_cannot_approve_the_harness_denies_it_before_the_forge_is_asked(world: World) -> None:
    _, pr = await world.open_pr({"README.md": "# changed\n"})

    result = await Harness("allegro", runtime=world.runtime).aexecute(
        "gitea_approve_pr", repo=world.repo, number=pr.number, commit_id=pr.head_sha, body="lgtm"
    )

    assert (result.status, result.rule, result.error_type) == (Status.DENIED, "may_approve", "PolicyDenied")
    assert "allegro may not approve pull requests: rules.may_approve is false" in (result.error or "")
    assert world.line.requests == []  # the forge was never asked
    with pytest.raises(PolicyDenied):
        result.raise_for_status()
    merge = await Harness("allegro", runtime=world.runtime).aexecute(
        "gitea_merge_pr", repo=world.repo, number=pr.number, head_commit_id=pr.head_sha
    )
    assert (merge.status, merge.rule) == (Status.DENIED, "may_merge") and world.line.requests == []

    allegro = world.client("allegro")
    (report,) = await world.reviewer(house="allegro", client=allegro).review_once()  # a reviewer run as allegro
    assert report.verdict == "denied" and "rules.may_approve is false" in report.reasons[-1]
    assert await world.reviews(pr.number) == [] and world.line.requests == []


# -- provenance ---------------------------------------------------------------------------------------


def record(task: str, house: str, tool: str, args: dict[str, object], status: str = "ok") -> ProvenanceRecord:
    text = canonical_json(args)
    decision = canonical_json({"allowed": True, "rule": "allow", "reason": "allowed then", "approval_id": None})
    return ProvenanceRecord(
        at=utc_now(), house=house, host=HOST, mode="intelligent", tool=tool, task=task,
        args_digest=sha256_text(text), args_json=text, output_digest=None, output_json=None, status=status,
        error=None, error_type=None, duration=0.01, attempts=1, decision_json=decision,
    )  # fmt: skip


async def test_the_provenance_check_flags_an_ezra_write_without_a_read(world: World) -> None:
    issue, pr = await world.open_pr({"calc.py": CALC + "# documented\n"})
    task = f"{world.repo}#{issue}"
    tree = world.runtime.settings.workspace / "worktrees" / f"{world.name}-{issue}"  # ezra's worktree then
    log = world.runtime.provenance
    for rec in (
        record(task, "ezra", "git_status", {"repo_path": str(tree)}),
        record(task, "ezra", "file_read", {"path": str(tree / "configs/app.yaml")}),
        record(task, "ezra", "file_write", {"path": str(tree / "configs/app.yaml"), "content": "read first"}),
        record(task, "ezra", "file_write", {"path": str(tree / "calc.py"), "content": "never read"}),
        record(task, "ezra", "file_write", {"path": str(tree / "docs/new.md"), "content": "a new file"}),
        record(task, "ezra", "file_write", {"path": str(tree / "docs/new.md"), "content": "again, unread"}),
        record(task, "ezra", "file_write", {"path": str(tree / "check.py"), "content": "denied"}, status="denied"),
        record("another/repo#1", "ezra", "file_write", {"path": str(tree / "check.py"), "content": "other task"}),
    ):
        await log.aappend(rec)

    (report,) = await world.reviewer().review_once()

    assert report.verdict == "changes_requested"
    calc, new = os.path.realpath(tree / "calc.py"), os.path.realpath(tree / "docs/new.md")
    assert [r.split(": ", 1)[1] for r in report.reasons] == [
        f"ezra ran file:file_write, which its policy denies: ezra must read '{calc}' before writing it "
        "(read_before_write): call file_read on it earlier in the same task",
        f"ezra ran file:file_write, which its policy denies: ezra must read '{new}' before writing it "
        "(read_before_write): call file_read on it earlier in the same task",
    ]
    assert (
        f"provenance: 7 record(s) of `{task}` re-checked on `{HOST}`: 2 call(s) the policy denies" in report.notes[-1]
    )
    (review,) = await world.reviews(pr.number)
    assert review.state == "REQUEST_CHANGES" and "read_before_write" in review.body

    # an edited record breaks the chain, and the check says so
    with world.runtime.store.transaction() as db:
        db.execute("UPDATE provenance SET status = 'denied' WHERE id = 4")
    policies = {house: world.runtime.policy(house) for house in world.runtime.houses}
    broken = check_provenance(log, [task], policies, world.runtime.registry, host=HOST)
    assert broken.chain_error is not None and "record 4" in broken.chain_error
    assert broken.problems[0].startswith(f"the provenance chain on `{HOST}` does not verify")
    assert len(broken.violations) == 1  # record 4 no longer "ran"; without the merge base, docs/new.md is a note
    assert any("whether it existed before cannot be told" in note for note in broken.notes)


def test_the_shipped_review_config_is_the_documented_default() -> None:
    config = load_review_config()
    assert config == ReviewConfig()
    assert (config.auto_approve, config.max_diff_lines, config.proof_context) == (False, 10_000, PROOF)
