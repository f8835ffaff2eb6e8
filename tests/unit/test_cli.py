"""The ``uni-wizard`` CLI through ``main(argv)``: output, exit codes, config errors, approvals, provenance.

Each test gets its own data directory and workspace (``UNIWIZARD_DATA_DIR``,
``UNIWIZARD_WORKSPACE``); git runs for real in a temporary repository, SQLite
for real in the data directory.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from uni_wizard.cli import main
from uni_wizard.tools.builtin import BUILTIN_TOOLS

EXIT_OK, EXIT_USAGE, EXIT_DENIED, EXIT_FAILED, EXIT_PENDING, EXIT_NOT_FOUND = 0, 2, 3, 4, 5, 6


@dataclass
class Env:
    data_dir: Path
    workspace: Path

    @property
    def db(self) -> Path:
        return self.data_dir / "uni-wizard.db"


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err

    @property
    def flat(self) -> str:
        """stdout + stderr with rich's line wrapping undone (words joined by one space)."""
        return " ".join(self.both.split())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    data_dir, workspace = tmp_path / "data", tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(workspace))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    # keep the user's and the system's git configuration out of the tests
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return Env(data_dir, workspace)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    def invoke(*args: str) -> Outcome:
        capsys.readouterr()  # drop anything printed before
        code = main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test Wizard")
    git(path, "config", "user.email", "wizard@example.org")
    return path


# -- tools and houses ------------------------------------------------------


def test_tools_json_lists_every_builtin_tool_with_schemas(env: Env, cli) -> None:
    done = cli("tools", "--json")
    assert done.code == EXIT_OK
    tools = json.loads(done.out)
    assert len(tools) == len(BUILTIN_TOOLS) >= 27
    names = [t["name"] for t in tools]
    assert len(set(names)) == len(tools)
    assert {"gitea_approve_pr", "gitea_merge_pr"} <= set(names)
    for t in tools:
        assert t["name"] and t["group"]
        assert t["parameters"]["type"] == "object"
    assert {"file_read", "git_status", "git_commit", "http_post"} <= set(names)
    assert {t["group"] for t in tools} >= {"file", "git", "network", "system", "gitea"}


def test_tools_table_names_every_tool(env: Env, cli) -> None:
    done = cli("tools")
    assert done.code == EXIT_OK
    # rich fits the table to the terminal and may wrap long names inside their cell: check short ones
    for name in ("file_read", "file_write", "git_status", "git_commit", "git_push", "http_get"):
        assert name in done.out
    assert "group" in done.out


def test_tools_group_filter(env: Env, cli) -> None:
    done = cli("tools", "--json", "--group", "git")
    assert done.code == EXIT_OK
    tools = json.loads(done.out)
    assert tools
    assert {t["group"] for t in tools} == {"git"}


def test_houses_json(env: Env, cli) -> None:
    done = cli("houses", "--json")
    assert done.code == EXIT_OK
    houses = json.loads(done.out)
    assert set(houses) == {"timmy", "ezra", "bezalel", "allegro"}
    assert houses["timmy"]["rules"]["may_approve"] is True
    assert houses["ezra"]["rules"]["read_before_write"] is True
    assert houses["allegro"]["name"] == "allegro"


def test_houses_table(env: Env, cli) -> None:
    done = cli("houses")
    assert done.code == EXIT_OK
    for name in ("timmy", "ezra", "bezalel", "allegro"):
        assert name in done.out
    assert "may_approve" in done.flat


# -- run: ok, json, denied, failed ------------------------------------------


def test_run_file_read_prints_the_content(env: Env, cli) -> None:
    target = env.workspace / "notes.txt"
    target.write_text("the quick brown wizard\n")
    done = cli("run", "file_read", "--house", "timmy", "--arg", f"path={target}")
    assert done.code == EXIT_OK, done.both
    assert "the quick brown wizard" in done.out
    assert "timmy/intelligent file_read: ok" in done.err


def test_run_json_prints_the_result(env: Env, cli) -> None:
    target = env.workspace / "notes.txt"
    target.write_text("hello\n")
    done = cli("run", "file_read", "--house", "timmy", "--arg", f"path={target}", "--json")
    assert done.code == EXIT_OK, done.both
    result = json.loads(done.out)
    assert result["status"] == "ok"
    assert result["tool"] == "file_read"
    assert result["house"] == "timmy"
    assert result["mode"] == "intelligent"
    assert result["output"]["content"] == "hello\n"
    assert result["provenance_id"] == 1
    assert result["error"] is None
    assert set(result) >= {"status", "tool", "house", "mode", "output", "error", "error_type", "duration", "rule"}


