"""The daemon's web app through ``TestClient``: health, readiness, metrics and the execute API."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.config import Settings
from uni_wizard.harness.runtime import Runtime
from uni_wizard.tools.builtin import BUILTIN_TOOLS
from uni_wizard.web.app import create_app

with warnings.catch_warnings():
    # starlette >= 1.x warns at import that it prefers httpx2 to httpx; the test client works with either
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("hello from the workspace\n")
    return ws


@pytest.fixture
def runtime(tmp_path: Path, workspace: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", workspace=workspace, host="test-host")
    rt = Runtime(settings, metrics_registry=CollectorRegistry())
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, api_token=TOKEN)) as c:
        yield c


def samples(client: TestClient, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples called ``name`` in the /metrics exposition, as (labels, value)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == name
    ]


def read_call(workspace: Path, **extra: object) -> dict[str, object]:
    return {"house": "timmy", "tool": "file_read", "args": {"path": str(workspace / "notes.txt")}, **extra}


# -- health and readiness --------------------------------------------------------


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store_writable"] is True
    assert body["host"] == "test-host"
    assert body["version"]


def test_ready_lists_components(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    components = body["components"]
    assert set(components) == {"store", "houses", "tools", "breakers", "memory"}
    assert all(c["ready"] for c in components.values())
    # without the memory extra (not built yet) every search is FTS5, and /ready says so
    assert components["memory"]["search"] == "fts5-bm25"
    assert components["memory"]["vectors"] is False
    assert components["memory"]["documents"] == 0
    assert components["houses"]["houses"] == ["allegro", "bezalel", "ezra", "timmy"]
    assert components["tools"]["count"] == len(BUILTIN_TOOLS)
    assert components["store"]["schema_version"] >= 1


def test_ready_is_503_when_a_breaker_is_open(client: TestClient, runtime: Runtime) -> None:
    runtime.breakers.breaker("git").open()
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["components"]["breakers"]["ready"] is False
    assert body["components"]["breakers"]["groups"]["git"] == "open"
    assert body["components"]["store"]["ready"] is True
    # the breaker state is also a metric
    assert ({"group": "git"}, 2.0) in samples(client, "uniwizard_breaker_state")


def test_ready_is_503_when_the_houses_do_not_load(tmp_path: Path, workspace: Path) -> None:
    houses = tmp_path / "houses"
    houses.mkdir()
    (houses / "ezra.yaml").write_text("name: ezra\nrole: [unclosed\n")
    settings = Settings(data_dir=tmp_path / "data", workspace=workspace, host="test-host", houses_dir=houses)
    rt = Runtime(settings, metrics_registry=CollectorRegistry())
    try:
        with TestClient(create_app(rt, api_token=TOKEN)) as client:
            response = client.get("/ready")
            assert response.status_code == 503
            houses_state = response.json()["components"]["houses"]
            assert houses_state["ready"] is False
            assert str(houses / "ezra.yaml") in houses_state["error"]
            assert client.get("/health").status_code == 200  # alive all the same
    finally:
        rt.close()


# -- metrics ----------------------------------------------------------------------


def test_metrics_exposes_build_info(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "uniwizard_build_info" in response.text
    [(labels, value)] = samples(client, "uniwizard_build_info")
    assert value == 1.0
    assert set(labels) == {"version", "python"}


def test_metrics_count_calls_and_durations(client: TestClient, workspace: Path) -> None:
    response = client.post("/api/v1/execute", json=read_call(workspace), headers=AUTH)
    assert response.status_code == 200
    text = client.get("/metrics").text
    assert 'uniwizard_tool_calls_total{house="timmy",' in text
    assert "uniwizard_tool_call_duration_seconds_bucket" in text
    calls = samples(client, "uniwizard_tool_calls_total")
    assert ({"house": "timmy", "tool": "file_read", "mode": "intelligent", "outcome": "ok"}, 1.0) in calls
    counts = samples(client, "uniwizard_tool_call_duration_seconds_count")
    assert ({"house": "timmy", "tool": "file_read"}, 1.0) in counts

    client.post("/api/v1/execute", json=read_call(workspace), headers=AUTH)
    calls = samples(client, "uniwizard_tool_calls_total")
    assert ({"house": "timmy", "tool": "file_read", "mode": "intelligent", "outcome": "ok"}, 2.0) in calls


def test_denied_call_counts_a_policy_denial_with_its_rule(client: TestClient) -> None:
    call = {"house": "ezra", "tool": "http_post", "args": {"url": "http://127.0.0.1:9/"}}
    response = client.post("/api/v1/execute", json=call, headers=AUTH)
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "denied"
    assert result["rule"] == "deny"
    denials = samples(client, "uniwizard_policy_denials_total")
    assert ({"house": "ezra", "tool": "http_post", "rule": "deny"}, 1.0) in denials
    calls = samples(client, "uniwizard_tool_calls_total")
    assert ({"house": "ezra", "tool": "http_post", "mode": "intelligent", "outcome": "denied"}, 1.0) in calls


def test_path_denial_is_labelled_paths(client: TestClient, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    call = {"house": "ezra", "tool": "file_read", "args": {"path": str(outside)}}
    result = client.post("/api/v1/execute", json=call, headers=AUTH).json()
    assert result["status"] == "denied"
    assert result["rule"] == "paths"
    denials = samples(client, "uniwizard_policy_denials_total")
    assert ({"house": "ezra", "tool": "file_read", "rule": "paths"}, 1.0) in denials


# -- the execute API --------------------------------------------------------------


def test_execute_needs_a_token(client: TestClient, workspace: Path) -> None:
    response = client.post("/api/v1/execute", json=read_call(workspace))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong", "Bearer s3cret2", "Bearer ", "Basic s3cret", "s3cret", f"Bearer {TOKEN} extra"],
)
def test_execute_refuses_a_wrong_token(client: TestClient, workspace: Path, header: str) -> None:
    response = client.post("/api/v1/execute", json=read_call(workspace), headers={"Authorization": header})
    assert response.status_code == 401


def test_execute_with_the_token_returns_the_result(client: TestClient, workspace: Path) -> None:
    response = client.post("/api/v1/execute", json=read_call(workspace), headers=AUTH)
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "ok"
    assert result["tool"] == "file_read"
    assert result["house"] == "timmy"
    assert result["mode"] == "intelligent"
    assert result["output"]["content"] == "hello from the workspace\n"
    assert result["provenance_id"] == 1
    assert result["error"] is None


def test_execute_scheme_is_case_insensitive(client: TestClient, workspace: Path) -> None:
    response = client.post("/api/v1/execute", json=read_call(workspace), headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


def test_execute_in_simple_mode_writes_no_provenance(client: TestClient, workspace: Path) -> None:
    result = client.post("/api/v1/execute", json=read_call(workspace, mode="simple"), headers=AUTH).json()
    assert result["status"] == "ok"
    assert result["mode"] == "simple"
    assert result["provenance_id"] is None


def test_execute_tool_failure_is_a_200_with_an_error_result(client: TestClient, workspace: Path) -> None:
    call = {"house": "timmy", "tool": "file_read", "args": {"path": str(workspace / "missing.txt")}}
    response = client.post("/api/v1/execute", json=call, headers=AUTH)
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "error"
    assert result["error_type"] == "ToolExecutionError"


def test_execute_unknown_tool_is_an_error_result(client: TestClient) -> None:
    call = {"house": "timmy", "tool": "no_such_tool", "args": {}}
    result = client.post("/api/v1/execute", json=call, headers=AUTH).json()
    assert result["status"] == "error"
    assert result["error_type"] == "ToolCallError"
    calls = samples(client, "uniwizard_tool_calls_total")
    assert ({"house": "timmy", "tool": "unknown", "mode": "intelligent", "outcome": "error"}, 1.0) in calls


def test_execute_unknown_house_is_404(client: TestClient, workspace: Path) -> None:
    response = client.post("/api/v1/execute", json=read_call(workspace, house="gandalf"), headers=AUTH)
    assert response.status_code == 404
    assert "unknown house 'gandalf'" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"house": "timmy", "tool": "file_read", "args": {}, "surprise": 1},
        {"tool": "file_read"},
        {"house": "timmy", "tool": "file_read", "mode": "reckless"},
        {"house": "timmy", "tool": "file_read", "timeout": -1},
        {"house": "timmy", "tool": "file_read", "args": ["not", "a", "mapping"]},
    ],
)
def test_execute_malformed_body_is_422(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/api/v1/execute", json=body, headers=AUTH)
    assert response.status_code == 422


def test_execute_is_off_without_a_token(runtime: Runtime, workspace: Path) -> None:
    with TestClient(create_app(runtime, api_token=None)) as client:
        response = client.post("/api/v1/execute", json=read_call(workspace), headers=AUTH)
        assert response.status_code == 503
        assert "api_token" in response.json()["detail"]
        assert client.get("/health").status_code == 200


def test_read_before_write_spans_the_calls_of_one_task(client: TestClient, workspace: Path) -> None:
    target = str(workspace / "notes.txt")
    write = {"house": "ezra", "tool": "file_write", "args": {"path": target, "content": "new\n"}, "task": "t-1"}
    first = client.post("/api/v1/execute", json=write, headers=AUTH).json()
    assert first["status"] == "denied"
    assert first["rule"] == "read_before_write"
    read = {"house": "ezra", "tool": "file_read", "args": {"path": target}, "task": "t-1"}
    assert client.post("/api/v1/execute", json=read, headers=AUTH).json()["status"] == "ok"
    second = client.post("/api/v1/execute", json=write, headers=AUTH).json()
    assert second["status"] == "ok", second
    assert (workspace / "notes.txt").read_text() == "new\n"
    # another task has read nothing
    other = client.post("/api/v1/execute", json={**write, "task": "t-2"}, headers=AUTH).json()
    assert other["status"] == "denied"


def test_metrics_answers_without_a_redirect(client: TestClient) -> None:
    response = client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


def test_health_is_503_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data directory should be")
    settings = Settings(host="h", data_dir=tmp_path / "data", workspace=tmp_path)
    app = create_app(Runtime(settings, metrics_registry=CollectorRegistry()), api_token="t")
    response = TestClient(app).get("/health")
    assert response.status_code == 503
    assert response.json()["store_writable"] is False
