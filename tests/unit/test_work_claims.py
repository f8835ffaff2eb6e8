"""Pure parts of the worker: the claim comment the dispatcher parses, relabelling, the proof verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from uni_wizard.dispatch.state import latest_claim
from uni_wizard.forge.models import Comment, User
from uni_wizard.harness.result import Result, Status
from uni_wizard.policy.model import Mode
from uni_wizard.work.claims import claim_body, find_claim, relabeled
from uni_wizard.work.publish import fence, judge_proof
from uni_wizard.work.repo import branch_name, worktree_path


def comment(cid: int, login: str, body: str) -> Comment:
    return Comment(id=cid, body=body, user=User(id=cid, login=login))


def test_the_claim_comment_is_what_the_dispatcher_reads() -> None:
    expires = datetime(2026, 11, 21, 7, 0, 0, 500, tzinfo=UTC)
    body = claim_body("bezalel", expires)
    assert body.endswith("<!-- uni-wizard:claim house=bezalel expires=2026-11-21T07:00:00Z -->")
    assert "Claimed by `bezalel`" in body
    claim = latest_claim([comment(3, "bezalel", body)], ["bezalel"])
    assert claim is not None and (claim.house, claim.comment_id) == ("bezalel", 3)
    assert claim.expires == expires.replace(microsecond=0)


def test_only_the_houses_own_claim_comment_is_found() -> None:
    body = claim_body("bezalel", datetime(2026, 1, 1, tzinfo=UTC))
    comments = [comment(1, "mallory", body), comment(2, "bezalel", "hello"), comment(3, "bezalel", body)]
    found = find_claim(comments, "bezalel", "bezalel")
    assert found is not None and found.id == 3
    assert find_claim(comments, "ezra", "ezra") is None


def test_relabelling_replaces_only_the_status() -> None:
    labels = ["status/routed", "house/bezalel", "kind/bug", "priority/P1", "needs-info", "upgrade"]
    assert relabeled(labels, "in-progress") == [
        "house/bezalel",
        "kind/bug",
        "needs-info",
        "priority/P1",
        "status/in-progress",
        "upgrade",
    ]
    assert relabeled([], "review") == ["status/review"]


def result(status: Status, output: object = None, error: str | None = None) -> Result:
    return Result(status=status, tool="run_tests", house="bezalel", mode=Mode.INTELLIGENT, output=output, error=error)


def test_the_proof_verdict_comes_from_the_runs_own_judgement() -> None:
    passed = judge_proof("abc", result(Status.OK, {"ok": True, "passed": 12, "failed": 0, "errors": 0}))
    assert (passed.state, passed.description, passed.ok) == ("success", "12 passed, 0 failed", True)
    failed = judge_proof("abc", result(Status.OK, {"ok": False, "passed": 3, "failed": 1, "errors": 1, "skipped": 2}))
    assert (failed.state, failed.description, failed.ok) == ("failure", "3 passed, 2 failed, 2 skipped", False)
    nothing = judge_proof("abc", result(Status.OK, {"ok": False, "passed": 0, "failed": 0, "errors": 0}))
    assert nothing.state == "failure"  # nothing passed proves nothing
    broken = judge_proof("abc", result(Status.ERROR, error="no test command configured"))
    assert broken.state == "error" and "no test command" in broken.description


def test_fences_outgrow_the_backticks_inside() -> None:
    assert fence("plain") == "```\nplain\n```"
    assert fence("a ```` b", "text") == "`````text\na ```` b\n`````"


def test_names_of_branches_and_worktrees() -> None:
    assert branch_name("ezra", 12) == "ezra/issue-12"
    assert worktree_path(Path("/w"), "mesh/work", 12) == Path("/w/worktrees/mesh-work-12")
    assert worktree_path(Path("/w"), "me/we ird", 3) == Path("/w/worktrees/me-we_ird-3")
