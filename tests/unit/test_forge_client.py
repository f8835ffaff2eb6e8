"""GiteaClient against httpx.MockTransport handlers that answer like Gitea."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.errors import (
    ConfigError,
    Conflict,
    FileExists,
    Forbidden,
    ForgeError,
    ForgeUnavailable,
    Locked,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    ServerError,
    ShaMismatch,
    ToolCallError,
    Unauthorized,
    Unprocessable,
)
from uni_wizard.forge import GiteaClient, Issue, dedupe_since, forge_breaker, paginate
from uni_wizard.testing import RecordingSleep

BASE = "http://forge.test"
API = BASE + "/api/v1"
REPO = API + "/repos/mesh/coord"
TOKEN = "c0ffee5ecret7oken42"
ISSUE_ROUTE = "/repos/{owner}/{repo}/issues/{index}"

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kwargs: Any) -> GiteaClient:
    kwargs.setdefault("registry", CollectorRegistry())
    kwargs.setdefault("sleep", RecordingSleep())
    return GiteaClient(BASE, TOKEN, transport=httpx.MockTransport(handler), **kwargs)


def issue_json(number: int, updated: str = "2025-07-30T08:01:00+02:00", **extra: Any) -> dict[str, Any]:
    return {
        "id": 1000 + number,
        "number": number,
        "title": f"issue {number}",
        "body": "",
        "state": "open",
        "user": {"id": 2, "login": "alice"},
        "labels": [],
        "assignees": None,
        "updated_at": updated,
        "pull_request": None,
        **extra,
    }


def gitea_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message, "url": f"{BASE}/api/swagger"})


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git object id


# Error mapping ------------------------------------------------------------------------------------

SHA_MISMATCH = "sha does not match [given: 1111, expected: 2222]"
ERROR_TABLE = [
    # status, response, operation, expected class, expected .message
    (401, gitea_error(401, "invalid username, password or token"), "get", Unauthorized, None),
    (403, httpx.Response(403), "get", Forbidden, ""),  # bodiless, as Gitea's ctx.Status(403)
    (404, gitea_error(404, "not found"), "get", NotFound, None),
    (405, gitea_error(405, "Does not have enough approvals"), "merge", NotAllowed, None),
    (409, gitea_error(409, "head out of date"), "merge", Conflict, None),
    (412, gitea_error(412, "unknown state: x"), "edit", PreconditionFailed, None),
    (422, gitea_error(422, "[Title]: Required"), "create", Unprocessable, None),
    (422, gitea_error(422, SHA_MISMATCH), "update_file", ShaMismatch, None),
    (422, gitea_error(422, SHA_MISMATCH), "create", Unprocessable, None),  # refined on contents routes only
    (422, gitea_error(422, "repository file already exists [path: lease.json]"), "create_file", FileExists, None),
    (423, gitea_error(423, "repo is archived"), "create", Locked, None),
    (500, gitea_error(500, ""), "create", ServerError, ""),
    (502, httpx.Response(502, text="Bad Gateway from the proxy"), "create", ServerError, None),
    (418, gitea_error(418, "teapot"), "get", ForgeError, None),
]


async def run_operation(forge: GiteaClient, operation: str) -> Any:
    if operation == "get":
        return await forge.get_issue("mesh", "coord", 7)
    if operation == "merge":
        return await forge.merge_pull("mesh", "coord", 7, head_commit_id="abc123")
    if operation == "edit":
        return await forge.edit_issue("mesh", "coord", 7, state="closed")
    if operation == "create":
        return await forge.create_issue("mesh", "coord", "")
    if operation == "update_file":
        return await forge.update_file("mesh", "coord", "lease.json", b"{}", "1111", "renew", branch="mesh-state")
    return await forge.create_file("mesh", "coord", "lease.json", b"{}", "take", branch="mesh-state")


@pytest.mark.parametrize(("status", "response", "operation", "expected", "message"), ERROR_TABLE)
async def test_error_mapping(
    status: int, response: httpx.Response, operation: str, expected: type[ForgeError], message: str | None
) -> None:
    async with client(lambda request: response, retries=0) as forge:
        with pytest.raises(ForgeError) as info:
            await run_operation(forge, operation)

    error = info.value
    assert type(error) is expected
    assert error.status == status
    assert error.url.startswith(REPO)
    if message is None:
        body = response.json() if response.headers.get("content-type") == "application/json" else None
        message = body["message"] if body else response.text
    assert error.message == message
    assert str(status) in str(error)
    assert TOKEN not in str(error) and TOKEN not in error.url and TOKEN not in repr(error.body)


async def test_plain_422_on_contents_is_not_file_exists() -> None:
    async with client(lambda request: gitea_error(422, "branch already exists [name: x]")) as forge:
        with pytest.raises(Unprocessable) as info:
            await forge.create_file("mesh", "coord", "a.txt", b"x", "m", new_branch="x")
    assert type(info.value) is Unprocessable


async def test_error_keeps_body_and_hides_an_echoed_token() -> None:
    async with client(lambda request: gitea_error(401, f"bad token {TOKEN}")) as forge:
        with pytest.raises(Unauthorized) as info:
            await forge.me()
    assert TOKEN not in str(info.value) and TOKEN not in info.value.message
    assert info.value.body == {"message": "bad token ***", "url": f"{BASE}/api/swagger"}
    assert info.value.url == API + "/user"


async def test_connection_failure_is_forge_unavailable_without_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while sending token {TOKEN}", request=request)

    async with client(refuse, retries=0) as forge:
        with pytest.raises(ForgeUnavailable) as info:
            await forge.get_issue("mesh", "coord", 1)
    assert "unreachable" in str(info.value) and TOKEN not in str(info.value)


async def test_bad_token_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigError) as info:
        GiteaClient(BASE, "abc\ndef", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert "abc" not in str(info.value)


# Headers, auth, version gating --------------------------------------------------------------------


async def test_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": 1, "login": "house-a"})

    async with client(handler) as forge:
        assert (await forge.me()).login == "house-a"
    (request,) = seen
    assert request.url == API + "/user"
    assert request.headers["authorization"] == f"token {TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("uni-wizard/")


async def test_create_token_uses_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/tokens"):
            return httpx.Response(201, json={"id": 3, "name": "house-a", "sha1": "f" * 40, "scopes": ["all"]})
        return httpx.Response(200, json={"id": 1, "login": "admin"})

    async with client(handler, username="admin", password="hunter2-pw") as forge:
        token = await forge.create_token("admin", "house-a", ["write:issue"])
        await forge.me()

    assert token.sha1 == "f" * 40 and "f" * 40 not in repr(token)
    expected = "Basic " + base64.b64encode(b"admin:hunter2-pw").decode()
    assert seen[0].headers["authorization"] == expected
    assert seen[0].url.path == "/api/v1/users/admin/tokens"
    assert json.loads(seen[0].content) == {"name": "house-a", "scopes": ["write:issue"]}
    assert seen[1].headers["authorization"] == f"token {TOKEN}"


async def test_create_token_without_password_is_a_config_error() -> None:
    async with client(lambda request: httpx.Response(500)) as forge:
        with pytest.raises(ConfigError, match="basic auth"):
            await forge.create_token("admin", "t", ["all"])


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.23.8", ["GET /issues/5", "PATCH /issues/5"]), ("1.26.4", ["POST /issues/5/assignees"])],
)
async def test_add_assignees_gated_on_version(version: str, expected: list[str]) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/version":
            return httpx.Response(200, json={"version": version})
        seen.append(f"{request.method} {request.url.path.removeprefix('/api/v1/repos/mesh/coord')}")
        if request.method == "PATCH":
            assert json.loads(request.content) == {"assignees": ["bob", "carol"]}
        return httpx.Response(
            200 if request.method == "GET" else 201, json=issue_json(5, assignees=[{"id": 3, "login": "bob"}])
        )

    async with client(handler) as forge:
        await forge.add_assignees("mesh", "coord", 5, ["carol", "bob"])
        assert await forge.supports("issue_assignees") is (version >= "1.26")
    assert seen == expected


async def test_paths_are_quoted_and_dot_segments_refused() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"path": "state/lease one.json", "sha": "ab", "content": ""})

    async with client(handler) as forge:
        await forge.get_contents("mesh", "coord", "state/lease one.json", ref="mesh-state")
        with pytest.raises(ToolCallError):
            await forge.get_contents("mesh", "coord", "../../admin/users")
    assert len(seen) == 1
    assert seen[0].url.raw_path == b"/api/v1/repos/mesh/coord/contents/state/lease%20one.json?ref=mesh-state"


# Pagination ---------------------------------------------------------------------------------------


def gitea_list(items: list[Any], *, link: bool = True, root: str = "http://public.example/") -> Handler:
    """Serve ``items`` the way Gitea does: page/limit (capped at 50), X-Total-Count, Link."""

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        limit = min(int(request.url.params.get("limit", "30")), 50)
        batch = items[(page - 1) * limit : page * limit]
        headers = {"X-Total-Count": str(len(items))}
        last = max(1, -(-len(items) // limit))
        if link:
            links = []
            if page < last:
                links.append(f'<{root}api/v1{request.url.path[7:]}?page={page + 1}&limit={limit}>; rel="next"')
            links.append(f'<{root}api/v1{request.url.path[7:]}?page={last}&limit={limit}>; rel="last"')
            headers["Link"] = ",".join(links)
        return httpx.Response(200, json=batch, headers=headers)

    return handler


def recording(handler: Handler, seen: list[httpx.Request]) -> Handler:
    def wrapped(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return wrapped


async def test_listing_120_issues_takes_3_requests_on_the_clients_own_host() -> None:
    seen: list[httpx.Request] = []
    items = [issue_json(n) for n in range(120, 0, -1)]

    async with client(recording(gitea_list(items), seen)) as forge:
        issues = await forge.list_issues("mesh", "coord", state="all", labels=["bug", "status/ready"])

    assert [i.number for i in issues] == list(range(120, 0, -1))
    assert [r.url.params.get("page") for r in seen] == [None, "2", "3"]
    assert {r.url.host for r in seen} == {"forge.test"}  # never the Link's ROOT_URL host
    assert seen[0].url.params["limit"] == "50"
    assert seen[0].url.params["labels"] == "bug,status/ready"
    assert seen[0].url.params["state"] == "all"


async def test_limit_is_clamped_to_50_and_max_items_respected() -> None:
    seen: list[httpx.Request] = []
    items = [issue_json(n) for n in range(1, 80)]

    async with client(recording(gitea_list(items), seen)) as forge:
        assert len(await forge.list_issues("mesh", "coord", limit=60)) == 60
        assert len(await forge.list_issues("mesh", "coord", limit=10)) == 10
    assert [r.url.params["limit"] for r in seen] == ["50", "50", "10"]


async def fetcher(handler: Handler, seen: list[dict[str, Any]]) -> Callable[..., Any]:
    async def fetch(params: Any) -> httpx.Response:
        seen.append(dict(params))
        request = httpx.Request("GET", REPO + "/labels", params=params)
        response = handler(request)
        response.request = request
        return response

    return fetch


async def test_paginate_follows_link_next() -> None:
    seen: list[dict[str, Any]] = []
    fetch = await fetcher(gitea_list(list(range(7))), seen)

    assert [x async for x in paginate(fetch, {"state": "open"}, limit=3)] == list(range(7))
    assert seen == [
        {"state": "open", "limit": 3},
        {"state": "open", "limit": 3, "page": 2},
        {"state": "open", "limit": 3, "page": 3},
    ]


async def test_paginate_stops_on_a_short_page_even_with_a_next_link() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[1, 2], headers={"Link": f'<{REPO}/labels?page=2&limit=5>; rel="next"'})

    fetch = await fetcher(handler, seen)
    assert [x async for x in paginate(fetch, limit=5)] == [1, 2]
    assert len(seen) == 1


async def test_paginate_stops_without_next_link() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[1, 2], headers={"Link": f'<{REPO}/labels?page=1&limit=2>; rel="last"'})

    fetch = await fetcher(handler, seen)
    assert [x async for x in paginate(fetch, limit=2)] == [1, 2]
    assert len(seen) == 1


async def test_paginate_stops_at_total_count_when_there_is_no_link() -> None:
    seen: list[dict[str, Any]] = []
    fetch = await fetcher(gitea_list(list(range(4)), link=False), seen)  # labels, hooks: no Link

    assert [x async for x in paginate(fetch, limit=2)] == [0, 1, 2, 3]
    assert len(seen) == 2  # full second page, but X-Total-Count says 4: no third request


async def test_paginate_clamps_limit() -> None:
    seen: list[dict[str, Any]] = []
    fetch = await fetcher(gitea_list([]), seen)
    assert [x async for x in paginate(fetch, limit=500)] == []
    assert seen == [{"limit": 50}]


async def test_list_labels_without_link_header() -> None:
    labels = [{"id": i, "name": f"l{i}", "color": "ededed"} for i in range(1, 56)]
    seen: list[httpx.Request] = []
    async with client(recording(gitea_list(labels, link=False), seen)) as forge:
        assert len(await forge.list_labels("mesh", "coord")) == 55
    assert len(seen) == 2


def test_dedupe_since() -> None:
    seen: set[Any] = set()
    first = [issue_json(1, "2025-07-30T08:00:00Z"), issue_json(2, "2025-07-30T08:05:00Z")]
    assert dedupe_since(first, seen) == first
    # the next poll with since=08:05 returns #2 again (since is inclusive), plus a newer #1
    again = [issue_json(2, "2025-07-30T08:05:00Z"), issue_json(1, "2025-07-30T08:06:00Z")]
    assert [i["number"] for i in dedupe_since(again, seen)] == [1]
    models = [Issue.model_validate(issue_json(9))]
    assert dedupe_since(models, seen) == models and dedupe_since(models, seen) == []
    comments = [{"id": 5, "updated_at": "t1"}, {"id": 5, "updated_at": "t1"}, {"id": 5, "updated_at": "t2"}]
    assert dedupe_since(comments, set()) == [comments[0], comments[2]]


# Retries ------------------------------------------------------------------------------------------


async def test_get_is_retried_on_503_then_succeeds() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, json=issue_json(7))

    sleep = RecordingSleep()
    async with client(handler, sleep=sleep) as forge:
        assert (await forge.get_issue("mesh", "coord", 7)).number == 7
    assert len(attempts) == 3
    assert len(sleep.delays) == 2


async def test_get_gives_up_after_retries_on_connect_error() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ConnectTimeout("timed out", request=request)

    async with client(handler, retries=2) as forge:
        with pytest.raises(ForgeUnavailable, match="timed out"):
            await forge.get_issue("mesh", "coord", 7)
    assert len(attempts) == 3


async def test_get_is_not_retried_on_4xx_or_500() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return gitea_error(500 if len(attempts) == 1 else 404, "")

    async with client(handler) as forge:
        with pytest.raises(ServerError):
            await forge.get_issue("mesh", "coord", 7)
        with pytest.raises(NotFound):
            await forge.get_issue("mesh", "coord", 7)
    assert len(attempts) == 2


async def test_post_is_never_retried_on_503() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(503, text="busy")

    sleep = RecordingSleep()
    async with client(handler, sleep=sleep, retries=5) as forge:
        with pytest.raises(ServerError):
            await forge.create_issue("mesh", "coord", "t")
        with pytest.raises(ServerError):
            await forge.merge_pull("mesh", "coord", 3, head_commit_id="abc")
    assert len(attempts) == 2 and sleep.delays == []


async def test_put_is_never_retried_on_connect_error() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    async with client(handler, retries=5) as forge:
        with pytest.raises(ForgeUnavailable):
            await forge.update_file("mesh", "coord", "lease.json", b"{}", "abc", "renew")
    assert len(attempts) == 1


# Breaker ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["500", "connect"])
async def test_breaker_opens_and_then_fails_fast(failure: str) -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if failure == "connect":
            raise httpx.ConnectError("refused", request=request)
        return gitea_error(500, "")

    breaker = forge_breaker(fail_max=3, reset_timeout=60)
    async with client(handler, breaker=breaker, retries=0) as forge:
        for _ in range(3):  # the third trips it and still reports its own failure
            with pytest.raises(ServerError if failure == "500" else ForgeUnavailable):
                await forge.create_comment("mesh", "coord", 1, "hi")
        assert breaker.current_state == "open"
        with pytest.raises(ForgeUnavailable, match="circuit breaker is open"):
            await forge.get_issue("mesh", "coord", 1)
    assert len(attempts) == 3  # the refused call never reached the transport


async def test_open_breaker_is_not_retried() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(503)

    sleep = RecordingSleep()
    async with client(handler, breaker=forge_breaker(fail_max=2), retries=4, sleep=sleep) as forge:
        with pytest.raises(ServerError):  # attempt 1 fails, attempt 2 trips the breaker: no more retries
            await forge.get_issue("mesh", "coord", 1)
        with pytest.raises(ForgeUnavailable):
            await forge.get_issue("mesh", "coord", 1)
    assert len(attempts) == 2 and len(sleep.delays) == 1


async def test_4xx_do_not_count_toward_the_breaker() -> None:
    answers = iter([500, 404, 500, 404, 404, 404, 422])

    def handler(request: httpx.Request) -> httpx.Response:
        return gitea_error(next(answers), "x")

    breaker = forge_breaker(fail_max=2)
    async with client(handler, breaker=breaker, retries=0) as forge:
        for _ in range(7):
            with pytest.raises(ForgeError):
                await forge.get_issue("mesh", "coord", 1)
    assert breaker.current_state == "closed"


async def test_cancellation_does_not_count_toward_the_breaker() -> None:
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    breaker = forge_breaker(fail_max=1)
    async with GiteaClient(
        BASE, TOKEN, transport=httpx.MockTransport(hang), registry=CollectorRegistry(), breaker=breaker
    ) as forge:
        task = asyncio.create_task(forge.get_issue("mesh", "coord", 1))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert breaker.current_state == "closed"


# Metrics ------------------------------------------------------------------------------------------


async def test_metrics_use_the_route_template() -> None:
    answers = iter([httpx.Response(200, json=issue_json(12)), gitea_error(404, "not found")])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/comments"):
            raise httpx.ReadTimeout("slow", request=request)
        return next(answers)

    registry = CollectorRegistry()
    async with client(handler, registry=registry, retries=0) as forge:
        await forge.get_issue("mesh", "coord", 12)
        with pytest.raises(NotFound):
            await forge.get_issue("mesh", "coord", 13)
        with pytest.raises(ForgeUnavailable):
            await forge.list_comments("mesh", "coord", 12)

    def count(status: str, route: str = ISSUE_ROUTE) -> float | None:
        labels = {"method": "GET", "route": route, "status": status}
        return registry.get_sample_value("uniwizard_forge_requests_total", labels)

    assert count("200") == 1 and count("404") == 1
    assert count("error", ISSUE_ROUTE + "/comments") == 1
    duration = registry.get_sample_value(
        "uniwizard_forge_request_duration_seconds_count", {"method": "GET", "route": ISSUE_ROUTE}
    )
    assert duration == 2
    routes = {s.labels.get("route") for m in registry.collect() for s in m.samples if "route" in s.labels}
    assert routes == {ISSUE_ROUTE, ISSUE_ROUTE + "/comments"}  # no concrete path, no issue number


async def test_metrics_are_created_once_per_registry() -> None:
    registry = CollectorRegistry()
    a = client(lambda r: httpx.Response(200), registry=registry)
    b = client(lambda r: httpx.Response(200), registry=registry)
    assert a.metrics is b.metrics
    await a.aclose()
    await b.aclose()


# Operations ---------------------------------------------------------------------------------------


def label_server(existing: list[dict[str, Any]], seen: list[str]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path.removeprefix('/api/v1/repos/mesh/coord')}")
        if request.method == "GET":
            return httpx.Response(200, json=existing, headers={"X-Total-Count": str(len(existing))})
        sent = json.loads(request.content)
        if request.method == "POST":
            return httpx.Response(201, json={"id": 99, **sent})
        return httpx.Response(200, json={**existing[0], **sent})

    return handler


TODO = {"id": 4, "name": "status/todo", "color": "c0ffee", "description": "to do", "exclusive": True}


async def test_ensure_label_reuses_an_existing_label() -> None:
    seen: list[str] = []
    async with client(label_server([{"id": 3, "name": "bug", "color": "ee0701"}, TODO], seen)) as forge:
        label = await forge.ensure_label("mesh", "coord", "status/todo", "#C0FFEE", description="to do", exclusive=True)
    assert label.id == 4
    assert seen == ["GET /labels"]


async def test_ensure_label_updates_what_differs_and_creates_what_is_missing() -> None:
    seen: list[str] = []
    async with client(label_server([TODO], seen)) as forge:
        changed = await forge.ensure_label("mesh", "coord", "status/todo", "#fff", description="to do", exclusive=True)
        created = await forge.ensure_label("mesh", "coord", "status/doing", "00ff00", exclusive=True)
    assert (changed.id, changed.color) == (4, "ffffff")
    assert created.id == 99
    assert seen == ["GET /labels", "PATCH /labels/4", "GET /labels", "POST /labels"]


async def test_merge_pull_sends_do_and_head_commit_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with client(handler) as forge:
        result = await forge.merge_pull(
            "mesh", "coord", 5, head_commit_id="a1b2c3", style="squash", message="Merge #5", delete_branch=True
        )
    assert result is None
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/api/v1/repos/mesh/coord/pulls/5/merge")
    assert json.loads(request.content) == {
        "Do": "squash",
        "head_commit_id": "a1b2c3",
        "MergeMessageField": "Merge #5",
        "delete_branch_after_merge": True,
    }


@pytest.mark.parametrize(("status", "merged"), [(204, True), (404, False)])
async def test_is_merged(status: int, merged: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/repos/mesh/coord/pulls/5/merge"
        return httpx.Response(204) if status == 204 else gitea_error(404, "not found")

    async with client(handler) as forge:
        assert await forge.is_merged("mesh", "coord", 5) is merged


async def test_contents_round_trip_in_base64() -> None:
    files: dict[str, bytes] = {}
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/contents/", 1)[1]
        if request.method == "GET":
            data = files[path]
            encoded = base64.b64encode(data).decode()
            body = {"path": path, "type": "file", "sha": blob_sha(data), "content": encoded, "last_commit_sha": "c1"}
            return httpx.Response(200, json=body)
        sent = json.loads(request.content)
        seen.append(sent)
        if request.method == "PUT" and sent["sha"] != blob_sha(files[path]):
            return gitea_error(422, f"sha does not match [given: {sent['sha']}, expected: {blob_sha(files[path])}]")
        files[path] = base64.b64decode(sent["content"])
        content = {"path": path, "sha": blob_sha(files[path])}
        return httpx.Response(
            201 if request.method == "POST" else 200, json={"content": content, "commit": {"sha": "c2"}}
        )

    data = b'{"holder": "house-a", "epoch": 1}\n\x00\xff'
    async with client(handler) as forge:
        created = await forge.create_file("mesh", "coord", "lease.json", data, "take", branch="mesh-state")
        read = await forge.get_contents("mesh", "coord", "lease.json", ref="mesh-state")
        updated = await forge.update_file("mesh", "coord", "lease.json", b"v2", read.sha, "renew", branch="mesh-state")
        with pytest.raises(ShaMismatch):
            await forge.update_file("mesh", "coord", "lease.json", b"v3", read.sha, "late", branch="mesh-state")

    assert read.content == data and read.sha == blob_sha(data) == created.sha
    assert (created.commit_sha, read.last_commit_sha) == ("c2", "c1")
    assert updated.sha == blob_sha(b"v2")
    assert seen[0] == {"content": base64.b64encode(data).decode(), "message": "take", "branch": "mesh-state"}
    assert seen[1]["sha"] == blob_sha(data)


async def test_add_labels_refuses_a_mix_of_ids_and_names() -> None:
    async with client(lambda r: httpx.Response(200, json=[])) as forge:
        with pytest.raises(ToolCallError, match="mix"):
            await forge.add_labels("mesh", "coord", 1, [1, "bug"])  # type: ignore[list-item]
        assert await forge.add_labels("mesh", "coord", 1, ["bug"]) == []


async def test_models_flatten_gitea_objects() -> None:
    pull = {
        "id": 31,
        "number": 5,
        "state": "open",
        "merged": False,
        "mergeable": True,
        "merge_commit_sha": None,
        "head": {"ref": "feat/x", "sha": "a1b2"},
        "base": {"ref": "main", "sha": "0000"},
        "user": {"id": 2, "login": "alice"},
        "labels": None,
    }
    combined = {
        "state": "pending",
        "sha": "a1b2",
        "total_count": 1,
        "statuses": [{"id": 1, "status": "pending", "context": "ci"}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json=combined)
        return httpx.Response(200, json=pull)

    async with client(handler) as forge:
        got = await forge.get_pull("mesh", "coord", 5)
        status = await forge.combined_status("mesh", "coord", "feat/x")
    assert (got.head_sha, got.head_ref, got.base_ref, got.mergeable) == ("a1b2", "feat/x", "main", True)
    assert status.state == "pending" and status.statuses[0].status == "pending"
    issue = Issue.model_validate(issue_json(5, pull_request={"merged": False}))
    assert issue.is_pull and issue.updated_at is not None and issue.updated_at.utcoffset() is not None


async def test_open_breaker_inside_an_except_block_is_still_forge_unavailable() -> None:
    # CircuitBreakerError.__context__ is then the handled error: it must not be reported as the cause
    answers = iter([gitea_error(404, "not found"), httpx.Response(503)])
    breaker = forge_breaker(fail_max=1)
    async with client(lambda r: next(answers), breaker=breaker, retries=0) as forge:
        try:
            await forge.get_issue("mesh", "coord", 1)
        except NotFound:
            with pytest.raises(ServerError):
                await forge.get_issue("mesh", "coord", 1)  # trips the breaker
            with pytest.raises(ForgeUnavailable, match="circuit breaker is open"):
                await forge.get_issue("mesh", "coord", 1)
