"""The git tools against real repositories in a temporary directory; the remote is a repository on a
devforge served over loopback HTTP (git_push and git_pull talk to the configured forge only)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest_devforge import Forge, forge_fixture  # noqa: F401

from uni_wizard.errors import GitRefused, ToolCallError, ToolExecutionError, TransientToolError
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.git import (
    git_branch_list,
    git_checkout,
    git_commit,
    git_diff,
    git_log,
    git_pull,
    git_push,
    git_push_facts,
    git_status,
)


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's and the system's git config out of the tests."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def init_repo(path: Path, branch: str = "main") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    git(path, "config", "user.name", "Test Wizard")
    git(path, "config", "user.email", "wizard@example.org")
    return path


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", "--", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def clone(remote: Path | str, path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True, capture_output=True)
    git(path, "config", "user.name", "Test Wizard")
    git(path, "config", "user.email", "wizard@example.org")
    return path


def tip(forge: Forge, repo: str, branch: str) -> str | None:
    """The sha of ``branch`` on the forge (None when it does not exist)."""
    r = forge.alice.get(f"/repos/{repo}/branches/{branch}")
    return r.json()["commit"]["id"] if r.status_code == 200 else None


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "work")
    commit_file(repo, "a.txt", "one\ntwo\nthree\n", "first")
    return repo


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A local bare remote whose default branch is ``trunk``, with one commit (for the local tools)."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "trunk", str(bare)], check=True)
    seed = init_repo(tmp_path / "seed", branch="trunk")
    commit_file(seed, "README", "hello\n", "seed")
    git(seed, "push", "-q", str(bare), "trunk")
    return bare


@pytest.fixture
def origin(forge: Forge) -> str:
    """A repository of alice's on the devforge whose default branch is ``trunk``, with one commit: its URL."""
    name = f"g-{uuid.uuid4().hex[:8]}"
    r = forge.alice.post("/user/repos", json={"name": name, "auto_init": True, "default_branch": "trunk"})
    assert r.status_code == 201, r.text
    return f"{forge.url}alice/{name}.git"


@pytest.fixture
def env(forge: Forge) -> ToolEnv:
    """What the Harness gives the tools: the forge and alice's token."""
    return ToolEnv(gitea_url=forge.url, gitea_token=forge.alice.token)


# ---------------------------------------------------------------- status / log / diff / branches


async def test_status_staged_unstaged_untracked(repo: Path) -> None:
    (repo / "a.txt").write_text("one\n")
    (repo / "b.txt").write_text("new\n")
    git(repo, "add", "b.txt")
    (repo / "c.txt").write_text("stray\n")
    status = await git_status(repo_path=str(repo))
    assert status["branch"] == "main"
    assert status["head"] == git(repo, "rev-parse", "HEAD")
    assert status["staged"] == [{"path": "b.txt", "status": "A"}]
    assert status["unstaged"] == [{"path": "a.txt", "status": "M"}]
    assert status["untracked"] == ["c.txt"]
    assert status["clean"] is False


async def test_status_clean_and_unborn(repo: Path, tmp_path: Path) -> None:
    assert (await git_status(repo_path=str(repo)))["clean"] is True
    empty = init_repo(tmp_path / "empty")
    status = await git_status(repo_path=str(empty))
    assert status["head"] is None
    assert status["branch"] == "main"


async def test_status_upstream_ahead(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "clone")
    commit_file(work, "x.txt", "x\n", "local work")
    status = await git_status(repo_path=str(work))
    assert status["branch"] == "trunk"
    assert status["upstream"] == "origin/trunk"
    assert (status["ahead"], status["behind"]) == (1, 0)


async def test_log_empty_repo_is_empty_list(tmp_path: Path) -> None:
    empty = init_repo(tmp_path / "empty")
    assert await git_log(repo_path=str(empty)) == {"commits": []}


