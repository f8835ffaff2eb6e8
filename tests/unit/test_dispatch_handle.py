"""``Dispatcher.handle`` on one issue, against ``FakeForge``: a table of worlds and the writes each must cause.

prow's ``TestHandle`` style: each row seeds the fake forge, the dispatcher handles the issue once, and the
row states ``fake.calls``, the forge writes as readable lines. No HTTP, no devforge: milliseconds a row.
(The same lane end to end, over loopback against the devforge, is tests/integration/test_dispatch.py;
``FakeForge`` answering like the devforge is tests/integration/test_fake_forge_conformance.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from uni_wizard.dispatch.audit import marker
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.dispatch.dispatcher import Dispatcher
from uni_wizard.dispatch.lease import LocalLease
from uni_wizard.dispatch.metrics import DispatchMetrics
from uni_wizard.dispatch.offload import Offload
from uni_wizard.forge.models import Issue
from uni_wizard.observe.events import EventLog
from uni_wizard.testing import FakeClock, FakeForge, make_runtime

REPO = "mesh/work"
HOUSES = ("timmy", "ezra", "bezalel")  # the shipped houses that take issues (forge user = house name)
CRASH = ("Server crashes on start with a traceback", "Steps to reproduce: run it.\n\nAcceptance criteria:\n- [ ] ok")
ROUTED = ("status/routed", "house/bezalel", "kind/bug", "priority/P1")
CLAIMED = ("status/in-progress", "house/ezra", "kind/bug", "priority/P1")


@dataclass
class Lane:
    fake: FakeForge
    dispatcher: Dispatcher
    clock: FakeClock


@pytest.fixture
async def lane(tmp_path: Path) -> AsyncIterator[Lane]:
    runtime = make_runtime(tmp_path)
    clock = FakeClock()
    fake = FakeForge("allegro", clock=clock)
    fake.add_repo(REPO)
    for house in HOUSES:
        fake.add_user(house)
    config = load_triage_config()
    for spec in config.labels(tuple(runtime.houses)):  # what DispatchLoop.ensure_labels makes
        fake.add_label(REPO, spec.name, spec.color, exclusive=spec.exclusive, description=spec.description)
    lease = LocalLease(clock=clock)
    await lease.acquire()
    dispatcher = Dispatcher(
        fake,
        login="allegro",
        store=runtime.store,
        config=config,
        houses=runtime.houses,
        lease=lease,
        host="test-host",
        events=EventLog(runtime.store, "test-host", clock=clock),
        metrics=DispatchMetrics.for_registry(runtime.metrics.registry),
        clock=clock,
        offload=Offload("thread"),
    )
    try:
        yield Lane(fake, dispatcher, clock)
    finally:
        runtime.close()


def claim(house: str, expires: str) -> str:
    return f"<!-- uni-wizard:claim house={house} expires={expires} -->\nClaimed by {house}."


def issue(*labels: str, assignees: tuple[str, ...] = (), state: str = "open") -> Callable[[FakeForge], Issue]:
    def seed(fake: FakeForge) -> Issue:
        return fake.add_issue(REPO, *CRASH, labels=labels, assignees=assignees, state=state, user="timmy")

    return seed


def claimed(expires: str) -> Callable[[FakeForge], Issue]:
    def seed(fake: FakeForge) -> Issue:
        fake.add_issue(REPO, *CRASH, labels=CLAIMED, assignees=("ezra",), user="timmy")
        fake.add_comment(REPO, 1, claim("ezra", expires), user="ezra")
        return fake.issue(REPO, 1)

    return seed


def pull_request(fake: FakeForge) -> Issue:
    fake.add_pull(REPO, "Fix the crash", head="ezra/issue-1", user="ezra")
    return fake.issue(REPO, 1)


TRIAGE = f"{REPO}#1:comment:{marker('triage', 1)}"
CASES: list[tuple[str, Callable[[FakeForge], Issue], list[str]]] = [
    (
        "a new crash: explained, labelled, assigned",
        issue(),
        [TRIAGE, f"{REPO}#1:labels:house/bezalel,kind/bug,priority/P1,status/routed", f"{REPO}#1:assignees:bezalel"],
    ),
    (
        "in status/triage with a label of a person's: it stays",
        issue("status/triage", "upstream"),
        [
            TRIAGE,
            f"{REPO}#1:labels:house/bezalel,kind/bug,priority/P1,status/routed,upstream",
            f"{REPO}#1:assignees:bezalel",
        ],
    ),
    ("routed and assigned already: nothing to write", issue(*ROUTED, assignees=("bezalel",)), []),
    ("routed without an assignee: assigned", issue(*ROUTED), [f"{REPO}#1:assignees:bezalel"]),
    (
        "closed while routed: marked done",
        issue(*ROUTED, assignees=("bezalel",), state="closed"),
        [f"{REPO}#1:labels:house/bezalel,kind/bug,priority/P1,status/done"],
    ),
    ("in progress under a live claim: left alone", claimed("2027-01-15T09:00:00Z"), []),
    (
        "in progress under an expired claim: requeued and explained",
        claimed("2027-01-15T07:00:00Z"),
        [
            f"{REPO}#1:comment:{marker('requeue-2027-01-15T07:00:00Z', 1)}",
            f"{REPO}#1:labels:house/ezra,kind/bug,priority/P1,status/routed",
        ],
    ),
    ("a pull request: not the dispatcher's", pull_request, []),
]


@pytest.mark.parametrize(("seed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_handle(lane: Lane, seed: Callable[[FakeForge], Issue], expected: list[str]) -> None:
    found = seed(lane.fake)
    await lane.dispatcher.handle(REPO, found)
    assert lane.fake.calls == expected


async def test_handling_the_result_again_writes_nothing(lane: Lane) -> None:
    await lane.dispatcher.handle(REPO, issue()(lane.fake))
    after = lane.fake.issue(REPO, 1)
    assert (after.label_names, [u.login for u in after.assignees]) == (
        ["house/bezalel", "kind/bug", "priority/P1", "status/routed"], ["bezalel"],
    )  # fmt: skip
    lane.fake.calls.clear()
    assert await lane.dispatcher.handle(REPO, after) == []
    assert lane.fake.calls == []
