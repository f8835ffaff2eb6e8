"""The shipped test-world helpers: git as a house, and systemd's stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from uni_wizard.errors import ToolExecutionError
from uni_wizard.testing import RecordingServices, git_as


def test_git_as_commits_as_the_house_with_no_user_configuration(tmp_path: Path) -> None:
    git_as("init", "-q", "-b", "main", cwd=tmp_path)
    (tmp_path / "a.txt").write_text("a\n")
    git_as("add", "a.txt", cwd=tmp_path)
    git_as("commit", "-q", "-m", "first", cwd=tmp_path, name="Ezra", email="ezra@mesh.invalid")
    assert git_as("log", "-1", "--format=%an <%ae> %s", cwd=tmp_path) == "Ezra <ezra@mesh.invalid> first"


def test_a_failing_git_names_the_command_and_never_shows_a_token(tmp_path: Path) -> None:
    with pytest.raises(ToolExecutionError, match=r"git clone -q http://\*\*\*@127\.0\.0\.1:9/x\.git") as failed:
        git_as("clone", "-q", "http://bezalel:s3cret-token@127.0.0.1:9/x.git", "x", cwd=tmp_path)
    assert "s3cret-token" not in str(failed.value)


async def test_recording_services_record_and_call_back_only_on_waited_restarts() -> None:
    restarted: list[int] = []
    services = RecordingServices(on_restart=lambda: restarted.append(1))
    await services.reload(["uni-wizard@worker.service"])
    await services.restart(["uni-wizard@worker.service"])
    await services.restart(["uni-wizard@reconciler.service"], wait=False)
    assert services.calls == [
        "reload:uni-wizard@worker.service",
        "restart:uni-wizard@worker.service",
        "restart:uni-wizard@reconciler.service",
    ]
    assert restarted == [1]
