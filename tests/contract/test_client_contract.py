"""Contract: every devforge response the client consumes validates against Gitea's own OpenAPI document.

One scenario drives every public operation of ``GiteaClient`` against a real devforge over loopback,
through ``RecordingTransport``s that keep each response. Then:

- every recorded JSON response validates against the schema Gitea documents for its status;
- every public operation of the client was exercised (a new method without a contract test fails
  ``test_every_client_operation_has_a_contract_test``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gitea_openapi import operation_id, validate
from prometheus_client import CollectorRegistry

from uni_wizard.devforge import DevforgeServer
from uni_wizard.errors import NotFound
from uni_wizard.forge import GiteaClient
from uni_wizard.testing import Exchange, RecordingTransport

ADMIN = ("root", "contract-root-pw")
NOT_OPERATIONS = {"aclose", "supports"}  # helpers, not forge operations


@dataclass
class Calls:
    """Wraps clients so the scenario records which public operations it exercised."""

    names: set[str] = field(default_factory=set)

    def wrap(self, client: GiteaClient) -> Any:
        calls = self

        class Proxy:
            def __getattr__(self, name: str) -> Any:
                attr = getattr(client, name)
                if not name.startswith("_") and inspect.iscoroutinefunction(attr):

                    async def call(*args: Any, **kwargs: Any) -> Any:
                        calls.names.add(name)
                        return await attr(*args, **kwargs)

                    return call
                return attr

        return Proxy()


@dataclass
class Scenario:
    log: list[Exchange]  # every response, kept by each client's RecordingTransport
    calls: Calls


async def run_scenario(url: str, log: list[Exchange], calls: Calls) -> None:
    def client(**auth: Any) -> GiteaClient:
        line = RecordingTransport(log=log, keep_bodies=True)
        return GiteaClient(url, transport=line, registry=CollectorRegistry(), **auth)

    async with client(username=ADMIN[0], password=ADMIN[1]) as raw_admin:
        admin = calls.wrap(raw_admin)
        await admin.version()
        await admin.me()
        for name in ("author", "reviewer"):
            await admin.create_user(name, f"{name}@mesh.invalid", f"{name}-password-1")
        await admin.get_user("author")
        await admin.create_org("mesh")
        repo = await admin.create_repo("work", org="mesh", auto_init=True, default_branch="main")
        await admin.get_repo("mesh", "work")
        await admin.add_collaborator("mesh", "work", "author", "write")
        await admin.add_collaborator("mesh", "work", "reviewer", "write")
        assert {u.login for u in await admin.list_collaborators("mesh", "work")} == {"author", "reviewer"}
        await admin.create_branch_protection("mesh", "work", "main", required_approvals=1)
        await admin.list_branch_protections("mesh", "work")
        hook = await admin.create_hook("mesh", "work", "http://127.0.0.1:9/hooks/gitea", "s3cret")
        await admin.list_hooks("mesh", "work")
        await admin.delete_hook("mesh", "work", hook.id)
        assert repo.default_branch == "main"

    tokens = {}
    for name in ("author", "reviewer"):
        async with client(username=name, password=f"{name}-password-1") as basic:
            tokens[name] = (await calls.wrap(basic).create_token(name, "contract")).sha1

    async with client(token=tokens["author"]) as raw_author, client(token=tokens["reviewer"]) as raw_reviewer:
        author, reviewer = calls.wrap(raw_author), calls.wrap(raw_reviewer)
        bug = await author.create_label("mesh", "work", "kind/bug", "#ee0701")
        await author.create_label("mesh", "work", "status/triage", "ededed", exclusive=True)
        await author.edit_label("mesh", "work", bug.id, description="something is broken")
        await author.ensure_label("mesh", "work", "status/routed", "#c5def5", exclusive=True)
        await author.list_labels("mesh", "work")
        issue = await author.create_issue("mesh", "work", "Crash on start", "steps...", labels=[bug.id])
        await author.get_issue("mesh", "work", issue.number)
        await author.list_issues("mesh", "work", state="all", labels=["kind/bug"])
        await author.edit_issue("mesh", "work", issue.number, title="Crash on start (confirmed)")
        await author.add_labels("mesh", "work", issue.number, ["status/triage"])
        await author.replace_labels("mesh", "work", issue.number, ["status/routed", "kind/bug"])
        await author.remove_label("mesh", "work", issue.number, bug.id)
        await author.clear_labels("mesh", "work", issue.number)
        await author.add_assignees("mesh", "work", issue.number, ["author"])
        await author.remove_assignees("mesh", "work", issue.number, ["author"])
        comment = await author.create_comment("mesh", "work", issue.number, "on it")
        await author.edit_comment("mesh", "work", comment.id, "on it (edited)")
        await author.list_comments("mesh", "work", issue.number)

        main = await author.get_branch("mesh", "work", "main")
        await author.create_branch("mesh", "work", "author/issue-1", "main")
        await author.list_branches("mesh", "work")
        created = await author.create_file("mesh", "work", "fix.txt", b"v1\n", "Add fix (#1)", branch="author/issue-1")
        current = await author.get_contents("mesh", "work", "fix.txt", ref="author/issue-1")
        assert current.sha == created.sha
        updated = await author.update_file(
            "mesh", "work", "fix.txt", b"v2\n", current.sha, "Improve fix (#1)", branch="author/issue-1"
        )
        scratch = await author.create_file("mesh", "work", "scratch.txt", b"x", "scratch", branch="author/issue-1")
        await author.delete_file("mesh", "work", "scratch.txt", scratch.sha, "drop scratch", branch="author/issue-1")
        pull = await author.create_pull(
            "mesh", "work", head="author/issue-1", base="main", title="Fix crash", body=f"Closes #{issue.number}"
        )
        pull = await author.get_pull("mesh", "work", pull.number)
        await author.list_pulls("mesh", "work", state="all")
        await author.create_status("mesh", "work", pull.head_sha, "success", "uni-wizard/proof", description="1 passed")
        await author.list_statuses("mesh", "work", pull.head_sha)
        await author.combined_status("mesh", "work", pull.head_sha)
        rejected = await reviewer.create_review("mesh", "work", pull.number, "REQUEST_CHANGES", "add a test")
        async with client(username=ADMIN[0], password=ADMIN[1]) as raw_admin:
            dismissed = await calls.wrap(raw_admin).dismiss_review(
                "mesh", "work", pull.number, rejected.id, "superseded"
            )
            assert dismissed.dismissed and dismissed.state == "REQUEST_CHANGES"
        await reviewer.create_review("mesh", "work", pull.number, "APPROVED", "ok", commit_id=pull.head_sha)
        await reviewer.list_reviews("mesh", "work", pull.number)
        assert not await author.is_merged("mesh", "work", pull.number)
        for _ in range(50):  # Gitea computes mergeability in the background: poll, as a client must
            if (await author.get_pull("mesh", "work", pull.number)).mergeable:
                break
            await asyncio.sleep(0.05)
        await reviewer.merge_pull("mesh", "work", pull.number, head_commit_id=pull.head_sha)
        assert await author.is_merged("mesh", "work", pull.number)
        await author.delete_branch("mesh", "work", "author/issue-1")
        with pytest.raises(NotFound):
            await author.get_branch("mesh", "work", "author/issue-1")
        assert main.name == "main" and updated.sha


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    data = tmp_path_factory.mktemp("contract-forge")
    server = DevforgeServer(Path(data), ADMIN).start()
    log: list[Exchange] = []
    calls = Calls()
    try:
        asyncio.run(run_scenario(server.url, log, calls))
    finally:
        server.stop()
    return Scenario(log, calls)


def test_every_response_matches_giteas_schema(scenario: Scenario) -> None:
    problems, checked = [], set()
    for r in scenario.log:
        path, status = r.path.removeprefix("/api/v1"), r.status or 0
        if status >= 400 and status != 404:
            problems.append(f"{r.method} {path}: unexpected {status} {r.json()}")
            continue
        try:
            template = validate(r.method, path, status, r.json())
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        checked.add(operation_id(r.method, template))
    assert not problems, "\n".join(problems)
    assert len(checked) >= 40, sorted(checked)


def test_every_client_operation_has_a_contract_test(scenario: Scenario) -> None:
    public = {
        name
        for name, member in inspect.getmembers(GiteaClient)
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }
    missing = public - NOT_OPERATIONS - scenario.calls.names
    assert not missing, f"client operations without a contract test: {sorted(missing)}"


def _unused(_: Callable[..., Awaitable[Any]] | AsyncIterator[Any]) -> None:
    """(typing helper; keeps imports honest)"""