async def test_log_commits_newest_first(repo: Path) -> None:
    second = commit_file(repo, "b.txt", "b\n", "second: with | pipes")
    commits = (await git_log(repo_path=str(repo)))["commits"]
    assert [c["subject"] for c in commits] == ["second: with | pipes", "first"]
    assert commits[0]["sha"] == second
    assert commits[0]["author"] == "Test Wizard"
    assert commits[0]["email"] == "wizard@example.org"
    assert "T" in commits[0]["date"]
    assert len((await git_log(repo_path=str(repo), max_count=1))["commits"]) == 1
    only_a = (await git_log(repo_path=str(repo), path="a.txt"))["commits"]
    assert [c["subject"] for c in only_a] == ["first"]


async def test_diff_counts_from_numstat(repo: Path) -> None:
    (repo / "a.txt").write_text("one\nTWO\nthree\nfour\n")
    diff = await git_diff(repo_path=str(repo))
    assert (diff["files_changed"], diff["insertions"], diff["deletions"]) == (1, 2, 1)
    assert "+TWO" in diff["diff"]
    assert diff["truncated"] is False
    assert (await git_diff(repo_path=str(repo), staged=True))["files_changed"] == 0
    git(repo, "add", "a.txt")
    staged = await git_diff(repo_path=str(repo), staged=True, stat_only=True)
    assert (staged["files_changed"], staged["insertions"], staged["deletions"]) == (1, 2, 1)
    assert staged["diff"] == ""
    against = await git_diff(repo_path=str(repo), ref="HEAD")
    assert against["insertions"] == 2


async def test_branch_list_local_and_remote(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "clone")
    git(work, "branch", "feature")
    local = (await git_branch_list(repo_path=str(work)))["branches"]
    by_name = {b["name"]: b for b in local}
    assert set(by_name) == {"feature", "trunk"}
    assert by_name["trunk"]["current"] is True
    assert by_name["trunk"]["upstream"] == "origin/trunk"
    assert by_name["feature"] == {
        "name": "feature",
        "sha": git(work, "rev-parse", "HEAD"),
        "current": False,
        "upstream": None,
    }
    remote_branches = (await git_branch_list(repo_path=str(work), remote=True))["branches"]
    assert [b["name"] for b in remote_branches] == ["origin/trunk"]  # origin/HEAD is a pointer, left out


# ---------------------------------------------------------------- checkout / commit


async def test_checkout_create_and_idempotent(repo: Path) -> None:
    created = await git_checkout(repo_path=str(repo), branch="feature", create=True)
    assert created["changed"] is True
    assert created["previous"] == "main"
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "feature"
    again = await git_checkout(repo_path=str(repo), branch="feature")
    assert again["changed"] is False
    back = await git_checkout(repo_path=str(repo), branch="main")
    assert back["changed"] is True
    with pytest.raises(ToolExecutionError, match="git switch"):
        await git_checkout(repo_path=str(repo), branch="does-not-exist")


