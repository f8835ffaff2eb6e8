"""``FakeForge`` behaves like the forge: the same scenarios against the devforge (through the real
``GiteaClient`` over loopback) and against the fake, with the same expected results and errors.

The fixture ``forge`` is either, for a fresh repository ``mesh/<name>`` (a README on ``main``; ``author`` and
``reviewer`` write to it, ``root`` administers it). Each test states what the forge must answer once; it runs
twice. An expectation that holds for one side only is a bug in the fake (or a test that reads more than the
fake promises: see ``uni_wizard.testing.fake_forge`` for what it does not copy).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest_devforge import START, ManualClock
from prometheus_client import CollectorRegistry

from uni_wizard.devforge import DevforgeServer
from uni_wizard.dispatch.lease_file import blob_sha
from uni_wizard.errors import (
    Conflict,
    FileExists,
    Forbidden,
    ForgeError,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    ServerError,
    ShaMismatch,
    Unprocessable,
)
from uni_wizard.forge import GiteaClient
from uni_wizard.testing import FakeClock, FakeForge

ADMIN = ("root", "conformance-root-pw")
ORG = "mesh"
PEOPLE = ("author", "reviewer")  # created in this order on both sides: the same user ids

Client = GiteaClient | FakeForge


@dataclass
class Devforge:
    server: DevforgeServer
    clock: ManualClock
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def devforge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devforge]:
    clock = ManualClock()
    server = DevforgeServer(Path(tmp_path_factory.mktemp("conformance")), ADMIN, clock=clock).start()
    tokens: dict[str, str] = {}
    try:
        with httpx.Client(base_url=server.api, auth=ADMIN, timeout=30) as root:
            for login in PEOPLE:
                user = {"username": login, "email": f"{login}@mesh.invalid", "password": f"{login}-pw-123",
                        "must_change_password": False}  # fmt: skip
                assert root.post("/admin/users", json=user).status_code == 201
            assert root.post("/orgs", json={"username": ORG}).status_code == 201
        for login in PEOPLE:
            scopes = ["write:repository", "write:issue", "read:user"]
            r = httpx.post(f"{server.api}/users/{login}/tokens", auth=(login, f"{login}-pw-123"),
                           json={"name": "conformance", "scopes": scopes})  # fmt: skip
            assert r.status_code == 201, r.text
            tokens[login] = r.json()["sha1"]
        yield Devforge(server, clock, tokens)
    finally:
        server.stop()


@dataclass
class Side:
    """One forge, one fresh repository, three accounts."""

    kind: str
    name: str  # the repository, in ORG
    author: Client
    reviewer: Client
    admin: Client
    advance: Callable[[float], object]  # moves the forge's clock
    hold: Callable[[Callable[[], Awaitable[int]]], Awaitable[int]]  # opens a PR that reads "not mergeable yet"
    release: Callable[[int], object]  # ... until this (the conflict check is done)


@pytest.fixture(params=["devforge", "fake"])
async def forge(request: pytest.FixtureRequest) -> AsyncIterator[Side]:
    name = f"c-{uuid.uuid4().hex[:8]}"
    if request.param == "fake":
        clock = FakeClock(START)
        fake = FakeForge(ADMIN[0], clock=clock)
        for login in PEOPLE:
            fake.add_user(login)
        fake.add_repo(f"{ORG}/{name}", admins=[ADMIN[0]])

        async def fake_hold(open_it: Callable[[], Awaitable[int]]) -> int:
            number = await open_it()
            fake.hold(f"{ORG}/{name}", number)
            return number

        def fake_release(number: int) -> None:
            fake.hold(f"{ORG}/{name}", number, held=False)

        author, reviewer = fake.as_user("author"), fake.as_user("reviewer")
        yield Side("fake", name, author, reviewer, fake, clock.advance, fake_hold, fake_release)
        return
    world: Devforge = request.getfixturevalue("devforge")
    url = world.server.url

    def client(**auth: Any) -> GiteaClient:
        return GiteaClient(url, registry=CollectorRegistry(), retries=0, **auth)

    admin = client(username=ADMIN[0], password=ADMIN[1])
    author, reviewer = client(token=world.tokens["author"]), client(token=world.tokens["reviewer"])
    try:
        await admin.create_repo(name, org=ORG, auto_init=True, default_branch="main")
        for login in PEOPLE:
            await admin.add_collaborator(ORG, name, login, "write")
        yield Side("devforge", name, author, reviewer, admin, world.clock.advance, *_delays(world))
    finally:
        for made in (admin, author, reviewer):
            await made.aclose()


def _delays(
    world: Devforge,
) -> tuple[Callable[[Callable[[], Awaitable[int]]], Awaitable[int]], Callable[[int], object]]:
    """The devforge's way to hold a PR: its background conflict check (``Faults.mergeable_delay``) still runs."""

    async def hold(open_it: Callable[[], Awaitable[int]]) -> int:
        world.server.forge.faults.mergeable_delay = 30.0
        try:
            return await open_it()
        finally:
            world.server.forge.faults.mergeable_delay = 0.0

    return hold, lambda _number: world.clock.advance(31.0)


