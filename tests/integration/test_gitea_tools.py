"""gitea_* tools against a real HTTP server on loopback that answers like Gitea."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from loopback_http import LoopbackServer, Recorded, Reply, json_reply, text_reply, unused_port

from uni_wizard.errors import ToolCallError, ToolExecutionError, TransientToolError
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.gitea import gitea_comment, gitea_create_issue, gitea_get_issue, gitea_list_issues

TOKEN = "s3cr3t-t0ken-4f9a1c"
REPO = "mesh/coordination"
API = "/api/v1/repos/mesh/coordination"


def _user(login: str, uid: int) -> dict[str, Any]:
    return {
        "id": uid,
        "login": login,
        "login_name": "",
        "full_name": "",
        "email": f"{login}@noreply.forge.test",
        "avatar_url": f"http://forge.test/avatars/{uid}",
        "html_url": f"http://forge.test/{login}",
        "is_admin": False,
        "username": login,
    }


def _label(lid: int, name: str, color: str) -> dict[str, Any]:
    return {
        "id": lid,
        "name": name,
        "exclusive": False,
        "is_archived": False,
        "color": color,
        "description": "",
        "url": f"http://forge.test/api/v1/repos/{REPO}/labels/{lid}",
    }


BUG = _label(1, "bug", "ee0701")
READY = _label(2, "status/ready", "0e8a16")


def _issue(
    number: int,
    title: str,
    *,
    labels: Sequence[dict[str, Any]] = (),
    assignees: Sequence[str] | None = None,
    state: str = "open",
    body: str = "",
) -> dict[str, Any]:
    return {
        "id": 1000 + number,
        "url": f"http://forge.test/api/v1/repos/{REPO}/issues/{number}",
        "html_url": f"http://forge.test/{REPO}/issues/{number}",
        "number": number,
        "user": _user("alice", 2),
        "original_author": "",
        "original_author_id": 0,
        "title": title,
        "body": body,
        "ref": "",
        "assets": [],
        "labels": list(labels),
        "milestone": None,
        "assignee": _user(assignees[0], 3) if assignees else None,
        "assignees": [_user(a, 3 + i) for i, a in enumerate(assignees)] if assignees else None,
        "state": state,
        "is_locked": False,
        "comments": 2,
        "created_at": "2025-07-29T16:45:09+02:00",
        "updated_at": "2025-07-30T08:01:00+02:00",
        "closed_at": None,
        "due_date": None,
        "time_estimate": 0,
        "pull_request": None,
        "repository": {"id": 7, "name": "coordination", "owner": "mesh", "full_name": REPO},
        "pin_order": 0,
    }


ISSUES = [
    _issue(12, "Flaky test in harness", labels=[BUG, READY], assignees=["bob", "carol"]),
    _issue(9, "Document the lease protocol", labels=[READY]),
    _issue(4, "Crash on empty house file", labels=[BUG], state="open"),
]


@pytest.fixture
def env(loopback: LoopbackServer) -> ToolEnv:
    return ToolEnv(gitea_url=loopback.url + "/", gitea_token=TOKEN)


async def test_list_issues(loopback: LoopbackServer, env: ToolEnv) -> None:
    loopback.route("GET", f"{API}/issues", json_reply(ISSUES, headers={"X-Total-Count": "3"}))

    result = await gitea_list_issues(env, repo=REPO)

    assert result["issues"][0] == {
        "number": 12,
        "title": "Flaky test in harness",
        "state": "open",
        "labels": ["bug", "status/ready"],
        "assignees": ["bob", "carol"],
        "url": f"http://forge.test/{REPO}/issues/12",
    }
    assert [i["number"] for i in result["issues"]] == [12, 9, 4]
    assert result["issues"][1]["assignees"] == []  # Gitea sends null
    (seen,) = loopback.requests
    assert seen.query == {"state": "open", "type": "issues", "limit": "50"}
    assert seen.headers["authorization"] == f"token {TOKEN}"
    assert seen.headers["accept"] == "application/json"


async def test_list_issues_with_labels_filters_client_side_too(loopback: LoopbackServer, env: ToolEnv) -> None:
    # Gitea drops unknown label names; when all are unknown it returns every issue.
    loopback.route("GET", f"{API}/issues", json_reply(ISSUES))

    result = await gitea_list_issues(env, repo=REPO, state="all", labels="bug, status/ready", limit=10)

    assert [i["number"] for i in result["issues"]] == [12]
    (seen,) = loopback.requests
    assert seen.query == {"state": "all", "type": "issues", "labels": "bug,status/ready", "limit": "10"}


@pytest.mark.parametrize("limit", [0, 51])
async def test_list_issues_limit_range(loopback: LoopbackServer, env: ToolEnv, limit: int) -> None:
    with pytest.raises(ToolCallError, match="limit"):
        await gitea_list_issues(env, repo=REPO, limit=limit)
    assert loopback.requests == []


async def test_get_issue(loopback: LoopbackServer, env: ToolEnv) -> None:
    raw = _issue(12, "Flaky test in harness", labels=[BUG], assignees=["bob"], body="It fails **sometimes**.")
    loopback.route("GET", f"{API}/issues/12", json_reply(raw))

    result = await gitea_get_issue(env, repo=REPO, number=12)

    assert result == {
        "number": 12,
        "title": "Flaky test in harness",
        "state": "open",
        "labels": ["bug"],
        "assignees": ["bob"],
        "url": f"http://forge.test/{REPO}/issues/12",
        "body": "It fails **sometimes**.",
        "author": "alice",
        "comments": 2,
        "is_pull_request": False,
        "created_at": "2025-07-29T16:45:09+02:00",
        "updated_at": "2025-07-30T08:01:00+02:00",
        "closed_at": None,
    }
    assert loopback.requests[0].headers["authorization"] == f"token {TOKEN}"


async def test_get_issue_404(loopback: LoopbackServer, env: ToolEnv) -> None:
    # no route: the loopback server answers 404 {"message": "not found"} like Gitea
    with pytest.raises(ToolExecutionError, match="not found") as info:
        await gitea_get_issue(env, repo=REPO, number=99)
    assert not isinstance(info.value, ToolCallError | TransientToolError)
    assert loopback.requests[0].route == f"{API}/issues/99"


async def test_create_issue(loopback: LoopbackServer, env: ToolEnv) -> None:
    def create(req: Recorded) -> Reply:
        sent = req.json()
        return json_reply(_issue(13, sent["title"], body=sent["body"], labels=[BUG]), status=201)(req)

    loopback.route("POST", f"{API}/issues", create)

    result = await gitea_create_issue(env, repo=REPO, title="New bug", body="Steps: ...", labels=[1])

    assert result == {"number": 13, "url": f"http://forge.test/{REPO}/issues/13"}
    (seen,) = loopback.requests
    assert seen.json() == {"title": "New bug", "body": "Steps: ...", "labels": [1]}
    assert seen.headers["authorization"] == f"token {TOKEN}"
    assert seen.headers["content-type"] == "application/json"


async def test_create_issue_default_labels(loopback: LoopbackServer, env: ToolEnv) -> None:
    loopback.route("POST", f"{API}/issues", json_reply(_issue(14, "t"), status=201))

    await gitea_create_issue(env, repo=REPO, title="t")

    assert loopback.requests[0].json() == {"title": "t", "body": "", "labels": []}


async def test_comment(loopback: LoopbackServer, env: ToolEnv) -> None:
    comment = {
        "id": 5521,
        "html_url": f"http://forge.test/{REPO}/issues/12#issuecomment-5521",
        "pull_request_url": "",
        "issue_url": f"http://forge.test/{REPO}/issues/12",
        "user": _user("house-bot", 8),
        "original_author": "",
        "original_author_id": 0,
        "body": "Claimed by house A.",
        "assets": [],
        "created_at": "2025-07-30T09:00:00+02:00",
        "updated_at": "2025-07-30T09:00:00+02:00",
    }
    loopback.route("POST", f"{API}/issues/12/comments", json_reply(comment, status=201))

    result = await gitea_comment(env, repo=REPO, number=12, body="Claimed by house A.")

    assert result == {"id": 5521, "url": f"http://forge.test/{REPO}/issues/12#issuecomment-5521"}
    (seen,) = loopback.requests
    assert seen.json() == {"body": "Claimed by house A."}
    assert seen.headers["authorization"] == f"token {TOKEN}"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "invalid username, password or token"),
        (403, "token does not have at least one of required scope(s), required=[write:issue]"),
    ],
)
async def test_refused_token_is_clear_and_does_not_leak(
    loopback: LoopbackServer, env: ToolEnv, status: int, message: str
) -> None:
    loopback.route("GET", f"{API}/issues", json_reply({"message": message, "url": "x"}, status=status))

    with pytest.raises(ToolExecutionError, match="refused the token") as info:
        await gitea_list_issues(env, repo=REPO)

    text = str(info.value)
    assert TOKEN not in text
    assert message in text
    assert str(status) in text
    assert not isinstance(info.value, TransientToolError)


async def test_token_echoed_by_the_server_is_scrubbed(loopback: LoopbackServer, env: ToolEnv) -> None:
    loopback.route("GET", f"{API}/issues", json_reply({"message": f"bad token {TOKEN}"}, status=401))

    with pytest.raises(ToolExecutionError) as info:
        await gitea_list_issues(env, repo=REPO)
    assert TOKEN not in str(info.value)
    assert "***" in str(info.value)


async def test_422_surfaces_giteas_message(loopback: LoopbackServer, env: ToolEnv) -> None:
    loopback.route("POST", f"{API}/issues", json_reply({"message": "[Title]: Required", "url": "x"}, status=422))

    with pytest.raises(ToolCallError, match=r"\[Title\]: Required"):
        await gitea_create_issue(env, repo=REPO, title="x")


@pytest.mark.parametrize(("status", "error"), [(503, TransientToolError), (502, TransientToolError)])
async def test_gateway_errors_are_transient(
    loopback: LoopbackServer, env: ToolEnv, status: int, error: type[Exception]
) -> None:
    loopback.route("GET", f"{API}/issues/1", text_reply("upstream down", status=status))

    with pytest.raises(error, match=str(status)):
        await gitea_get_issue(env, repo=REPO, number=1)


async def test_other_5xx_is_not_transient(loopback: LoopbackServer, env: ToolEnv) -> None:
    loopback.route("POST", f"{API}/issues/1/comments", json_reply({"message": ""}, status=500))

    with pytest.raises(ToolExecutionError, match="500") as info:
        await gitea_comment(env, repo=REPO, number=1, body="hi")
    assert not isinstance(info.value, TransientToolError)


async def test_forge_unreachable_is_transient() -> None:
    env = ToolEnv(gitea_url=f"http://127.0.0.1:{unused_port()}", gitea_token=TOKEN)

    with pytest.raises(TransientToolError) as info:
        await gitea_list_issues(env, repo=REPO)
    assert TOKEN not in str(info.value)


async def test_unset_gitea_url() -> None:
    with pytest.raises(ToolExecutionError, match="no forge configured: set gitea_url"):
        await gitea_list_issues(ToolEnv(gitea_token=TOKEN), repo=REPO)


async def test_no_token_sends_no_authorization(loopback: LoopbackServer) -> None:
    loopback.route("GET", f"{API}/issues", json_reply([]))

    assert await gitea_list_issues(ToolEnv(gitea_url=loopback.url), repo=REPO) == {"issues": []}
    assert "authorization" not in loopback.requests[0].headers


BAD_REPOS = [
    "mesh",
    "a/b\n",
    "mesh/coordination/extra",
    "/coordination",
    "mesh/",
    "../x",
    "a/..",
    "me sh/x",
    "a/b?c",
    "",
]


@pytest.mark.parametrize("repo", BAD_REPOS)
async def test_bad_repo_format(loopback: LoopbackServer, env: ToolEnv, repo: str) -> None:
    with pytest.raises(ToolCallError, match="owner/name"):
        await gitea_get_issue(env, repo=repo, number=1)
    assert loopback.requests == []


async def test_bad_number_and_empty_text(loopback: LoopbackServer, env: ToolEnv) -> None:
    with pytest.raises(ToolCallError):
        await gitea_get_issue(env, repo=REPO, number=0)
    with pytest.raises(ToolCallError):
        await gitea_comment(env, repo=REPO, number=1, body="  ")
    with pytest.raises(ToolCallError):
        await gitea_create_issue(env, repo=REPO, title="")
    assert loopback.requests == []


def test_tool_metadata() -> None:
    for spec in (gitea_list_issues, gitea_get_issue, gitea_create_issue, gitea_comment):
        assert spec.group == "gitea" and spec.env_param == "env" and spec.is_async
    assert (gitea_list_issues.mutates, gitea_get_issue.mutates) == (False, False)
    for spec in (gitea_create_issue, gitea_comment):
        assert (spec.mutates, spec.idempotent) == (True, False)
    assert gitea_list_issues.parameters["properties"]["state"]["enum"] == ["open", "closed", "all"]
