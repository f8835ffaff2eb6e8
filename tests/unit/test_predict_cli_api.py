"""``uni-wizard predict`` (both forms, --json, bad input) and ``GET /api/v1/predict`` (behind the API token), on a
real store that learned from real Harness calls."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard import Harness, Mode
from uni_wizard.cli import main
from uni_wizard.config import Settings
from uni_wizard.harness.runtime import Runtime
from uni_wizard.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

TOKEN = "s3cret"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir, workspace = tmp_path / "data", tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.md").write_text("hello\n")
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(workspace))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    runtime = Runtime(Settings(), metrics_registry=CollectorRegistry())
    ezra = Harness("ezra", Mode.INTELLIGENT, runtime=runtime)
    for _ in range(3):
        assert ezra.execute("file_read", path=str(workspace / "notes.md")).ok
    assert not ezra.execute("file_read", path=str(workspace / "missing.md")).ok
    runtime.close()
    return data_dir


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["predict", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_predict_a_tool_call(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--tool", "file_read", "--house", "ezra", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert (found["house"], found["tool"], found["samples"]) == ("ezra", "file_read", 4)
    assert 0.5 < found["success_probability"] < 0.9 and 0 < found["uncertainty"] < 0.5
    assert found["likely_failure"] is False and found["basis"] == "ezra's file_read"
    code, out = run(capsys, "--tool", "file_read", "--house", "ezra")
    assert code == 0, out
    assert "ezra · file_read" in out and "predicted success" in out and "from 4 outcomes" in out
    code, out = run(capsys, "--tool", "git_status", "--house", "bezalel", "--args", "repo_path=mesh/api", "--json")
    assert code == 0, out
    assert json.loads(out)["shape"] == "mesh/api" and json.loads(out)["samples"] == 0


def test_predict_an_issue(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--issue", "The parser crashes on empty input", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert found["kind"] == "bug" and found["chosen"] == "bezalel"
    assert {h["house"] for h in found["houses"]} >= {"bezalel", "ezra"}
    assert all(0 < h["predicted_success"] < 1 for h in found["houses"])
    code, out = run(capsys, "--issue", "The parser crashes on empty input")
    assert code == 0, out
    assert "chosen: bezalel" in out and "predicted success" in out


@pytest.mark.parametrize(
    "args",
    [
        ("--tool", "file_read"),  # no house
        ("--issue", "x", "--tool", "file_read", "--house", "ezra"),  # both forms
        ("--tool", "no_such_tool", "--house", "ezra"),
        ("--tool", "file_read", "--house", "nobody"),
        ("--tool", "file_read", "--house", "ezra", "--args", "novalue"),
        ("--issue", "   "),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    code, out = run(capsys, *args)
    assert code == 2, out
    assert len(out.strip().splitlines()) == 1, out


def test_the_predict_api_is_behind_the_token(data_dir: Path) -> None:
    runtime = Runtime(Settings(), metrics_registry=CollectorRegistry())
    try:
        with TestClient(create_app(runtime, api_token=TOKEN)) as client:
            assert client.get("/api/v1/predict", params={"tool": "file_read", "house": "ezra"}).status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            answer = client.get("/api/v1/predict", params={"tool": "file_read", "house": "ezra"}, headers=auth)
            assert answer.status_code == 200 and answer.json()["samples"] == 4
            issue = client.get("/api/v1/predict", params={"issue": "The parser crashes"}, headers=auth)
            assert issue.status_code == 200 and issue.json()["chosen"] == "bezalel"
            assert (
                client.get("/api/v1/predict", params={"tool": "nope", "house": "ezra"}, headers=auth).status_code == 404
            )
            assert client.get("/api/v1/predict", params={"house": "ezra"}, headers=auth).status_code == 422
    finally:
        runtime.close()