async def refused(call: Any) -> tuple[type[ForgeError], int, str]:
    """The error ``call`` (an awaitable) raises: its class, status and Gitea's message."""
    with pytest.raises(ForgeError) as caught:
        await call
    return type(caught.value), caught.value.status, caught.value.message


async def open_pull(forge: Side, branch: str = "feat", body: str = "") -> tuple[int, str]:
    """A PR by the author from ``branch`` (one new file) into main: its number and head sha."""
    await forge.author.create_file(ORG, forge.name, f"{branch}.txt", b"one\n", "a change", new_branch=branch)
    pull = await forge.author.create_pull(ORG, forge.name, head=branch, base="main", title="A change", body=body)
    return pull.number, pull.head_sha


async def push(forge: Side, branch: str, data: bytes) -> str:
    """A second commit on ``branch`` (its file changed): the new head."""
    current = await forge.author.get_contents(ORG, forge.name, f"{branch}.txt", ref=branch)
    change = await forge.author.update_file(ORG, forge.name, f"{branch}.txt", data, current.sha, "more",
                                            branch=branch)  # fmt: skip
    return change.commit_sha


# -- identity and repository --------------------------------------------------------------------------


async def test_me_and_the_repository_record(forge: Side) -> None:
    assert (await forge.author.me()).login == "author"
    repo = await forge.author.get_repo(ORG, forge.name)
    assert (repo.full_name, repo.owner, repo.default_branch, repo.empty) == (f"{ORG}/{forge.name}", ORG, "main", False)
    assert repo.clone_url.endswith(f"/{ORG}/{forge.name}.git") and repo.permissions.push
    assert await refused(forge.author.get_repo(ORG, "no-such-repo")) == (NotFound, 404, "not found")
    assert (await forge.author.get_user("reviewer")).login == "reviewer"


# -- labels ---------------------------------------------------------------------------------------------


