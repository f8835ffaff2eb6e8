"""The owner steers the dispatcher from an issue's thread: comment commands on ``FakeForge``, a table of worlds.

Each row seeds one issue and one comment, the dispatcher handles the issue once, and the row states the forge
writes (``fake.calls``) and what the reply says. Then: each comment acts once (a new dispatcher, as after a
restart, writes nothing), commands in several comments act in order, and the grammar itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from uni_wizard.dispatch.audit import marker
from uni_wizard.dispatch.commands import Authority, Command, parse, pending, reply_marker
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.dispatch.dispatcher import Dispatcher
from uni_wizard.dispatch.issue_commands import QuietThreads
from uni_wizard.dispatch.lease import LocalLease
from uni_wizard.dispatch.metrics import DispatchMetrics
from uni_wizard.dispatch.offload import Offload
from uni_wizard.forge.models import Issue
from uni_wizard.observe.events import EventLog
from uni_wizard.testing import FakeClock, FakeForge, make_runtime

REPO = "mesh/work"
OWNER = "owner"
CRASH = ("Server crashes on start with a traceback", "Steps to reproduce: run it.\n\nAcceptance criteria:\n- [ ] ok")
ROUTED = ("status/routed", "house/bezalel", "kind/bug", "priority/P1")
TRIAGE = f"{REPO}#1:comment:{marker('triage', 1)}"
ROUTE_TO_BEZALEL = [
    TRIAGE,
    f"{REPO}#1:labels:house/bezalel,kind/bug,priority/P1,status/routed",
    f"{REPO}#1:assignees:bezalel",
]


@dataclass
class Lane:
    fake: FakeForge
    dispatcher: Dispatcher
    events: EventLog

    def fresh(self) -> Dispatcher:
        """Another dispatcher on the same forge and store: a restart."""
        old = self.dispatcher
        return Dispatcher(
            self.fake, login="allegro", store=old.store, config=old.config, houses=old.houses, lease=old.lease,
            host="test-host", events=old.events, metrics=old.metrics, clock=old.clock, offload=Offload("thread"),
            owner=OWNER,
        )  # fmt: skip

    def replies(self) -> list[str]:
        return [c.body for c in self.fake.comments(REPO, 1) if c.user is not None and c.user.login == "allegro"]


@pytest.fixture
async def lane(tmp_path: Path) -> AsyncIterator[Lane]:
    runtime = make_runtime(tmp_path)
    clock = FakeClock()
    fake = FakeForge("allegro", clock=clock)
    fake.add_repo(REPO)
    for user in ("timmy", "ezra", "bezalel", OWNER, "mallory"):
        fake.add_user(user)
    config = load_triage_config()
    for spec in config.labels(tuple(runtime.houses)):  # what DispatchLoop.ensure_labels makes (hold included)
        fake.add_label(REPO, spec.name, spec.color, exclusive=spec.exclusive, description=spec.description)
    lease = LocalLease(clock=clock)
    await lease.acquire()
    events = EventLog(runtime.store, "test-host", clock=clock)
    dispatcher = Dispatcher(
        fake, login="allegro", store=runtime.store, config=config, houses=runtime.houses, lease=lease,
        host="test-host", events=events, metrics=DispatchMetrics.for_registry(runtime.metrics.registry),
        clock=clock, offload=Offload("thread"), owner=OWNER,
    )  # fmt: skip
    try:
        yield Lane(fake, dispatcher, events)
    finally:
        runtime.close()


def reply(comment_id: int = 1) -> str:
    return f"{REPO}#1:comment:{reply_marker(comment_id)}"


CASES: list[tuple[str, tuple[str, ...], tuple[str, ...], str, str, list[str], str]] = [
    # name, labels, assignees, author, comment, the writes, words of the reply
    ("/hold by the owner: held, not routed", (), (), OWNER, "/hold", [f"{REPO}#1:labels:hold", reply()], "held"),
    ("/hold by timmy: the same", (), (), "timmy", "Wait.\n/hold", [f"{REPO}#1:labels:hold", reply()], "held"),
    (
        "/hold by someone else: refused once, routed as usual",
        (), (), "mallory", "/hold", [reply(), *ROUTE_TO_BEZALEL], "not done, sorry @mallory: only @owner and @timmy",
    ),
    (
        "/unhold: the label goes, the issue is routed",
        ("hold",), (), OWNER, "/unhold", [f"{REPO}#1:labels:", reply(), *ROUTE_TO_BEZALEL], "`hold` removed",
    ),
    (
        "/hold cancel is /unhold",
        ("hold",), (), OWNER, "/hold cancel", [f"{REPO}#1:labels:", reply(), *ROUTE_TO_BEZALEL], "`hold` removed",
    ),
    (
        "/retry on a blocked issue: back to triage, routed again",
        ("status/blocked", "house/bezalel", "kind/bug", "priority/P1"), ("bezalel",), OWNER, "/retry",
        [f"{REPO}#1:labels:house/bezalel,kind/bug,priority/P1,status/triage", reply(),
         f"{REPO}#1:comment:{marker('triage', 1)}", f"{REPO}#1:labels:house/bezalel,kind/bug,priority/P1,status/routed"],
        "back to `status/triage`",
    ),
    ("/retry on a routed issue: nothing to retry", ROUTED, ("bezalel",), OWNER, "/retry", [reply()], "not blocked"),
    (
        "/route ezra: re-routed, the audit comment says so",
        ROUTED, ("bezalel",), OWNER, "/route ezra",
        [f"{REPO}#1:labels:house/ezra,kind/bug,priority/P1,status/routed", f"{REPO}#1:assignees:ezra",
         f"{REPO}#1:comment:{marker('route-1', 1)}"],
        "**routed to `ezra`** (assigned to @ezra), overriding routing (it had chosen `bezalel`)",
    ),
    ("/route allegro: not a house that takes issues", ROUTED, ("bezalel",), OWNER, "/route allegro", [reply()],
     "`allegro` is not a house that takes issues"),
    ("/route without a house: usage", ROUTED, ("bezalel",), OWNER, "/route", [reply()], "usage `/route <house>`"),
    (
        "/route while a house works on it: refused",
        ("status/in-progress", "house/bezalel", "kind/bug", "priority/P1"), ("bezalel",), OWNER, "/route ezra",
        [reply()], "not re-routed: it is status/in-progress",
    ),
    ("/explain: the routing table, as it decides now", ROUTED, ("bezalel",), OWNER, "/explain", [reply()],
     "house    text"),
    ("/approve on an issue: where approving happens", ROUTED, ("bezalel",), OWNER, "/approve", [reply()],
     "on a pull request, with the review button"),
    ("/approve by timmy: the owner's alone", ROUTED, ("bezalel",), "timmy", "/approve", [reply()],
     "only @owner approves"),
    ("an unknown /word: not ours, no reply", ROUTED, ("bezalel",), OWNER, "/lgtm", [], ""),
    ("a quoted command: not a command", ROUTED, ("bezalel",), OWNER, "> /hold\nthat was wrong", [], ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "assignees", "author", "body", "expected", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_command(
    lane: Lane, labels: tuple[str, ...], assignees: tuple[str, ...], author: str, body: str, expected: list[str],
    says: str,
) -> None:  # fmt: skip
    lane.fake.add_issue(REPO, *CRASH, labels=labels, assignees=assignees, user="timmy")
    lane.fake.add_comment(REPO, 1, body, user=author)

    await lane.dispatcher.handle(REPO, lane.fake.issue(REPO, 1))

    assert lane.fake.calls == expected
    answers = [r for r in lane.replies() if reply_marker(1) in r]
    assert len(answers) == (1 if expected and says else 0)
    if says:
        assert says in answers[0]


async def test_each_comment_acts_once_across_a_restart(lane: Lane) -> None:
    lane.fake.add_issue(REPO, *CRASH, labels=ROUTED, assignees=("bezalel",), user="timmy")
    lane.fake.add_comment(REPO, 1, "/route ezra", user=OWNER)
    lane.fake.add_comment(REPO, 1, "/hold", user="mallory")
    await lane.dispatcher.handle(REPO, lane.fake.issue(REPO, 1))
    assert len(lane.replies()) == 2  # one answer, one refusal
    lane.fake.calls.clear()

    await lane.fresh().handle(REPO, lane.fake.issue(REPO, 1))  # a restart: the replies are on the thread

    assert lane.fake.calls == []
    kinds = [e.kind for e in lane.events.page(since=0).events]
    assert kinds.count("command.handled") == 1 and kinds.count("command.refused") == 1
    routed = [e for e in lane.events.page(since=0).events if e.kind == "issue.routed"]
    assert [(e.data["house"], e.data["override"], e.data["by"]) for e in routed] == [("ezra", True, OWNER)]


async def test_commands_in_several_comments_act_in_order(lane: Lane) -> None:
    lane.fake.add_issue(REPO, *CRASH, user="timmy")
    lane.fake.add_comment(REPO, 1, "/hold", user=OWNER)
    lane.fake.add_comment(REPO, 1, "/unhold", user="timmy")

    await lane.dispatcher.handle(REPO, lane.fake.issue(REPO, 1))

    assert lane.fake.calls == [f"{REPO}#1:labels:hold", reply(1), f"{REPO}#1:labels:", reply(2), *ROUTE_TO_BEZALEL]


async def test_a_held_issue_stays_unrouted_until_unhold(lane: Lane) -> None:
    lane.fake.add_issue(REPO, *CRASH, labels=("hold",), user="timmy")
    assert await lane.dispatcher.handle(REPO, lane.fake.issue(REPO, 1)) == []
    assert lane.fake.calls == []
    lane.fake.add_comment(REPO, 1, "/unhold", user=OWNER)
    await lane.dispatcher.handle(REPO, lane.fake.issue(REPO, 1))
    assert lane.fake.issue(REPO, 1).label_names == ["house/bezalel", "kind/bug", "priority/P1", "status/routed"]


async def test_a_dry_run_plans_the_commands_and_writes_nothing(lane: Lane) -> None:
    lane.fake.add_issue(REPO, *CRASH, labels=ROUTED, assignees=("bezalel",), user="timmy")
    lane.fake.add_comment(REPO, 1, "/route ezra", user=OWNER)
    lane.dispatcher.dry_run = True

    actions = await lane.dispatcher.handle(REPO, lane.fake.issue(REPO, 1))

    assert [a.kind for a in actions] == ["relabel", "assign", "command"] and lane.fake.calls == []


# -- the grammar ------------------------------------------------------------------------------------------

GRAMMAR = [
    ("/hold", [Command("hold", "", "/hold")]),
    ("  /hold  ", [Command("hold", "", "/hold")]),
    ("/hold cancel", [Command("unhold", "", "/hold cancel")]),
    ("/route ezra please", [Command("route", "ezra please", "/route ezra please")]),
    ("/approve 0123abcd", [Command("approve", "0123abcd", "/approve 0123abcd")]),
    ("/HOLD", []),  # lower case only
    ("/holdings", []),
    ("please /hold", []),  # a command starts its line
    ("```\n/hold\n```\n/explain", [Command("explain", "", "/explain")]),  # not inside code
    ("> /hold", []),  # not in a quote
    ("/retry\n/explain", [Command("retry", "", "/retry"), Command("explain", "", "/explain")]),
]


@pytest.mark.parametrize(("body", "expected"), GRAMMAR, ids=[g[0] for g in GRAMMAR])
def test_the_grammar(body: str, expected: list[Command]) -> None:
    assert list(parse(body)) == expected


def test_who_may_use_them() -> None:
    authority = Authority("alice", frozenset({"timmy"}))
    assert authority.refusal("alice", Command("hold")) is None
    assert authority.refusal("timmy", Command("route", "ezra")) is None
    assert authority.refusal("timmy", Command("approve")) == "only @alice approves, with the review button"
    assert authority.refusal("bob", Command("hold")) == "only @alice and @timmy may use it"


def test_our_own_comments_are_never_commands() -> None:
    from uni_wizard.forge.models import Comment, User

    ours = Comment(id=5, body=f"{reply_marker(4)}\n/hold", user=User(id=1, login="timmy"))
    theirs = Comment(id=4, body="/hold", user=User(id=2, login="owner"))
    answered_by_someone_else = Comment(id=6, body=reply_marker(4), user=User(id=3, login="mallory"))
    assert [c.comment_id for c in pending([theirs, ours, answered_by_someone_else], "timmy")] == []
    assert [c.comment_id for c in pending([theirs, answered_by_someone_else], "timmy")] == [4]


def test_a_quiet_thread_is_read_again_only_when_it_changed() -> None:
    def issue(number: int, comments: int, second: int) -> Issue:
        return Issue.model_validate(
            {
                "id": number,
                "number": number,
                "title": "t",
                "comments": comments,
                "updated_at": datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC),
            }
        )

    quiet = QuietThreads(limit=4)
    quiet.remember(REPO, issue(1, 2, 0))
    assert quiet.unchanged(REPO, issue(1, 2, 0))
    assert not quiet.unchanged(REPO, issue(1, 3, 5))  # a new comment: read it again
    assert not quiet.unchanged(REPO, issue(1, 2, 5))  # edited since: read it again
    assert not quiet.unchanged("mesh/other", issue(1, 2, 0))
    no_time = Issue.model_validate({"id": 9, "number": 9, "title": "t", "comments": 1})
    quiet.remember(REPO, no_time)
    assert not quiet.unchanged(REPO, no_time)  # without an update time nothing can be told: always read
    for number in range(2, 6):  # past the limit the oldest half is forgotten, the newest kept
        quiet.remember(REPO, issue(number, 1, 0))
    assert not quiet.unchanged(REPO, issue(1, 2, 0)) and quiet.unchanged(REPO, issue(5, 1, 0))
    quiet.forget(REPO, issue(5, 1, 0))
    assert not quiet.unchanged(REPO, issue(5, 1, 0))
