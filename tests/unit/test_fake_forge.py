"""``FakeForge``'s surface: ``GiteaClient``'s signatures, every lane's forge Protocol, the ``calls`` lines,
seeding, identities and injected failures. (Its answers are checked against the devforge's by
tests/integration/test_fake_forge_conformance.py.)"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, Protocol

import pytest

import uni_wizard
from uni_wizard.errors import Forbidden, ForgeUnavailable, NotAllowed, ServerError, ToolCallError, Unauthorized
from uni_wizard.forge import GiteaClient
from uni_wizard.testing import FakeClock, FakeForge

REPO = "mesh/work"
# GiteaClient's operations the fake leaves out on purpose: accounts, tokens, organisations, repositories,
# collaborators and webhooks are the bootstrap's business (it runs against the devforge), not a lane's.
NOT_FAKED = {
    "add_collaborator", "create_hook", "create_org", "create_repo", "create_token", "create_user", "delete_hook",
    "list_collaborators",
    "list_branch_protections", "list_hooks",
}  # fmt: skip


def public_calls(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member))
    }


def test_every_method_has_the_clients_signature() -> None:
    client, fake = public_calls(GiteaClient), public_calls(FakeForge)
    shared = set(client) & set(fake)
    assert {name: inspect.signature(fake[name]) for name in shared} == {
        name: inspect.signature(client[name]) for name in shared
    }
    assert set(client) - set(fake) == NOT_FAKED
    assert set(fake) - set(client) == set()


def lane_protocols() -> list[type]:
    found = []
    for path in sorted(Path(uni_wizard.__file__).parent.glob("*/forge_api.py")):
        module = importlib.import_module(f"uni_wizard.{path.parent.name}.forge_api")
        found += [v for v in vars(module).values() if isinstance(v, type) and Protocol in v.__mro__[1:]]
    return found


@pytest.mark.parametrize("protocol", lane_protocols(), ids=lambda p: p.__name__)
def test_the_fake_offers_what_each_lane_asks_of_the_forge(protocol: type) -> None:
    members = {
        n for cls in protocol.__mro__ if cls not in (Protocol, object) for n in vars(cls) if not n.startswith("_")
    }
    for name in sorted(members):
        wanted, offered = getattr(protocol, name), getattr(FakeForge, name, None)
        assert offered is not None, f"FakeForge has no {name} ({protocol.__name__} asks for it)"
        if callable(wanted):
            assert list(inspect.signature(offered).parameters) == list(inspect.signature(wanted).parameters), name


async def test_calls_name_every_accepted_write() -> None:
    fake = FakeForge("author")
    fake.add_repo(REPO)
    fake.add_user("reviewer")
    fake.add_label(REPO, "kind/bug")
    assert fake.calls == []  # seeding is the test's world, not the code under test
    await fake.ensure_label("mesh", "work", "status/routed", "#c5def5", exclusive=True)
    bug = await fake.create_issue("mesh", "work", "Crash on start", "steps\nmore")
    await fake.add_labels("mesh", "work", bug.number, ["kind/bug", "unknown"])
    await fake.replace_labels("mesh", "work", bug.number, ["status/routed", "kind/bug"])
    comment = await fake.create_comment("mesh", "work", bug.number, "\non it\nwith details")
    await fake.edit_comment("mesh", "work", comment.id, "done")
    await fake.edit_issue("mesh", "work", bug.number, state="closed", assignees=["author"])
    change = await fake.create_file("mesh", "work", "fix.txt", b"fix\n", "fix it", new_branch="fix")
    pull = await fake.create_pull("mesh", "work", head="fix", base="main", title="Fix the crash")
    await fake.create_status("mesh", "work", pull.head_sha, "success", "uni-wizard/proof")
    await fake.as_user("reviewer").create_review("mesh", "work", pull.number, "APPROVED", commit_id=pull.head_sha)
    await fake.merge_pull("mesh", "work", pull.number, head_commit_id=pull.head_sha, style="squash")
    sha = change.commit_sha[:12]
    assert fake.calls == [
        "mesh/work:create-label:status/routed",
        "mesh/work#1:create:Crash on start",
        "mesh/work#1:+label:kind/bug",
        "mesh/work#1:labels:kind/bug,status/routed",
        "mesh/work#1:comment:on it",
        "mesh/work#1:edit-comment:done",
        "mesh/work#1:assignees:author",
        "mesh/work#1:close",
        "mesh/work@fix:create-file:fix.txt",
        "mesh/work!2:create:Fix the crash",
        f"mesh/work@{sha}:status:uni-wizard/proof=success",
        f"mesh/work!2:review:APPROVED:{sha}",
        f"mesh/work!2:merge:{sha}:squash",
    ]
    fake.calls.clear()
    with pytest.raises(NotAllowed):
        await fake.merge_pull("mesh", "work", pull.number, head_commit_id=pull.head_sha)
    assert fake.calls == []  # refused: nothing happened, nothing recorded


async def test_identities_share_one_forge() -> None:
    clock = FakeClock()
    fake = FakeForge("allegro", token="t-allegro", clock=clock)
    fake.add_user("ezra", token="t-ezra")
    fake.add_repo(REPO)
    ezra = fake.with_token("t-ezra")
    assert (await ezra.me()).login == "ezra" and (await fake.me()).login == "allegro"
    issue = await ezra.create_issue("mesh", "work", "From ezra")
    assert fake.issue(REPO, issue.number).user is not None and fake.issue(REPO, issue.number).user.login == "ezra"
    assert fake.calls == ["mesh/work#1:create:From ezra"]  # one forge, one record
    assert fake.issue(REPO, 1).created_at is not None and fake.issue(REPO, 1).created_at.timestamp() == clock.now
    with pytest.raises(Unauthorized):
        await fake.with_token("stolen").me()
    with pytest.raises(Forbidden):  # a writer is not a repository admin
        await ezra.create_branch_protection("mesh", "work", "main", required_approvals=1)


async def test_injected_failures_come_first_then_the_forge_answers() -> None:
    fake = FakeForge()
    fake.add_repo(REPO)
    fake.fail("create_comment", ForgeUnavailable("the forge went away"), times=2)
    fake.fail("update_file", ServerError("lost race", status=500))
    issue = fake.add_issue(REPO, "Crash")
    for _ in range(2):
        with pytest.raises(ForgeUnavailable):
            await fake.create_comment("mesh", "work", issue.number, "hello")
    await fake.create_comment("mesh", "work", issue.number, "hello")
    assert fake.calls == ["mesh/work#1:comment:hello"]
    with pytest.raises(ToolCallError):
        fake.fail("no_such_call", ServerError("x"))


async def test_a_held_pull_request_and_a_push_that_makes_approvals_stale() -> None:
    fake = FakeForge("author")
    fake.add_repo(REPO)
    fake.protect(REPO, required_approvals=1, dismiss_stale_approvals=True)
    pull = fake.add_pull(REPO, "A change", head="feat")
    await fake.as_user("reviewer").create_review("mesh", "work", pull.number, "APPROVED")
    fake.hold(REPO, pull.number)
    assert not fake.pull(REPO, pull.number).mergeable
    with pytest.raises(NotAllowed, match="Please try again later"):
        await fake.merge_pull("mesh", "work", pull.number, head_commit_id=pull.head_sha)
    fake.hold(REPO, pull.number, held=False)
    head = fake.push(REPO, "feat", {"feat.txt": "changed\n"})
    assert fake.pull(REPO, pull.number).head_sha == head == fake.branch(REPO, "feat")
    [review] = fake.reviews(REPO, pull.number)
    assert (review.stale, review.dismissed) == (True, True)
    with pytest.raises(NotAllowed, match="Does not have enough approvals"):
        await fake.merge_pull("mesh", "work", pull.number, head_commit_id=head)
    assert fake.file(REPO, "feat.txt", ref="feat") == b"changed\n" and fake.file(REPO, "feat.txt") is None