async def test_commit_add_all_paths_and_author(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n")
    (repo / "new.txt").write_text("new\n")
    result = await git_commit(repo_path=str(repo), message="everything", add_all=True)
    assert result == {"sha": git(repo, "rev-parse", "HEAD"), "branch": "main", "files_changed": 2}
    (repo / "p.txt").write_text("p\n")
    (repo / "q.txt").write_text("q\n")
    only_p = await git_commit(
        repo_path=str(repo), message="just p", paths=["p.txt"], author="Other Person <other@example.org>"
    )
    assert only_p["files_changed"] == 1
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Other Person <other@example.org>"
    assert (await git_status(repo_path=str(repo)))["untracked"] == ["q.txt"]


async def test_commit_nothing_is_an_error(repo: Path) -> None:
    with pytest.raises(ToolExecutionError, match="nothing to commit"):
        await git_commit(repo_path=str(repo), message="empty")
    (repo / "a.txt").write_text("unstaged only\n")
    with pytest.raises(ToolExecutionError, match="nothing to commit"):
        await git_commit(repo_path=str(repo), message="still empty")


async def test_commit_validates_via_spec(repo: Path) -> None:
    args = git_commit.validate({"repo_path": str(repo), "message": "m"})
    assert args["paths"] is None
    assert args["add_all"] is False


# ---------------------------------------------------------------- remotes: push / pull / facts
# These pushed to and pulled from a local bare repository before; git_push and git_pull now talk to the
# configured forge only (an http(s) URL on ToolEnv.gitea_url), so the remote is a devforge repository.


async def test_push_new_branch_sets_upstream_then_up_to_date(
    forge: Forge, origin: str, env: ToolEnv, tmp_path: Path
) -> None:
    work = clone(origin, tmp_path / "clone")
    await git_checkout(repo_path=str(work), branch="feature", create=True)
    commit_file(work, "f.txt", "f\n", "feature work")
    pushed = await git_push(repo_path=str(work), env=env, set_upstream=True)
    assert pushed["branch"] == "feature"
    assert pushed["status"] == "new"
    assert tip(forge, origin.removeprefix(forge.url).removesuffix(".git"), "feature") == git(work, "rev-parse", "HEAD")
    assert (await git_status(repo_path=str(work)))["upstream"] == "origin/feature"
    assert (await git_push(repo_path=str(work), env=env, branch="feature"))["status"] == "up_to_date"


async def test_push_rejected_non_fast_forward(origin: str, env: ToolEnv, tmp_path: Path) -> None:
    first = clone(origin, tmp_path / "one")
    second = clone(origin, tmp_path / "two")
    commit_file(first, "x.txt", "1\n", "from one")
    await git_push(repo_path=str(first), env=env)
    commit_file(second, "y.txt", "2\n", "from two")
    with pytest.raises(ToolExecutionError, match="rejected") as info:
        await git_push(repo_path=str(second), env=env)
    assert not isinstance(info.value, TransientToolError)


async def test_force_push_takes_a_lease_on_what_was_last_seen(origin: str, env: ToolEnv, tmp_path: Path) -> None:
    first = clone(origin, tmp_path / "one")
    second = clone(origin, tmp_path / "two")
    commit_file(first, "x.txt", "1\n", "from one")
    await git_push(repo_path=str(first), env=env)
    commit_file(second, "y.txt", "2\n", "from two")
    with pytest.raises(ToolExecutionError, match="stale info|rejected"):
        await git_push(repo_path=str(second), env=env, force=True)  # the remote moved since second last saw it
    await git_pull(repo_path=str(second), env=env, ff_only=False)
    git(second, "reset", "-q", "--hard", "HEAD~1")
    assert (await git_push(repo_path=str(second), env=env, force=True))["status"] == "forced"


async def test_pull_fast_forward(origin: str, env: ToolEnv, tmp_path: Path) -> None:
    first = clone(origin, tmp_path / "one")
    second = clone(origin, tmp_path / "two")
    new = commit_file(first, "x.txt", "1\n", "from one")
    await git_push(repo_path=str(first), env=env)
    pulled = await git_pull(repo_path=str(second), env=env)
    assert pulled["updated"] is True
    assert pulled["head_after"] == new
    assert git(second, "rev-parse", "origin/trunk") == new  # the tracking branch follows
    assert (await git_pull(repo_path=str(second), env=env, branch="trunk"))["updated"] is False


async def test_pull_ff_only_refuses_divergence(origin: str, env: ToolEnv, tmp_path: Path) -> None:
    first = clone(origin, tmp_path / "one")
    second = clone(origin, tmp_path / "two")
    commit_file(first, "x.txt", "1\n", "from one")
    await git_push(repo_path=str(first), env=env)
    commit_file(second, "y.txt", "2\n", "from two")
    with pytest.raises(ToolExecutionError, match="git pull"):
        await git_pull(repo_path=str(second), env=env)
    merged = await git_pull(repo_path=str(second), env=env, ff_only=False)
    assert merged["updated"] is True


async def test_unreachable_forge_is_transient(repo: Path) -> None:
    git(repo, "remote", "add", "dead", "http://127.0.0.1:9/owner/nothing.git")
    dead = ToolEnv(gitea_url="http://127.0.0.1:9/", gitea_token="t0ken")
    with pytest.raises(TransientToolError, match="git pull"):
        await git_pull(repo_path=str(repo), env=dead, remote="dead", branch="main")


async def test_push_facts_default_branch_comes_from_the_forge(
    forge: Forge, origin: str, env: ToolEnv, tmp_path: Path
) -> None:
    work = clone(origin, tmp_path / "clone")
    repository = origin.removeprefix(forge.url).removesuffix(".git")
    facts = await git_push_facts(git_push.validate({"repo_path": str(work)}), env)
    assert facts == {
        "branch": "trunk", "default_branch": "trunk", "remote": "origin", "url": origin, "repository": repository
    }  # fmt: skip
    git(work, "switch", "-q", "-c", "feature")
    current = await git_push_facts({"repo_path": str(work), "remote": "origin", "branch": ""}, env)
    assert current["branch"] == "feature"
    # what the clone says about the default branch counts for nothing
    git(work, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/feature")
    git(work, "config", "init.defaultBranch", "feature")
    named = await git_push_facts({"repo_path": str(work), "remote": "origin", "branch": "trunk"}, env)
    assert named["branch"] == named["default_branch"] == "trunk"
    assert git_push.facts is git_push_facts


async def test_push_facts_cannot_be_established_off_the_forge(repo: Path, env: ToolEnv, tmp_path: Path) -> None:
    with pytest.raises(ToolExecutionError, match="has no remote 'origin'"):
        await git_push_facts({"repo_path": str(repo)}, env)
    git(repo, "remote", "add", "origin", str(tmp_path / "elsewhere.git"))
    with pytest.raises(GitRefused, match="not an http\\(s\\) URL on the configured forge"):
        await git_push_facts({"repo_path": str(repo)}, env)
    with pytest.raises(GitRefused, match="no forge is configured"):
        await git_push_facts({"repo_path": str(repo)}, ToolEnv())


# ---------------------------------------------------------------- refusals and failures


@pytest.mark.parametrize(
    "call",
    [
        lambda r: git_log(repo_path=r, ref="--output=/tmp/pwned"),
        lambda r: git_diff(repo_path=r, ref="--output=/tmp/pwned"),
        lambda r: git_checkout(repo_path=r, branch="-f"),
        lambda r: git_checkout(repo_path=r, branch="x", create=True, start_point="--orphan"),
        lambda r: git_push(repo_path=r, env=ToolEnv(), remote="--receive-pack=touch /tmp/pwned"),
        lambda r: git_push(repo_path=r, env=ToolEnv(), branch="--delete"),
        lambda r: git_pull(repo_path=r, env=ToolEnv(), remote="--upload-pack=evil"),
    ],
)
async def test_option_injection_rejected(repo: Path, call: object) -> None:
    with pytest.raises(ToolCallError, match="must not start with '-'"):
        await call(str(repo))  # type: ignore[operator]


async def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ToolExecutionError, match=f"^not a git repository: {plain}$"):
        await git_status(repo_path=str(plain))
    with pytest.raises(ToolExecutionError, match="not a git repository"):
        await git_log(repo_path=str(tmp_path / "missing"))


async def test_index_lock_is_transient(repo: Path) -> None:
    (repo / ".git" / "index.lock").write_text("")
    (repo / "a.txt").write_text("changed\n")
    with pytest.raises(TransientToolError, match="locked"):
        await git_commit(repo_path=str(repo), message="blocked", add_all=True)
    os.remove(repo / ".git" / "index.lock")
    assert (await git_commit(repo_path=str(repo), message="unblocked", add_all=True))["files_changed"] == 1