async def test_exclusive_labels_replace_the_others_of_their_scope(forge: Side) -> None:
    a = forge.author
    triage = await a.ensure_label(ORG, forge.name, "status/triage", "#ededed", exclusive=True)
    await a.ensure_label(ORG, forge.name, "status/routed", "#c5def5", exclusive=True)
    await a.ensure_label(ORG, forge.name, "kind/bug", "#EE0701")
    again = await a.ensure_label(ORG, forge.name, "status/triage", "#ededed", exclusive=True)
    assert again.id == triage.id and again.color == "ededed"
    recoloured = await a.ensure_label(ORG, forge.name, "kind/bug", "#E11", description="broken")
    assert (recoloured.color, recoloured.description) == ("ee1111", "broken")
    await a.ensure_label(ORG, forge.name, "kind/bug", "#EE0701")
    labels = await a.list_labels(ORG, forge.name)
    assert [(x.name, x.color, x.exclusive) for x in labels] == [
        ("kind/bug", "ee0701", False), ("status/routed", "c5def5", True), ("status/triage", "ededed", True),
    ]  # fmt: skip
    issue = await a.create_issue(ORG, forge.name, "Crash on start", "steps", labels=[triage.id])

    def names(labels: list[Any]) -> list[str]:
        return [label.name for label in labels]

    assert names(await a.add_labels(ORG, forge.name, issue.number, ["kind/bug", "no-such-label"])) == [
        "kind/bug", "status/triage",
    ]  # fmt: skip
    assert names(await a.add_labels(ORG, forge.name, issue.number, ["status/routed"])) == ["kind/bug", "status/routed"]
    replaced = await a.replace_labels(ORG, forge.name, issue.number, ["status/triage", "status/routed"])
    assert names(replaced) == ["status/routed"]  # two of one scope: the last one stays
    await a.remove_label(ORG, forge.name, issue.number, replaced[0].id)
    assert (await a.get_issue(ORG, forge.name, issue.number)).label_names == []
    assert await refused(a.remove_label(ORG, forge.name, issue.number, 987654)) == (
        Unprocessable, 422, "label does not exist [label_id: 987654]",
    )  # fmt: skip
    assert await refused(a.create_label(ORG, forge.name, "bad", "#zzz")) == (
        Unprocessable, 422, "invalid color: zzzzzz",
    )  # fmt: skip


# -- issues and comments --------------------------------------------------------------------------------


async def test_comments_are_created_edited_and_bump_the_issue(forge: Side) -> None:
    a = forge.author
    issue = await a.create_issue(ORG, forge.name, "Crash on start")
    forge.advance(5)
    first = await a.create_comment(ORG, forge.name, issue.number, "on it\nsecond line")
    bumped = await a.get_issue(ORG, forge.name, issue.number)
    assert issue.updated_at is not None and bumped.updated_at == issue.updated_at + timedelta(seconds=5)
    await forge.reviewer.create_comment(ORG, forge.name, issue.number, "thanks")
    edited = await a.edit_comment(ORG, forge.name, first.id, "on it (edited)")
    assert (edited.id, edited.body) == (first.id, "on it (edited)")
    comments = await a.list_comments(ORG, forge.name, issue.number)
    assert [(c.body, c.user.login if c.user else None) for c in comments] == [
        ("on it (edited)", "author"), ("thanks", "reviewer"),
    ]  # fmt: skip
    assert (await a.get_issue(ORG, forge.name, issue.number)).comments == 2
    assert await refused(a.create_comment(ORG, forge.name, issue.number, "")) == (
        Unprocessable,
        422,
        "[Body]: Required",
    )
    assert await refused(a.edit_comment(ORG, forge.name, 987654, "x")) == (NotFound, 404, "not found")
    assert (await refused(a.list_comments(ORG, forge.name, 999)))[:2] == (ServerError, 500)  # as Gitea: unchecked


async def test_issue_edits_and_their_refusals(forge: Side) -> None:
    a = forge.author
    issue = await a.create_issue(ORG, forge.name, "Crash", "body", assignees=["reviewer"])
    assert [u.login for u in issue.assignees] == ["reviewer"]
    closed = await a.edit_issue(ORG, forge.name, issue.number, state="closed", assignees=["author", "reviewer"])
    assert (closed.state, [u.login for u in closed.assignees], closed.closed_at is not None) == (
        "closed", ["author", "reviewer"], True,
    )  # fmt: skip
    reopened = await a.edit_issue(ORG, forge.name, issue.number, state="open", title="Crash (confirmed)")
    assert (reopened.state, reopened.title, reopened.closed_at) == ("open", "Crash (confirmed)", None)
    assert await refused(a.edit_issue(ORG, forge.name, issue.number, state="bogus")) == (  # type: ignore[arg-type]
        PreconditionFailed, 412, "unknown state: bogus",
    )  # fmt: skip
    assert await refused(a.edit_issue(ORG, forge.name, issue.number, assignees=["nobody"])) == (
        Unprocessable, 422, "Assignee does not exist: [name: nobody]",
    )  # fmt: skip
    assert await refused(a.create_issue(ORG, forge.name, "")) == (Unprocessable, 422, "[Title]: Required")
    assert await refused(a.get_issue(ORG, forge.name, 999)) == (NotFound, 404, "not found")
    number, _ = await open_pull(forge)
    assert (await a.get_issue(ORG, forge.name, number)).is_pull
    assert await refused(a.get_pull(ORG, forge.name, issue.number)) == (NotFound, 404, "not found")


