"""``GET /api/v1/events`` through ``TestClient``: the bearer token, the cursor, the limit, the kind filter."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.config import Settings
from uni_wizard.harness.runtime import Runtime
from uni_wizard.observe.events import EventKind, EventLog
from uni_wizard.web.app import create_app

with warnings.catch_warnings():
    # starlette >= 1.x warns at import that it prefers httpx2 to httpx; the test client works with either
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    settings = Settings(data_dir=tmp_path / "data", workspace=workspace, host="test-host")
    rt = Runtime(settings, metrics_registry=CollectorRegistry())
    yield rt
    rt.close()


@pytest.fixture
def log(runtime: Runtime) -> EventLog:
    log = EventLog(runtime.store, runtime.host)
    for i in range(1, 8):
        kind = EventKind.ISSUE_ROUTED if i % 3 == 0 else EventKind.ISSUE_TRIAGED
        log.emit_sync(kind, f"e{i}", repository="org/repo", number=i, data={"title": f"issue {i}"})
    return log


@pytest.fixture
def client(runtime: Runtime, log: EventLog) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, api_token=TOKEN)) as c:
        yield c


def seqs(body: dict[str, object]) -> list[int]:
    events = body["events"]
    assert isinstance(events, list)
    return [e["seq"] for e in events]


def test_without_a_token_configured_the_endpoint_is_off(runtime: Runtime) -> None:
    with TestClient(create_app(runtime)) as c:
        response = c.get("/api/v1/events", headers=AUTH)
    assert response.status_code == 503
    assert "events API is off" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
)
def test_a_valid_bearer_token_is_required(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/events", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "issue" not in response.text  # nothing of the log leaks


def test_all_events_oldest_first_with_the_last_seq(client: TestClient) -> None:
    response = client.get("/api/v1/events", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"events", "last_seq"}
    assert seqs(body) == [1, 2, 3, 4, 5, 6, 7]
    assert body["last_seq"] == 7
    first = body["events"][0]
    assert first == {
        "seq": 1,
        "at": first["at"],
        "kind": "issue.triaged",
        "key": "e1",
        "host": "test-host",
        "repository": "org/repo",
        "number": 1,
        "data": {"title": "issue 1"},
    }


def test_since_and_limit_page_through_the_log(client: TestClient, log: EventLog) -> None:
    body = client.get("/api/v1/events", params={"since": 2, "limit": 3}, headers=AUTH).json()
    assert seqs(body) == [3, 4, 5] and body["last_seq"] == 7
    body = client.get("/api/v1/events", params={"since": 5, "limit": 3}, headers=AUTH).json()
    assert seqs(body) == [6, 7]
    body = client.get("/api/v1/events", params={"since": 7}, headers=AUTH).json()
    assert body == {"events": [], "last_seq": 7}
    log.emit_sync("sweep.started", "later")
    body = client.get("/api/v1/events", params={"since": 7}, headers=AUTH).json()
    assert seqs(body) == [8] and body["last_seq"] == 8


def test_the_limit_is_capped_at_1000(client: TestClient, log: EventLog) -> None:
    for i in range(1000):
        log.emit_sync("issue.commented", f"bulk{i}")
    body = client.get("/api/v1/events", params={"limit": 5000}, headers=AUTH).json()
    assert len(body["events"]) == 1000
    assert body["events"][-1]["seq"] == 1000 and body["last_seq"] == 1007


def test_the_kind_filter(client: TestClient) -> None:
    body = client.get("/api/v1/events", params={"kind": "issue.routed"}, headers=AUTH).json()
    assert seqs(body) == [3, 6]
    assert {e["kind"] for e in body["events"]} == {"issue.routed"}
    assert body["last_seq"] == 7  # the log's, not the filter's: a safe next cursor
    body = client.get("/api/v1/events?kind=issue.routed&kind=issue.triaged&limit=4", headers=AUTH).json()
    assert seqs(body) == [1, 2, 3, 4]
    body = client.get("/api/v1/events", params={"kind": "lease.lost"}, headers=AUTH).json()
    assert body == {"events": [], "last_seq": 7}


@pytest.mark.parametrize(
    "query",
    ["since=abc", "since=-1", "limit=0", "limit=-5", "limit=ten", "kind=Issue.Routed", "kind=issue", "kind=a.b.c"],
)
def test_bad_parameters_are_422(client: TestClient, query: str) -> None:
    response = client.get(f"/api/v1/events?{query}", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"
