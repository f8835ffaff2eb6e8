"""Bezalel may not push the default branch, whatever its clone says (finding 2), against a devforge.

The rule compares the pushed branch with the default branch *the forge records*; before, it trusted
what the house can rewrite in its clone: ``refs/remotes/origin/HEAD`` pointed at another branch, or a
remote under another name plus ``init.defaultBranch``. Each variant is pushed through Bezalel's
Harness; the push must be denied and the forge's ``main`` must not move, while ``bezalel/issue-N``
still goes through. alice's token is in the ToolEnv and may push ``main`` (she owns the repository):
only the policy stands in the way.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_devforge import Forge, forge_fixture  # noqa: F401
from prometheus_client import CollectorRegistry

from uni_wizard.config import Settings
from uni_wizard.errors import GitRefused
from uni_wizard.harness.core import Harness
from uni_wizard.harness.result import Call, Status
from uni_wizard.harness.runtime import Runtime
from uni_wizard.policy.model import Mode
from uni_wizard.tools.env import ToolEnv


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def runtime(forge: Forge, tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(host="test-host", data_dir=tmp_path / "data", workspace=tmp_path / "workspace")
    env = ToolEnv(gitea_url=forge.url, gitea_token=forge.alice.token)
    rt = Runtime(settings, env=env, metrics_registry=CollectorRegistry())
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def work(forge: Forge, runtime: Runtime) -> tuple[str, Path]:
    """alice's repository (default branch ``main``) and a clone of it in Bezalel's workspace, one commit ahead."""
    repo = forge.new_repo()
    path = runtime.settings.workspace / "clone"
    subprocess.run(["git", "clone", "-q", f"{forge.url}{repo}.git", str(path)], check=True, timeout=60)
    git(path, "config", "user.name", "bezalel")
    git(path, "config", "user.email", "bezalel@example.org")
    (path / "change.txt").write_text("a change that belongs in a pull request\n")
    git(path, "add", "change.txt")
    git(path, "commit", "-q", "-m", "change")
    return repo, path


def main_tip(forge: Forge, repo: str) -> str:
    r = forge.alice.get(f"/repos/{repo}/branches/main")
    assert r.status_code == 200, r.text
    return str(r.json()["commit"]["id"])


async def push(runtime: Runtime, path: Path, **args: object) -> tuple[Status, str | None, str | None]:
    result = await Harness("bezalel", Mode.INTELLIGENT, runtime=runtime).run(
        Call("git_push", {"repo_path": str(path), **args})
    )
    return result.status, result.rule, result.error


async def test_origin_head_pointed_elsewhere_does_not_open_main(
    forge: Forge, runtime: Runtime, work: tuple[str, Path]
) -> None:
    repo, path = work
    before = main_tip(forge, repo)
    r = forge.alice.post(f"/repos/{repo}/branches", json={"new_branch_name": "decoy"})
    assert r.status_code == 201, r.text  # a real remote branch for origin/HEAD to point at
    git(path, "fetch", "-q", "origin")
    git(path, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/decoy")

    status, rule, error = await push(runtime, path, branch="main")
    assert (status, rule) == (Status.DENIED, "push_default_branch"), error
    assert "may not push the default branch 'main'" in (error or "")
    assert main_tip(forge, repo) == before


async def test_a_remote_alias_and_init_default_branch_do_not_open_main(
    forge: Forge, runtime: Runtime, work: tuple[str, Path]
) -> None:
    repo, path = work
    before = main_tip(forge, repo)
    git(path, "remote", "add", "upstream", f"{forge.url}{repo}.git")  # no upstream/HEAD at all
    git(path, "config", "init.defaultBranch", "trunk")

    status, rule, error = await push(runtime, path, remote="upstream", branch="main")
    assert (status, rule) == (Status.DENIED, "push_default_branch"), error
    status, rule, error = await push(runtime, path, remote="upstream")  # the current branch: main
    assert (status, rule) == (Status.DENIED, "push_default_branch"), error
    assert main_tip(forge, repo) == before

    # the decision is recorded with the facts it was taken on
    (record,) = runtime.provenance.tail(1)
    assert '"default_branch":"main"' in record.decision_json and f'"repository":"{repo}"' in record.decision_json


async def test_an_issue_branch_still_goes_through(forge: Forge, runtime: Runtime, work: tuple[str, Path]) -> None:
    repo, path = work
    before = main_tip(forge, repo)
    git(path, "switch", "-q", "-c", "bezalel/issue-7")
    status, _rule, error = await push(runtime, path, branch="bezalel/issue-7", set_upstream=True)
    assert status is Status.OK, error
    r = forge.alice.get(f"/repos/{repo}/branches/bezalel/issue-7")
    assert r.status_code == 200 and r.json()["commit"]["id"] == git(path, "rev-parse", "HEAD")
    assert main_tip(forge, repo) == before
    assert git(path, "rev-parse", "--abbrev-ref", "bezalel/issue-7@{upstream}") == "origin/bezalel/issue-7"


async def test_a_push_whose_target_cannot_be_established_is_not_made(
    forge: Forge, runtime: Runtime, work: tuple[str, Path]
) -> None:
    """A ``pushurl`` would send the push somewhere else than the URL the rule looked at: refused, and
    nothing moves. (The Harness lets the facts hook's error through today; see the report.)"""
    repo, path = work
    before = main_tip(forge, repo)
    git(path, "config", "remote.origin.pushurl", f"{forge.url}{forge.new_repo()}.git")
    try:
        status, _rule, error = await push(runtime, path, branch="main")
    except GitRefused as exc:
        assert "remote.origin.pushurl" in str(exc)
    else:
        assert status is not Status.OK and "remote.origin.pushurl" in (error or "")
    assert main_tip(forge, repo) == before