async def test_list_filters_pagination_and_limits(forge: Side) -> None:
    a = forge.author
    bug = await a.ensure_label(ORG, forge.name, "kind/bug", "#ee0701")
    await a.ensure_label(ORG, forge.name, "priority/P1", "#d93f0b")
    for n in range(1, 56):  # more than one page of 50
        labels = [bug.id] if n % 10 == 0 else []
        await a.create_issue(ORG, forge.name, f"issue {n}", labels=labels)
    everything = await a.list_issues(ORG, forge.name, state="all")
    assert [i.number for i in everything] == list(range(55, 0, -1))
    assert [i.number for i in await a.list_issues(ORG, forge.name, limit=3)] == [55, 54, 53]
    assert len(await a.list_issues(ORG, forge.name, limit=51)) == 51
    assert await a.list_issues(ORG, forge.name, limit=0) == []
    assert [i.number for i in await a.list_issues(ORG, forge.name, labels=["kind/bug"])] == [50, 40, 30, 20, 10]
    assert await a.list_issues(ORG, forge.name, labels=["kind/bug", "priority/P1"]) == []  # AND
    assert len(await a.list_issues(ORG, forge.name, labels=["no-such-label"])) == 55  # all unknown: no filter
    await a.add_labels(ORG, forge.name, 7, ["kind/bug"])
    await a.edit_issue(ORG, forge.name, 3, state="closed")
    forge.advance(60)
    touched = await a.create_comment(ORG, forge.name, 12, "touch")
    assert touched.updated_at is not None
    since = await a.list_issues(ORG, forge.name, state="all", since=touched.updated_at)  # inclusive
    assert [i.number for i in since] == [12]
    assert [i.number for i in await a.list_issues(ORG, forge.name, state="closed")] == [3]
    assert await refused(a.list_issues(ORG, forge.name, created_by="nobody")) == (
        NotFound, 404, "user does not exist [uid: 0, name: nobody]",
    )  # fmt: skip
    for branch in ("one", "two", "three"):
        await open_pull(forge, branch)
    assert [i.number for i in await a.list_issues(ORG, forge.name, type="pulls")] == [58, 57, 56]
    assert [p.number for p in await a.list_pulls(ORG, forge.name, limit=2)] == [58, 57]
    assert [p.number for p in await a.list_pulls(ORG, forge.name, sort="oldest")] == [56, 57, 58]
    assert [i.number async for i in a.iter_issues(ORG, forge.name, type="issues", limit=2)] == [55, 54]


# -- merging ----------------------------------------------------------------------------------------


