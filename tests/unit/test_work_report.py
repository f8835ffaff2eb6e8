"""The report comment and its artifacts, written to a real temporary directory."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.errors import PlaybookError
from uni_wizard.harness.result import Result, Status
from uni_wizard.policy.model import Mode
from uni_wizard.work.report import (
    INLINE_LIMIT,
    ArtifactStore,
    render_blocked,
    render_report,
    report_marker,
)
from uni_wizard.work.types import Step, StepOutcome


def outcome(
    tool: str,
    output: Any = None,
    *,
    name: str = "",
    status: Status = Status.OK,
    provenance_id: int | None = None,
    duration: float = 0.0,
    failures: tuple[str, ...] = (),
    **kwargs: Any,
) -> StepOutcome:
    result = Result(
        status=status,
        tool=tool,
        house="bezalel",
        mode=Mode.INTELLIGENT,
        output=output,
        provenance_id=provenance_id,
        duration=duration,
        **kwargs,
    )
    return StepOutcome(Step(tool, name=name), result, failures)


def render(store: ArtifactStore, outcomes: list[StepOutcome], **kwargs: Any) -> str:
    options: dict[str, Any] = {
        "artifacts": store,
        "repo": "ops/mesh",
        "pr_url": "http://forge/ops/mesh/pulls/3",
        "status": "review",
        "reason": "every step passed; the pull request waits for review",
        "host": "host1",
    }
    options.update(kwargs)
    return render_report("bezalel", 7, outcomes, **options)


# -- ArtifactStore --------------------------------------------------------------------------------


def test_save_writes_json_atomically_and_returns_path_sha_size(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    data = {"tool": "run_tests", "output": {"tail": "x" * 5000}}
    saved = store.save("ops/mesh", 7, 2, "run_tests", data)
    assert saved.path == "ops__mesh/7/2-run_tests.json"
    written = (tmp_path / saved.path).read_bytes()
    assert saved.sha256 == hashlib.sha256(written).hexdigest()
    assert saved.size == len(written)
    assert json.loads(written) == data
    assert [p.name for p in (tmp_path / "ops__mesh" / "7").iterdir()] == ["2-run_tests.json"]  # no temp file left


def test_save_replaces_and_keeps_names_inside_the_root(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.save("ops/mesh", 7, 1, "file_read", {"v": 1})
    saved = store.save("ops/mesh", 7, 1, "file_read", {"v": 2})
    assert json.loads((tmp_path / saved.path).read_text()) == {"v": 2}
    odd = store.save("../../etc", 7, 1, "../x y", [])
    assert odd.path == "etc/7/1-x-y.json"
    assert (tmp_path / odd.path).resolve().is_relative_to(tmp_path.resolve())


# -- render_report --------------------------------------------------------------------------------


def test_report_has_marker_table_short_outputs_and_the_pr(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    outcomes = [
        outcome(
            "file_write",
            {"path": "/w/a.md", "bytes_written": 3},
            name="write | the page",
            provenance_id=41,
            duration=0.012,
        ),
        outcome("git_status", "clean working tree\n", provenance_id=42, duration=1.5),
        outcome("system_info", None),
    ]
    body = render(store, outcomes)
    assert body.startswith(report_marker("bezalel", 7))
    assert report_marker("bezalel", 7) == "<!-- uni-wizard:report house=bezalel issue=7 -->"
    assert "**Work report** by `bezalel`: **review**" in body
    assert "every step passed; the pull request waits for review" in body
    assert "Pull request: http://forge/ops/mesh/pulls/3" in body
    assert "| 1 | write \\| the page | `file_write` | ok | #41 | 0.01 s |" in body
    assert "| 2 | - | `git_status` | ok | #42 | 1.50 s |" in body
    assert "| 3 | - | `system_info` | ok | - | 0.00 s |" in body
    assert '```json\n{\n  "path": "/w/a.md",\n  "bytes_written": 3\n}\n```' in body
    assert "```text\nclean working tree\n\n```" in body
    assert "`host1`" in body
    assert not (tmp_path / "artifacts").exists()  # nothing was long enough to be an artifact


def test_long_output_becomes_an_artifact_named_by_path_and_sha(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    long_output = {"tail": "line\n" * 400, "passed": 3}
    body = render(
        store, [outcome("file_read", {"content": "short"}), outcome("run_tests", long_output, provenance_id=9)]
    )
    match = re.search(r"saved on `host1` as artifact `([^`]+)` \(([\d,]+) bytes, sha256 `([0-9a-f]{64})`\)", body)
    assert match is not None, body
    path, size, sha = match.groups()
    assert path == "ops__mesh/7/2-run_tests.json"
    written = (tmp_path / path).read_bytes()
    assert hashlib.sha256(written).hexdigest() == sha
    assert int(size.replace(",", "")) == len(written)
    saved = json.loads(written)
    assert saved["output"] == long_output
    assert (saved["house"], saved["issue"], saved["step"], saved["tool"], saved["provenance_id"]) == (
        "bezalel",
        7,
        2,
        "run_tests",
        9,
    )
    assert "line\nline" not in body  # the long output is not in the comment
    assert '"content": "short"' in body


def test_the_inline_limit_is_1500_characters(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    exactly = "x" * INLINE_LIMIT
    body = render(store, [outcome("file_read", exactly), outcome("file_read", exactly + "y")])
    assert f"```text\n{exactly}\n```" in body
    assert "1,501 characters of text" in body
    assert (tmp_path / "ops__mesh/7/2-file_read.json").exists()
    assert not (tmp_path / "ops__mesh/7/1-file_read.json").exists()


def test_failures_errors_and_denials_are_shown(tmp_path: Path) -> None:
    outcomes = [
        outcome("run_tests", {"passed": 0}, failures=("expected output.passed >= 1, but it is 0",), provenance_id=5),
        outcome("file_write", None, status=Status.ERROR, error="disk full", error_type="ToolExecutionError"),
        outcome("http_post", None, status=Status.DENIED, reason="ezra may not use network:http_post"),
    ]
    body = render(ArtifactStore(tmp_path), outcomes, status="blocked", reason="step 1 failed", pr_url=None)
    assert "| 1 | - | `run_tests` | expectation failed | #5 |" in body
    assert "| 2 | - | `file_write` | error | - |" in body
    assert "| 3 | - | `http_post` | denied | - |" in body
    assert "- expectation failed: expected output.passed >= 1, but it is 0" in body
    assert "Error (ToolExecutionError):\n```text\ndisk full\n```" in body
    assert "```text\nezra may not use network:http_post\n```" in body
    assert "Pull request" not in body


def test_outputs_with_backticks_get_a_longer_fence_and_secrets_are_redacted(tmp_path: Path) -> None:
    body = render(ArtifactStore(tmp_path), [outcome("file_read", {"content": "a ```` b", "api_token": "s3cret"})])
    assert "`````json\n" in body
    assert "s3cret" not in body and '"api_token": "***"' in body


def test_no_steps(tmp_path: Path) -> None:
    assert "No step ran." in render(ArtifactStore(tmp_path), [])


def test_many_medium_outputs_spill_into_artifacts(tmp_path: Path) -> None:
    outcomes = [outcome("file_read", "z" * 1_400) for _ in range(40)]
    body = render(ArtifactStore(tmp_path), outcomes)
    assert len(body) < 60_000
    assert len(list((tmp_path / "ops__mesh" / "7").iterdir())) > 0


# -- render_blocked -------------------------------------------------------------------------------


def test_blocked_by_a_bad_playbook_says_what_and_where() -> None:
    error = PlaybookError("line 14, step 2 (file_write): unknown argument 'contnt'", line=14, step=2)
    body = render_blocked("bezalel", 7, error)
    assert body.startswith(report_marker("bezalel", 7))
    assert "line 14, step 2 (file_write): unknown argument 'contnt'" in body
    assert "(line 14 of the issue body)" in body
    assert "`status/blocked`" in body
    assert "Nothing was run" in body


@pytest.mark.parametrize("label", ["status/blocked", "state::blocked"])
def test_blocked_with_a_sentence_and_a_configured_label(label: str) -> None:
    body = render_blocked("ezra", 3, "This issue needs a playbook or a configured model.", blocked_label=label)
    assert "This issue needs a playbook or a configured model." in body
    assert f"`{label}`" in body
