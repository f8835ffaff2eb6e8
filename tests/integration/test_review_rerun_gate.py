"""The reviewer does not re-run a PR that changes its own test command, CI or build files before the owner
approved that exact head; then it does (sandboxed), and the merge waits for that verdict.

A real devforge over loopback, real git, a real Harness: the world of test_review.py (its fixtures).
"""

from __future__ import annotations

import json
import sys

import pytest
from test_review import OWNER, World, approvals, mesh, world  # noqa: F401 - fixtures of test_review's world

from uni_wizard.review.render import HELD, VERDICT, marker

ORG = "mesh"
# the PR's new test command: it looks at what a re-run can see and passes
PEEK = (
    "import os, sys\n"
    "print('PEEK', sorted(os.environ), os.getuid(), os.path.exists('.git'))\n"
    "print('1 passed, 0 failed')\n"
)


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> World:
    """test_review's world (a fresh repository on the module's devforge)."""
    found: World = request.getfixturevalue("world")
    return found


def reruns(gate: World) -> int:
    return sum(1 for r in gate.runtime.provenance.tail(200) if r.tool == "run_tests")


async def test_a_new_test_command_is_not_rerun_until_the_owner_approves_that_head(gate: World) -> None:
    files = {".uni-wizard.yaml": f"test_command: {json.dumps([sys.executable, 'peek.py'])}\n", "peek.py": PEEK}
    issue, pr = await gate.open_pr(files)
    reviewer = gate.reviewer()  # auto_approve on: still neither a re-run nor an approval by timmy

    (held,) = await reviewer.review_once()

    assert (held.verdict, held.head) == ("held", pr.head_sha), held
    assert reruns(gate) == 0
    assert "needs-owner" in await gate.labels(pr.number)
    assert await gate.reviews(pr.number) == []
    (comment,) = await gate.comments_by(pr.number, "timmy")
    assert comment.startswith(marker(HELD, pr.number, pr.head_sha))
    assert f"**Tests not re-run: waiting for the owner** @{OWNER}" in comment
    assert "`.uni-wizard.yaml`" in comment and "`peek.py`" not in comment

    (again,) = await reviewer.review_once()  # nothing new: no second comment, still no re-run
    assert again.verdict == "waiting" and "waiting for @owner to approve that head" in again.notes[0]
    assert len(await gate.comments_by(pr.number, "timmy")) == 1 and reruns(gate) == 0

    await gate.owner.create_review(ORG, gate.name, pr.number, "APPROVED", "read it", commit_id=pr.head_sha)
    (early,) = await reviewer.merge_once()  # the owner's approval alone does not merge an un-re-run head
    assert early.outcome == "blocked"
    assert any("are not re-run yet" in b for b in early.reasons), early.reasons
    assert not await gate.timmy.is_merged(ORG, gate.name, pr.number)

    (verdict,) = await reviewer.review_once()

    assert verdict.verdict == "escalated", verdict  # sensitive: the owner's approval is the one that counts
    assert reruns(gate) == 1
    assert any("tests re-run once @owner approved this head" in n for n in verdict.notes), verdict.notes
    assert any("tests re-run in a clean worktree" in n and "1 passed" in n for n in verdict.notes), verdict.notes
    body = next(c for c in await gate.comments_by(pr.number, "timmy") if marker(VERDICT, pr.number, pr.head_sha) in c)
    assert gate.mesh.token("timmy") not in body
    (merged,) = await reviewer.merge_once()
    assert merged.outcome == "merged", merged.reasons
    assert "status/done" in (await gate.timmy.get_issue(ORG, gate.name, issue)).label_names


async def test_a_makefile_change_waits_again_after_a_push_and_a_stale_approval_does_not_count(gate: World) -> None:
    issue, pr = await gate.open_pr({"Makefile": "test:\n\tpython check.py\n"})  # no .py changed: re-run anyway
    reviewer = gate.reviewer(auto_approve=False)

    assert [r.verdict for r in await reviewer.review_once()] == ["held"]
    await gate.owner.create_review(ORG, gate.name, pr.number, "APPROVED", "ok", commit_id=pr.head_sha)
    new_head = gate.push(f"bezalel/issue-{issue}", {"Makefile": "test:\n\tpython3 check.py\n"}, "Tweak")
    await gate.prove(new_head)

    (held,) = await reviewer.review_once()  # the approval was for the old head

    assert (held.verdict, held.head) == ("held", new_head)
    assert reruns(gate) == 0
    (blocked,) = await reviewer.merge_once()
    assert blocked.outcome == "blocked" and any("stale" in b for b in blocked.reasons), blocked.reasons

    await gate.owner.create_review(ORG, gate.name, pr.number, "APPROVED", "ok", commit_id=new_head)
    (verdict,) = await reviewer.review_once()
    assert verdict.verdict == "escalated" and reruns(gate) == 1, verdict
    assert any("`Makefile`" in n and "rerun_needs_owner_paths" in n for n in verdict.notes), verdict.notes
    assert [m.outcome for m in await reviewer.merge_once()] == ["merged"]


async def test_a_rerun_that_fails_after_the_approval_blocks_the_merge(gate: World) -> None:
    broken = "def add(a, b):\n    return a - b\n"
    _, pr = await gate.open_pr({"calc.py": broken, "conftest.py": "# a pytest hook file\n"})
    reviewer = gate.reviewer()
    assert [r.verdict for r in await reviewer.review_once()] == ["held"]
    await gate.owner.create_review(ORG, gate.name, pr.number, "APPROVED", "ok", commit_id=pr.head_sha)

    (verdict,) = await reviewer.review_once()

    assert verdict.verdict == "changes_requested" and reruns(gate) == 1
    assert "the proof says success, but the tests re-run" in verdict.reasons[0]
    (blocked,) = await reviewer.merge_once()
    assert blocked.outcome == "blocked" and any("requested changes" in b for b in blocked.reasons)
    assert not approvals(await gate.reviews(pr.number), "timmy")