async def test_a_merge_needs_an_approval_on_the_head(forge: Side) -> None:
    await forge.admin.create_branch_protection(ORG, forge.name, "main", required_approvals=1,
                                               dismiss_stale_approvals=True)  # fmt: skip
    issue = await forge.author.create_issue(ORG, forge.name, "Crash")
    number, first = await open_pull(forge, body=f"Closes #{issue.number}")
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=first)) == (
        NotAllowed, 405, "Does not have enough approvals",
    )  # fmt: skip
    assert await refused(forge.author.create_review(ORG, forge.name, number, "APPROVED")) == (
        Unprocessable, 422, "approve your own pull is not allowed",
    )  # fmt: skip
    approval = await forge.reviewer.create_review(ORG, forge.name, number, "APPROVED", "ok", commit_id=first)
    assert (approval.state, approval.commit_id, approval.official, approval.stale) == ("APPROVED", first, True, False)
    second = await push(forge, "feat", b"two\n")
    assert (await forge.author.get_pull(ORG, forge.name, number)).head_sha == second
    [old] = await forge.author.list_reviews(ORG, forge.name, number)
    assert (old.stale, old.dismissed) == (True, True)  # the rule dismisses approvals of an older head
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=second)) == (
        NotAllowed, 405, "Does not have enough approvals",
    )  # fmt: skip
    await forge.reviewer.create_review(ORG, forge.name, number, "APPROVED", "ok again", commit_id=second)
    assert (await forge.author.get_pull(ORG, forge.name, number)).mergeable
    await forge.author.merge_pull(ORG, forge.name, number, head_commit_id=second)
    merged = await forge.author.get_pull(ORG, forge.name, number)
    assert (merged.merged, merged.state, merged.mergeable) == (True, "closed", False) and merged.merge_commit_sha
    assert await forge.author.is_merged(ORG, forge.name, number)
    assert (await forge.author.get_issue(ORG, forge.name, issue.number)).state == "closed"  # "Closes #1"
    assert await forge.author.get_contents(ORG, forge.name, "feat.txt") is not None
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=second)) == (
        NotAllowed, 405, "The PR is already merged",
    )  # fmt: skip


async def test_a_merge_with_a_stale_head_commit_id_is_refused(forge: Side) -> None:
    number, first = await open_pull(forge)
    second = await push(forge, "feat", b"two\n")
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=first)) == (
        Conflict, 409, "head out of date",
    )  # fmt: skip
    pull = await forge.author.get_pull(ORG, forge.name, number)
    assert (pull.merged, pull.state, pull.head_sha) == (False, "open", second)
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=second, style="rebase")) == (
        NotAllowed, 405, "rebase is not allowed an allowed merge style for this repository",
    )  # fmt: skip
    await forge.author.merge_pull(ORG, forge.name, number, head_commit_id=second, style="squash")
    assert await forge.author.is_merged(ORG, forge.name, number)


async def test_required_status_checks_gate_the_merge(forge: Side) -> None:
    await forge.admin.create_branch_protection(ORG, forge.name, "main", enable_status_check=True,
                                               status_check_contexts=["uni-wizard/proof"])  # fmt: skip
    number, head = await open_pull(forge)
    assert (await forge.author.combined_status(ORG, forge.name, head)).state == "pending"
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=head)) == (
        NotAllowed, 405, "Not all required status checks successful",
    )  # fmt: skip
    await forge.author.create_status(ORG, forge.name, head, "failure", "uni-wizard/proof", description="1 failed")
    await forge.author.create_status(ORG, forge.name, head, "success", "other/check")
    combined = await forge.author.combined_status(ORG, forge.name, head)
    assert (combined.state, combined.sha, [(s.context, s.status) for s in combined.statuses]) == (
        "failure", head, [("other/check", "success"), ("uni-wizard/proof", "failure")],
    )  # fmt: skip
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=head)) == (
        NotAllowed, 405, "Not all required status checks successful",
    )  # fmt: skip
    status = await forge.author.create_status(ORG, forge.name, head[:10], "success", "uni-wizard/proof")
    assert (status.status, status.context) == ("success", "uni-wizard/proof")
    assert [s.status for s in await forge.author.list_statuses(ORG, forge.name, head)] == [
        "success", "success", "failure",
    ]  # fmt: skip
    assert (await forge.author.combined_status(ORG, forge.name, "feat")).state == "success"
    await forge.author.merge_pull(ORG, forge.name, number, head_commit_id=head)
    assert (await refused(forge.author.create_status(ORG, forge.name, "f" * 40, "success", "x")))[:2] == (
        ServerError, 500,
    )  # fmt: skip