def test_run_simple_mode_writes_no_provenance(env: Env, cli) -> None:
    target = env.workspace / "notes.txt"
    target.write_text("hello\n")
    done = cli("run", "file_read", "--house", "timmy", "--mode", "simple", "--arg", f"path={target}", "--json")
    assert done.code == EXIT_OK, done.both
    assert json.loads(done.out)["provenance_id"] is None


def test_run_denied_exits_3(env: Env, cli) -> None:
    done = cli("run", "http_post", "--house", "ezra", "--arg", "url=http://127.0.0.1:9/", "--json")
    assert done.code == EXIT_DENIED, done.both
    result = json.loads(done.out)
    assert result["status"] == "denied"
    assert result["rule"] == "deny"
    assert result["error_type"] == "PolicyDenied"


def test_run_denied_says_why(env: Env, cli) -> None:
    done = cli("run", "http_post", "--house", "ezra", "--arg", "url=http://127.0.0.1:9/")
    assert done.code == EXIT_DENIED
    assert "PolicyDenied" in done.err
    assert "houses/ezra.yaml" in done.flat
    assert "Traceback" not in done.both


def test_run_tool_failure_exits_4(env: Env, cli) -> None:
    missing = env.workspace / "missing.txt"
    done = cli("run", "file_read", "--house", "timmy", "--arg", f"path={missing}")
    assert done.code == EXIT_FAILED, done.both
    assert "ToolExecutionError" in done.err
    assert "no such file" in done.flat
    assert "Traceback" not in done.both


# -- usage errors -------------------------------------------------------------


def test_unknown_tool_exits_2(env: Env, cli) -> None:
    done = cli("run", "no_such_tool", "--house", "timmy")
    assert done.code == EXIT_USAGE
    assert "unknown tool 'no_such_tool'" in done.flat
    assert "Traceback" not in done.both


def test_arg_without_equals_exits_2(env: Env, cli) -> None:
    done = cli("run", "file_read", "--house", "timmy", "--arg", "path")
    assert done.code == EXIT_USAGE
    assert "name=value" in done.flat
    assert "Traceback" not in done.both


def test_wrong_argument_type_exits_2(env: Env, cli) -> None:
    target = env.workspace / "notes.txt"
    target.write_text("hello\n")
    done = cli("run", "file_read", "--house", "timmy", "--arg", f"path={target}", "--arg", "max_bytes=abc")
    assert done.code == EXIT_USAGE, done.both
    assert "ToolCallError" in done.err
    assert "max_bytes" in done.flat
    assert "Traceback" not in done.both


def test_unknown_house_exits_2(env: Env, cli) -> None:
    done = cli("run", "file_read", "--house", "gandalf", "--arg", "path=/x")
    assert done.code == EXIT_USAGE
    assert "unknown house 'gandalf'" in done.flat
    assert "Traceback" not in done.both


def test_missing_required_option_exits_2(env: Env, cli) -> None:
    try:
        code = main(["run", "file_read", "--arg", "path=/x"])
    except Exception as exc:  # the bug: the usage error escapes main()
        pytest.fail(f"main() raised {type(exc).__module__}.{type(exc).__name__}: {exc}")
    assert code == EXIT_USAGE


def test_unknown_option_exits_2(env: Env, cli) -> None:
    try:
        code = main(["tools", "--no-such-option"])
    except Exception as exc:
        pytest.fail(f"main() raised {type(exc).__module__}.{type(exc).__name__}: {exc}")
    assert code == EXIT_USAGE


# -- configuration errors -------------------------------------------------------


