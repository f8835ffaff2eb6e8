"""``uni-wizard cascade status|ask`` through ``main(argv)`` against fake model servers configured in a temporary
cascade.yaml, and ``GET /api/v1/cascade`` plus ``/ready`` on the app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from cascade_helpers import build, provider

from uni_wizard.cli import main
from uni_wizard.testing import make_runtime
from uni_wizard.testing.model_servers import FakeOllama, FakeOpenAI, Fault, closed_port
from uni_wizard.web.app import create_app
from uni_wizard.web.cascade_routes import cascade_router


@pytest.fixture
def servers() -> Iterator[tuple[FakeOllama, FakeOpenAI]]:
    with FakeOllama(models=("llama3.2:3b",)) as ollama, FakeOpenAI(models=("smollm2",)) as llamacpp:
        yield ollama, llamacpp  # type: ignore[misc]


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *providers: dict[str, object]) -> Path:
    path = tmp_path / "cascade.yaml"
    data = {"defaults": {"retry": {"attempts": 1}}, "providers": list(providers)}
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("UNIWIZARD_CASCADE_CONFIG", str(path))
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("UNIWIZARD_PORT", str(closed_port()))  # no daemon answers there
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["cascade", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ask_prints_the_answer_and_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    servers: tuple[FakeOllama, FakeOpenAI],
) -> None:  # fmt: skip
    ollama, llamacpp = servers
    ollama.fault = Fault.BUSY
    configure(tmp_path, monkeypatch, provider("ollama", ollama), provider("llamacpp", llamacpp))
    code, out, err = run(capsys, "ask", "Say hello", "--system", "Be brief.")
    assert code == 0, err
    assert out.strip() == "Hello from the fake model."
    assert "provider: llamacpp  model: smollm2  fallbacks: ollama -> llamacpp (unavailable)" in err
    assert [m["role"] for m in llamacpp.requests[0][2]["messages"]] == ["system", "user"]
    code, out, _ = run(capsys, "ask", "Say hello", "--json")
    assert code == 0 and json.loads(out)["provider"] == "llamacpp"


def test_ask_exits_4_when_the_cascade_is_exhausted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(tmp_path, monkeypatch, provider("ollama", f"http://127.0.0.1:{closed_port()}"))
    code, out, err = run(capsys, "ask", "anyone?")
    assert code == 4 and out == ""
    assert "every provider failed: ollama (fake-model): unavailable" in err


def test_ask_exits_4_when_the_answer_broke_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    servers: tuple[FakeOllama, FakeOpenAI],
) -> None:  # fmt: skip
    ollama, _ = servers
    ollama.fault = Fault.ERROR_AFTER_FIRST_TOKEN
    configure(tmp_path, monkeypatch, provider("ollama", ollama))
    code, out, err = run(capsys, "ask", "hi")
    assert code == 4 and out.startswith("Hello")
    assert "the answer broke off after it started" in err


def test_a_bad_cascade_file_exits_2_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = configure(tmp_path, monkeypatch)
    path.write_text(
        "providers:\n  - {name: x, kind: ollama, url: 'http://127.0.0.1:1', models: [{name: m, context: 0}]}\n"
    )
    code, _, err = run(capsys, "status")
    assert code == 2 and f"{path}:providers.0.models.0.context" in err


def test_status_without_a_daemon_probes_from_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    servers: tuple[FakeOllama, FakeOpenAI],
) -> None:  # fmt: skip
    ollama, _ = servers
    monkeypatch.setenv("HOSTED_KEY", "sk-cli-secret")
    configure(
        tmp_path, monkeypatch, provider("ollama", ollama),
        provider("dead", f"http://127.0.0.1:{closed_port()}", kind="openai-compatible", api_key_env="HOSTED_KEY"),
    )  # fmt: skip
    code, out, err = run(capsys, "status", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["source"].startswith("this process")
    rows = {row["name"]: row for row in data["providers"]}
    assert rows["ollama"]["reachable"] is True and rows["ollama"]["breaker"] == "closed"
    assert rows["ollama"]["models"][0]["present"] is True
    assert rows["dead"]["reachable"] is False and rows["dead"]["api_key_from"] == "env HOSTED_KEY"
    code, table, _ = run(capsys, "status", "--local")
    assert code == 0 and "ollama" in table and "dead" in table and "closed" in table
    assert "sk-cli-secret" not in out + table


async def test_the_api_route_and_ready_show_the_cascade(tmp_path: Path, servers: tuple[FakeOllama, FakeOpenAI]) -> None:
    ollama, _ = servers
    dead = provider("dead", f"http://127.0.0.1:{closed_port()}", api_key_env="K")
    cascade = build(dead, provider("ollama", ollama), required=True, env={"K": "sk-api-secret"})
    runtime = make_runtime(tmp_path)
    app = create_app(runtime, routers=[cascade_router(cascade)], readiness={"cascade": cascade.readiness})
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
            body = await client.get("/api/v1/cascade")
            assert body.status_code == 200
            assert [p["name"] for p in body.json()["providers"]] == ["dead", "ollama"]
            assert "sk-api-secret" not in body.text
            ollama.stop()
            await cascade.probe_once()
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["components"]["cascade"]["usable"] == []
            ollama.start()
            await cascade.probe_once()
            ready = await client.get("/ready")
            assert ready.status_code == 200 and ready.json()["components"]["cascade"]["usable"] == ["ollama"]
    finally:
        await cascade.aclose()
        runtime.close()
