"""The owner steers Timmy's reviewer from a pull request's thread: comment commands on ``FakeForge``, a table.

Each row seeds one PR waiting for review (its proof still pending, so the review itself waits and writes
nothing) and one comment; one review pass runs; the row states the forge writes (``fake.calls``) and what the
reply says. Then: each comment acts once across a restart, and a pre-review is approved once ``auto_approve``
is switched on (the planned write; the approval itself goes through the Harness, tested over loopback in
tests/integration/test_owner_steers.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from uni_wizard.assembly.shared import house_harness
from uni_wizard.dispatch.commands import HOLD_COLOR, HOLD_DESCRIPTION, reply_marker
from uni_wizard.harness.runtime import Runtime
from uni_wizard.observe.events import EventLog
from uni_wizard.review import ReviewConfig, Reviewer, Worktrees
from uni_wizard.review.provenance_check import ProvenanceSources
from uni_wizard.review.render import PRE_REVIEWED, VERDICT, marker
from uni_wizard.testing import FakeClock, FakeForge, make_runtime

REPO = "mesh/work"
OWNER = "owner"
PROOF = "uni-wizard/proof"


@dataclass
class Lane:
    fake: FakeForge
    runtime: Runtime
    events: EventLog
    head: str

    def reviewer(self, **config: object) -> Reviewer:
        runtime = self.runtime
        return Reviewer(
            self.fake, config=ReviewConfig.model_validate(config), repos=[REPO], house="timmy", login="timmy",
            harness=house_harness(runtime, "timmy"), worktrees=Worktrees(runtime.settings.workspace / "review"),
            provenance=ProvenanceSources(runtime.provenance, lambda: runtime.houses, runtime.registry),
            host="test-host", owner_login=OWNER, events=self.events,
        )  # fmt: skip

    def replies(self) -> list[str]:
        timmys = (c.body for c in self.fake.comments(REPO, 1) if c.user is not None and c.user.login == "timmy")
        return [body for body in timmys if "uni-wizard:command" in body]


@pytest.fixture
def lane(tmp_path: Path) -> Iterator[Lane]:
    runtime = make_runtime(tmp_path)
    clock = FakeClock()
    fake = FakeForge("timmy", clock=clock)
    fake.add_repo(REPO)
    for user in ("bezalel", OWNER, "mallory"):
        fake.add_user(user)
    fake.add_label(REPO, "status/review", "#5319e7", exclusive=True)
    fake.add_label(REPO, "hold", HOLD_COLOR, description=HOLD_DESCRIPTION)
    pr = fake.add_pull(
        REPO, "Do #7", head="bezalel/issue-7", body="Closes #7", labels=["status/review"], user="bezalel"
    )
    try:
        yield Lane(fake, runtime, EventLog(runtime.store, "test-host", clock=clock), pr.head_sha)
    finally:
        runtime.close()


async def pending_proof(lane: Lane) -> None:
    """The proof is pending: the review waits, and only the commands write."""
    owner, name = REPO.split("/")
    await lane.fake.as_user("bezalel").create_status(owner, name, lane.head, "pending", PROOF)
    lane.fake.calls.clear()


def reply(comment_id: int = 1) -> str:
    return f"{REPO}#1:comment:{reply_marker(comment_id)}"


CASES: list[tuple[str, tuple[str, ...], str, str, list[str], str]] = [
    # name, labels besides status/review, author, comment, the writes, words of the reply
    ("/hold by the owner: labelled hold", (), OWNER, "/hold", [f"{REPO}#1:+label:hold", reply()], "not merged until"),
    ("/hold by timmy: the same", (), "timmy", "/hold", [f"{REPO}#1:+label:hold", reply()], "held"),
    ("/hold by someone else: refused once", (), "mallory", "/hold", [reply()], "not done, sorry @mallory"),
    ("/hold when held: nothing to do", ("hold",), OWNER, "/hold", [reply()], "already held"),
    ("/unhold: the label goes", ("hold",), OWNER, "/unhold", [f"{REPO}#1:-label:hold", reply()], "`hold` removed"),
    ("/unhold by someone else: refused", ("hold",), "mallory", "/unhold", [reply()], "only @owner and @timmy"),
    (
        "/approve by the owner: the review button, and what blocks",
        (), OWNER, "/approve", [reply()], "nothing approved here: approve head",
    ),
    ("/approve by timmy: the owner's alone", (), "timmy", "/approve", [reply()], "only @owner approves"),
    ("/explain: what blocks the merge", (), OWNER, "/explain", [reply()], "What blocks the merge of"),
    ("/route on a PR: it works on issues", (), OWNER, "/route ezra", [reply()], "works on issues: use it on #7"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "author", "body", "expected", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_command(
    lane: Lane, labels: tuple[str, ...], author: str, body: str, expected: list[str], says: str
) -> None:
    owner, name = REPO.split("/")
    if labels:
        await lane.fake.add_labels(owner, name, 1, list(labels))
    await pending_proof(lane)
    lane.fake.add_comment(REPO, 1, body, user=author)

    (report,) = await lane.reviewer().review_once()

    assert report.verdict == "waiting"  # the proof is pending: only the commands wrote
    assert lane.fake.calls == expected
    (answer,) = lane.replies()
    assert says in answer


async def test_approve_names_the_head_and_what_blocks(lane: Lane) -> None:
    await pending_proof(lane)
    lane.fake.add_comment(REPO, 1, "/approve 0000000", user=OWNER)
    await lane.reviewer().review_once()
    (answer,) = lane.replies()
    assert (
        f"approve head `{lane.head[:12]}` with the review button" in answer and "(`0000000` is not the head)" in answer
    )
    assert "no approval yet" in answer and "status of head" in answer


async def test_each_comment_acts_once_across_a_restart(lane: Lane) -> None:
    await pending_proof(lane)
    lane.fake.add_comment(REPO, 1, "/hold", user=OWNER)
    lane.fake.add_comment(REPO, 1, "/unhold", user="mallory")
    await lane.reviewer().review_once()
    assert lane.fake.calls == [f"{REPO}#1:+label:hold", reply(1), reply(2)]
    lane.fake.calls.clear()

    await lane.reviewer().review_once()  # a new reviewer: the replies on the thread say it is done

    assert lane.fake.calls == []
    kinds = [e.kind for e in lane.events.page(since=0).events]
    assert (kinds.count("command.handled"), kinds.count("command.refused")) == (1, 1)


async def test_hold_then_unhold_in_one_pass_leaves_it_unheld(lane: Lane) -> None:
    await pending_proof(lane)
    lane.fake.add_comment(REPO, 1, "/hold", user=OWNER)
    lane.fake.add_comment(REPO, 1, "/unhold", user=OWNER)
    await lane.reviewer().review_once()
    assert lane.fake.calls == [f"{REPO}#1:+label:hold", reply(1), f"{REPO}#1:-label:hold", reply(2)]
    assert "hold" not in lane.fake.issue(REPO, 1).label_names


async def test_a_pre_review_is_approved_once_auto_approve_is_on(lane: Lane) -> None:
    """The six-minute wedge: a head pre-reviewed while auto_approve was off stayed ``reviewed_already``."""
    pre = f"{marker(VERDICT, 1, lane.head)}\n{marker(PRE_REVIEWED, 1, lane.head)}\n**Ready for the owner's approval**"
    lane.fake.add_comment(REPO, 1, pre, user="timmy")
    reviewer = lane.reviewer(auto_approve=False)
    reviewer.dry_run = True
    assert [r.verdict for r in await reviewer.review_once()] == ["reviewed_already"]

    reviewer = lane.reviewer(auto_approve=True)
    reviewer.dry_run = True
    (report,) = await reviewer.review_once()

    assert (report.verdict, [a.kind for a in report.actions]) == ("approved", ["approve"])
    assert "approved now that it is on" in report.notes[0]


async def test_an_escalation_is_not_approved_when_auto_approve_is_on(lane: Lane) -> None:
    asked = f"{marker(VERDICT, 1, lane.head)}\n**Needs the owner** @owner: sensitive paths"
    lane.fake.add_comment(REPO, 1, asked, user="timmy")
    reviewer = lane.reviewer(auto_approve=True)
    reviewer.dry_run = True
    assert [r.verdict for r in await reviewer.review_once()] == ["reviewed_already"]