async def test_reviews_their_rules_and_dismissal(forge: Side) -> None:
    number, head = await open_pull(forge)
    assert await refused(forge.reviewer.create_review(ORG, forge.name, number, "REQUEST_CHANGES")) == (
        Unprocessable, 422, "review event REQUEST_CHANGES requires a body",
    )  # fmt: skip
    rejected = await forge.reviewer.create_review(ORG, forge.name, number, "REQUEST_CHANGES", "add a test")
    assert await refused(forge.author.dismiss_review(ORG, forge.name, number, rejected.id, "no")) == (
        Forbidden, 403, "Must be repo admin",
    )  # fmt: skip
    dismissed = await forge.admin.dismiss_review(ORG, forge.name, number, rejected.id, "superseded")
    assert (dismissed.state, dismissed.dismissed) == ("REQUEST_CHANGES", True)
    comment = await forge.reviewer.create_review(ORG, forge.name, number, "COMMENT", "looks fine")
    assert (comment.state, comment.official, comment.commit_id) == ("COMMENT", False, head)
    reviews = await forge.author.list_reviews(ORG, forge.name, number)
    assert [(r.state, r.dismissed, r.user.login if r.user else None) for r in reviews] == [
        ("REQUEST_CHANGES", True, "reviewer"), ("COMMENT", False, "reviewer"),
    ]  # fmt: skip
    assert await refused(forge.admin.dismiss_review(ORG, forge.name, number, comment.id, "no")) == (
        Unprocessable, 422, "not need to dismiss this review because it's type is not Approve or change request",
    )  # fmt: skip


async def test_pull_requests_refused_as_gitea_refuses_them(forge: Side) -> None:
    number, _ = await open_pull(forge)
    pull_id = (await forge.author.get_pull(ORG, forge.name, number)).id
    repo_id = (await forge.author.get_repo(ORG, forge.name)).id
    assert await refused(forge.author.create_pull(ORG, forge.name, head="feat", base="main", title="Again")) == (
        Conflict, 409, f"pull request already exists for these targets [id: {pull_id}, issue_id: {number}, "
        f"head_repo_id: {repo_id}, base_repo_id: {repo_id}, head_branch: feat, base_branch: main]",
    )  # fmt: skip
    assert await refused(forge.author.create_pull(ORG, forge.name, head="nope", base="main", title="x")) == (
        Unprocessable, 422, "branch does not exist [name: nope]",
    )  # fmt: skip
    assert await refused(forge.author.create_pull(ORG, forge.name, head="main", base="main", title="x")) == (
        Unprocessable, 422, "There are no changes between the head and the base",
    )  # fmt: skip
    await forge.author.edit_issue(ORG, forge.name, number, title="WIP: A change")
    head = (await forge.author.get_pull(ORG, forge.name, number)).head_sha
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=head)) == (
        NotAllowed, 405, "Work in progress PRs cannot be merged",
    )  # fmt: skip


async def test_a_held_pull_request_is_not_mergeable_yet(forge: Side) -> None:
    async def open_it() -> int:
        return (await open_pull(forge))[0]

    number = await forge.hold(open_it)
    pull = await forge.author.get_pull(ORG, forge.name, number)
    assert not pull.mergeable
    assert await refused(forge.author.merge_pull(ORG, forge.name, number, head_commit_id=pull.head_sha)) == (
        NotAllowed, 405, "Please try again later",
    )  # fmt: skip
    forge.release(number)
    assert (await forge.author.get_pull(ORG, forge.name, number)).mergeable
    await forge.author.merge_pull(ORG, forge.name, number, head_commit_id=pull.head_sha)


# -- assignees and branches ---------------------------------------------------------------------------