def test_settings_unknown_key_exits_2_naming_file_and_key(env: Env, cli, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("port: 8700\nbogus_key: 1\n")
    done = cli("--config", str(config), "houses")
    assert done.code == EXIT_USAGE
    assert "Traceback" not in done.both
    assert done.out == ""
    # rich may wrap a long line; undo the wrap before looking for the path
    message = done.err.replace("\n", "")
    assert f"{config}:bogus_key: unknown key" in message
    assert message.startswith("error: ")


def test_config_from_environment_variable(env: Env, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("bogus_key: 1\n")
    monkeypatch.setenv("UNIWIZARD_CONFIG", str(config))
    done = cli("houses")
    assert done.code == EXIT_USAGE
    assert "bogus_key" in done.err.replace("\n", "")


def test_settings_error_with_debug_shows_traceback(env: Env, cli, tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("bogus_key: 1\n")
    done = cli("--debug", "--config", str(config), "houses")
    assert done.code == EXIT_USAGE
    assert "Traceback" in done.both
    assert "bogus_key" in done.err.replace("\n", "")


def _houses_copy(tmp_path: Path) -> Path:
    houses = tmp_path / "houses"
    houses.mkdir()
    repo_houses = Path(__file__).resolve().parents[2] / "houses"
    for source in repo_houses.glob("*.yaml"):
        (houses / source.name).write_text(source.read_text())
    return houses


def _settings_with_houses(tmp_path: Path, houses: Path) -> Path:
    config = tmp_path / "settings.yaml"
    config.write_text(f"houses_dir: {houses}\n")
    return config


def test_houses_dir_with_unknown_nested_key_exits_2(env: Env, cli, tmp_path: Path) -> None:
    houses = _houses_copy(tmp_path)
    ezra = houses / "ezra.yaml"
    ezra.write_text(ezra.read_text().replace("rules:\n", "rules:\n  may_fly: true\n"))
    config = _settings_with_houses(tmp_path, houses)
    done = cli("--config", str(config), "houses")
    assert done.code == EXIT_USAGE
    assert f"{ezra}:rules.may_fly: unknown key" in done.err.replace("\n", "")
    assert "Traceback" not in done.both


def test_houses_dir_with_malformed_yaml_exits_2(env: Env, cli, tmp_path: Path) -> None:
    houses = _houses_copy(tmp_path)
    bezalel = houses / "bezalel.yaml"
    bezalel.write_text("name: bezalel\nrole: [unclosed\n")
    config = _settings_with_houses(tmp_path, houses)
    done = cli("--config", str(config), "run", "file_list", "--house", "timmy", "--arg", "path=/")
    assert done.code == EXIT_USAGE
    message = done.err.replace("\n", "")
    assert f"{bezalel}:line " in message
    assert "invalid YAML" in done.flat
    assert "Traceback" not in done.both


def test_houses_dir_error_with_debug_shows_traceback(env: Env, cli, tmp_path: Path) -> None:
    houses = _houses_copy(tmp_path)
    (houses / "ezra.yaml").write_text("name: ezra\nrole: [unclosed\n")
    config = _settings_with_houses(tmp_path, houses)
    done = cli("--debug", "--config", str(config), "houses")
    assert done.code == EXIT_USAGE
    assert "Traceback" in done.both


def test_config_error_is_one_line_even_with_a_long_path(
    env: Env, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    deep = tmp_path.joinpath(*(["a-rather-long-directory-name"] * 10))
    deep.mkdir(parents=True)
    config = deep / "settings.yaml"
    config.write_text("bogus_key: 1\n")
    done = cli("--config", str(config), "houses")
    assert done.code == EXIT_USAGE
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert lines == [f"error: {config}:bogus_key: unknown key"]


# -- sovereign approvals ----------------------------------------------------------


def test_sovereign_commit_waits_for_approval_then_runs(env: Env, cli) -> None:
    repo = init_repo(env.workspace / "repo")
    (repo / "hello.txt").write_text("hello\n")
    command = (
        "run",
        "git_commit",
        "--house",
        "bezalel",
        "--mode",
        "sovereign",
        "--arg",
        f"repo_path={repo}",
        "--arg",
        "message=add hello",
        "--arg",
        "add_all=true",
    )

    pending = cli(*command)
    assert pending.code == EXIT_PENDING, pending.both
    assert "approval 1 requested" in pending.flat
    assert "approvals approve 1" in pending.flat
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "rev-parse", "--verify", "HEAD")  # nothing committed yet

    # the same call again, still unapproved: the same request, no second one
    again = cli(*command, "--json")
    assert again.code == EXIT_PENDING
    assert json.loads(again.out)["approval_id"] == 1

    listed = cli("approvals", "list")
    assert listed.code == EXIT_OK
    assert "pending" in listed.out
    assert "bezalel" in listed.out
    items = json.loads(cli("approvals", "list", "--json").out)
    assert [(a["id"], a["state"], a["house"], a["tool"]) for a in items] == [(1, "pending", "bezalel", "git_commit")]

    denied = cli("approvals", "approve", "1", "--by", "ezra")
    assert denied.code == EXIT_DENIED
    assert "'ezra' may not approve" in denied.flat
    assert "Traceback" not in denied.both

    approved = cli("approvals", "approve", "1", "--by", "timmy", "--note", "looks right")
    assert approved.code == EXIT_OK, approved.both
    assert "approval 1 approved by timmy" in approved.flat

    too_late = cli("approvals", "reject", "1", "--by", "timmy")
    assert too_late.code == EXIT_USAGE
    assert "approval 1 is approved, not pending" in too_late.flat
    assert "Traceback" not in too_late.both

    ran = cli(*command, "--json")
    assert ran.code == EXIT_OK, ran.both
    result = json.loads(ran.out)
    assert result["status"] == "ok"
    sha = result["output"]["sha"]
    assert git(repo, "rev-parse", "HEAD") == sha
    assert git(repo, "log", "--format=%s") == "add hello"

    items = json.loads(cli("approvals", "list", "--json").out)
    assert [(a["id"], a["state"], a["decided_by"]) for a in items] == [(1, "consumed", "timmy")]
    consumed = cli("approvals", "reject", "1", "--by", "timmy")
    assert consumed.code == EXIT_USAGE

    # a fresh call needs a fresh approval: the consumed one does not count twice
    (repo / "second.txt").write_text("second\n")
    second = cli(*command)
    assert second.code == EXIT_PENDING
    assert "approval 2 requested" in second.flat


def test_approvals_on_unknown_id_exit_6(env: Env, cli) -> None:
    done = cli("approvals", "approve", "42", "--by", "timmy")
    assert done.code == EXIT_NOT_FOUND
    assert "no approval request 42" in done.flat


def test_owner_may_reject(env: Env, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIWIZARD_OWNER", "alma")
    repo = init_repo(env.workspace / "repo")
    (repo / "x.txt").write_text("x\n")
    args = ("run", "git_commit", "--house", "bezalel", "--mode", "sovereign")
    pending = cli(*args, "--arg", f"repo_path={repo}", "--arg", "message=x", "--arg", "add_all=true")
    assert pending.code == EXIT_PENDING
    rejected = cli("approvals", "reject", "1", "--by", "alma", "--note", "not now")
    assert rejected.code == EXIT_OK, rejected.both
    assert "approval 1 rejected by alma" in rejected.flat
    items = json.loads(cli("approvals", "list", "--json", "--state", "rejected").out)
    assert [a["id"] for a in items] == [1]


# -- provenance -------------------------------------------------------------------


def test_provenance_tail_show_verify_and_tamper(env: Env, cli) -> None:
    target = env.workspace / "notes.txt"
    target.write_text("hello\n")
    for _ in range(3):
        assert cli("run", "file_read", "--house", "timmy", "--arg", f"path={target}").code == EXIT_OK

    tail = cli("provenance", "tail")
    assert tail.code == EXIT_OK
    assert "timmy" in tail.out
    records = json.loads(cli("provenance", "tail", "--json").out)
    assert [r["id"] for r in records] == [1, 2, 3]
    assert {r["house"] for r in records} == {"timmy"}
    assert {r["host"] for r in records} == {"test-host"}
    assert json.loads(cli("provenance", "tail", "--json", "-n", "1").out)[0]["id"] == 3

    shown = cli("provenance", "show", "2")
    assert shown.code == EXIT_OK
    record = json.loads(shown.out)
    assert record["id"] == 2
    assert record["tool"] == "file_read"
    assert record["args"]["path"] == str(target)
    assert record["decision"]["allowed"] is True

    verified = cli("provenance", "verify")
    assert verified.code == EXIT_OK
    assert "ok: 3 provenance records verified" in verified.out

    with sqlite3.connect(env.db) as db:
        db.execute("UPDATE provenance SET tool='x' WHERE id=2")
    db.close()

    broken = cli("provenance", "verify")
    assert broken.code == EXIT_FAILED
    assert "provenance record 2 is broken" in broken.flat
    assert "Traceback" not in broken.both


def test_provenance_show_unknown_record_is_an_error(env: Env, cli) -> None:
    done = cli("provenance", "show", "99")
    assert done.code != EXIT_OK
    assert "Traceback" not in done.both
    assert "99" in done.flat


def test_provenance_verify_on_empty_store(env: Env, cli) -> None:
    done = cli("provenance", "verify")
    assert done.code == EXIT_OK
    assert "ok: 0 provenance records verified" in done.out


# -- the seed's spelling ----------------------------------------------------------


def test_seed_spelling_test_git_status(env: Env, cli, monkeypatch) -> None:
    init_repo(env.workspace)
    (env.workspace / "untracked.txt").write_text("u\n")
    monkeypatch.chdir(env.workspace)  # required paths default to the current directory
    done = cli("test", "--house", "timmy", "--tool", "git_status")
    assert done.code == EXIT_OK, done.both
    assert "untracked.txt" in done.out
    assert "timmy/intelligent git_status: ok" in done.err


def test_seed_spelling_json(env: Env, cli, monkeypatch) -> None:
    init_repo(env.workspace)
    monkeypatch.chdir(env.workspace)
    done = cli("test", "--house", "allegro", "--tool", "git_status", "--json")
    assert done.code == EXIT_OK, done.both
    result = json.loads(done.out)
    assert result["status"] == "ok"
    assert result["house"] == "allegro"


def test_seed_spelling_outside_the_roots_is_denied_with_the_reason(env: Env, cli, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    done = cli("test", "--house", "allegro", "--tool", "git_status")
    assert done.code == EXIT_DENIED, done.both
    assert "outside its read roots" in done.err


def test_bad_mode_is_a_usage_error(env: Env, cli) -> None:
    done = cli("run", "system_info", "--house", "timmy", "--mode", "turbo")
    assert done.code == EXIT_USAGE
    assert "--mode 'turbo': use one of simple, intelligent, sovereign" in done.err
    assert "Traceback" not in done.both