async def test_assignees_and_branches(forge: Side) -> None:
    a = forge.author
    issue = await a.create_issue(ORG, forge.name, "Crash")
    added = await a.add_assignees(ORG, forge.name, issue.number, ["reviewer", "author"])
    assert [u.login for u in added.assignees] == ["author", "reviewer"]
    removed = await a.remove_assignees(ORG, forge.name, issue.number, ["reviewer"])
    assert [u.login for u in removed.assignees] == ["author"]
    assert [i.number for i in await a.list_issues(ORG, forge.name, assigned_by="author")] == [issue.number]
    assert await refused(a.add_assignees(ORG, forge.name, issue.number, ["nobody"])) == (
        Unprocessable, 422, "Assignee does not exist: [name: nobody]",
    )  # fmt: skip
    main = await a.get_branch(ORG, forge.name, "main")
    made = await a.create_branch(ORG, forge.name, "topic", "main")
    assert made.commit_id == main.commit_id
    assert [b.name for b in await a.list_branches(ORG, forge.name)] == ["main", "topic"]
    assert await refused(a.create_branch(ORG, forge.name, "topic", "main")) == (
        Conflict, 409, "The branch with the same name already exists.",
    )  # fmt: skip
    assert await refused(a.delete_branch(ORG, forge.name, "main")) == (
        Forbidden, 403, "can not delete default or pull request target branch",
    )  # fmt: skip
    await a.delete_branch(ORG, forge.name, "topic")
    assert await refused(a.get_branch(ORG, forge.name, "topic")) == (NotFound, 404, "not found")


# -- contents: the lease primitive ------------------------------------------------------------------------


async def test_contents_writes_are_compare_and_swap_on_the_blob_sha(forge: Side) -> None:
    a = forge.author
    created = await a.create_file(ORG, forge.name, "lease.json", b'{"epoch": 1}', "lease", new_branch="mesh-state")
    assert (created.path, created.sha) == ("lease.json", blob_sha(b'{"epoch": 1}'))
    read = await a.get_contents(ORG, forge.name, "lease.json", ref="mesh-state")
    assert (read.path, read.sha, read.content, read.type, read.last_commit_sha) == (
        "lease.json", created.sha, b'{"epoch": 1}', "file", created.commit_sha,
    )  # fmt: skip
    assert await refused(a.create_file(ORG, forge.name, "lease.json", b"x", "again", branch="mesh-state")) == (
        FileExists, 422, "repository file already exists [path: lease.json]",
    )  # fmt: skip
    stale = "0" * 40
    assert await refused(
        a.update_file(ORG, forge.name, "lease.json", b'{"epoch": 2}', stale, "renew", branch="mesh-state")
    ) == (ShaMismatch, 422, f"sha does not match [given: {stale}, expected: {created.sha}]")
    renewed = await a.update_file(ORG, forge.name, "lease.json", b'{"epoch": 2}', created.sha, "renew",
                                  branch="mesh-state")  # fmt: skip
    assert renewed.sha == blob_sha(b'{"epoch": 2}') and renewed.commit_sha != created.commit_sha
    assert await refused(
        a.update_file(ORG, forge.name, "lease.json", b"x", created.sha, "late", branch="mesh-state")
    ) == (ShaMismatch, 422, f"sha does not match [given: {created.sha}, expected: {renewed.sha}]")
    assert await refused(a.get_contents(ORG, forge.name, "lease.json")) == (
        NotFound,
        404,
        "object does not exist [id: , rel_path: lease.json]",
    )  # fmt: skip (not on main)
    assert await refused(a.create_file(ORG, forge.name, "x.json", b"x", "m", branch="no-such-branch")) == (
        NotFound, 404, f"branch does not exist [repo_id: {(await a.get_repo(ORG, forge.name)).id} name: no-such-branch]",
    )  # fmt: skip
    assert await refused(a.update_file(ORG, forge.name, "gone.json", b"x", stale, "m", branch="mesh-state")) == (
        NotFound, 404, "object does not exist [id: , rel_path: gone.json]",
    )  # fmt: skip
    deleted = await a.delete_file(ORG, forge.name, "lease.json", renewed.sha, "drop", branch="mesh-state")
    assert deleted.sha is None and deleted.commit_sha
    assert await refused(a.get_contents(ORG, forge.name, "lease.json", ref="mesh-state")) == (
        NotFound, 404, "object does not exist [id: , rel_path: lease.json]",
    )  # fmt: skip
