"""The policy holds against a hostile house: each finding of the hardening probe, reproduced.

Every test here failed before the fix it names (issue "Hardening", findings 1, 4, 5, 6, 8, 9, 10):
a house writing git's metadata, a path swapped for a symlink between the check and the use, a NUL
byte in a path, a FIFO that jams the file tools, a caller asking for SIMPLE to skip provenance,
secrets recognisable only by their value, and caller-set limits without a ceiling.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from uni_wizard import Call, Harness, Mode, Status
from uni_wizard.harness.runtime import Runtime
from uni_wizard.testing import make_runtime
from uni_wizard.tools.registry import ToolRegistry
from uni_wizard.tools.spec import tool

SECRET = "hunter2-planted-forge-token"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path, gitea_token=SECRET)
    yield rt
    rt.close()


@pytest.fixture
def workspace(runtime: Runtime) -> Path:
    return Path(runtime.settings.workspace).resolve()


def clone(workspace: Path) -> Path:
    repo = workspace / "clone"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("hello\n")
    return repo


def record(runtime: Runtime, provenance_id: int | None) -> Any:
    assert provenance_id is not None, "every INTELLIGENT call leaves a provenance record"
    return runtime.provenance.get(provenance_id)


# -- finding 1: a house that can write files must not reach git's metadata ------------------------


@pytest.mark.parametrize("house", ["bezalel", "ezra", "timmy"])
def test_no_file_tool_writes_a_clones_git_config(runtime: Runtime, workspace: Path, house: str) -> None:
    repo = clone(workspace)
    config = repo / ".git" / "config"
    before = config.read_text()
    harness = Harness(house, runtime=runtime, task="t")
    harness.execute("file_read", path=str(config))  # Ezra reads before it writes: that must not help
    hostile = '[core]\n\tfsmonitor = "id > /tmp/pwned; false"\n'
    result = harness.execute("file_write", path=str(config), append=True, content=hostile)
    assert result.status is Status.DENIED and result.rule == "git_metadata"
    assert "inside git's own metadata" in (result.error or "")
    assert config.read_text() == before
    assert record(runtime, result.provenance_id).status == "denied"


def test_no_file_tool_writes_into_a_bare_git_dir_or_creates_a_dot_git(runtime: Runtime, workspace: Path) -> None:
    bare = workspace / "cache" / "work.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    harness = Harness("bezalel", runtime=runtime)
    for target in (bare / "config", bare / "hooks" / "pre-receive", workspace / "elsewhere" / ".git"):
        result = harness.execute("file_write", path=str(target), content="x", create_dirs=True)
        assert result.status is Status.DENIED and result.rule == "git_metadata", target
    assert not (workspace / "elsewhere").exists()
    gitfile = workspace / "tree" / ".GIT"  # case does not help
    result = harness.execute("file_write", path=str(gitfile), content="gitdir: /tmp/evil", create_dirs=True)
    assert result.status is Status.DENIED


def test_a_symlink_into_git_metadata_is_followed_to_its_target_and_refused(runtime: Runtime, workspace: Path) -> None:
    repo = clone(workspace)
    link = workspace / "innocent.txt"
    link.symlink_to(repo / ".git" / "config")
    result = Harness("bezalel", runtime=runtime).execute("file_write", path=str(link), content="[core]\n")
    assert result.status is Status.DENIED and result.rule == "git_metadata"


# -- finding 4: the check and the use see the same file ------------------------------------------------


@pytest.fixture
def swapping(workspace: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``inside/d`` flips between a directory holding ``secret.txt`` ("inside") and a symlink to a
    directory outside the workspace holding a ``secret.txt`` ("OUTSIDE")."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("OUTSIDE\n")
    inside = workspace / "race"
    (inside / "d").mkdir(parents=True)
    (inside / "d" / "secret.txt").write_text("inside\n")
    (inside / "d-link").symlink_to(outside, target_is_directory=True)
    stop = threading.Event()

    def flip() -> None:
        d, link, tmp = inside / "d", inside / "d-link", inside / "d-tmp"
        while not stop.is_set():
            os.rename(d, tmp)  # the directory steps aside ...
            os.rename(link, d)  # ... the symlink takes its name ...
            os.rename(d, link)  # ... and gives it back
            os.rename(tmp, d)

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    yield inside, outside
    stop.set()
    thread.join()


ATTEMPTS = 2000


def test_swapping_a_directory_for_a_symlink_never_escapes(runtime: Runtime, swapping: tuple[Path, Path]) -> None:
    inside, outside = swapping
    harness = Harness("bezalel", Mode.SIMPLE, runtime=runtime)
    target = str(inside / "d" / "secret.txt")
    outcomes: dict[str, int] = {}
    for _ in range(ATTEMPTS):
        read = harness.execute("file_read", path=target)
        listed = harness.execute("file_list", path=str(inside / "d"))
        written = harness.execute("file_write", path=str(inside / "d" / "new.txt"), content="x")
        for result in (read, listed, written):
            assert result.status in (Status.OK, Status.ERROR, Status.DENIED), result
            outcomes[f"{result.tool}:{result.status}"] = outcomes.get(f"{result.tool}:{result.status}", 0) + 1
        if read.ok:
            assert read.output["content"] == "inside\n", "file_read escaped through the swapped symlink"
        if listed.ok:
            names = {entry["path"] for entry in listed.output["entries"]}
            assert names <= {"secret.txt", "new.txt"}
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"], "file_write created a file outside"
    assert (outside / "secret.txt").read_text() == "OUTSIDE\n"
    assert outcomes.get("file_read:ok", 0) > 0  # the race did not simply make every call fail


# -- finding 5: a NUL byte (or any malformed path) is a clean error with provenance -------------------


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("file_read", {"path": "a\0b"}),
        ("file_write", {"path": "x\0", "content": "c"}),
        ("file_list", {"path": "\0"}),
        ("file_search", {"path": "/tmp\0", "regex": "x"}),
        ("git_status", {"repo_path": "r\0"}),
        ("disk_usage", {"path": "/\0"}),
        ("file_read", {"path": "/" + "a" * 5000}),
        ("file_read", {"path": "/" + "b" * 300 + "/c"}),
        ("file_read", {"path": "bad-\udcff-\ud800"}),
    ],
)
def test_malformed_paths_are_clean_errors_with_provenance(
    runtime: Runtime, workspace: Path, tool: str, args: dict[str, Any]
) -> None:
    result = Harness("timmy", runtime=runtime).execute(tool, **args)
    assert result.status is Status.ERROR and result.error_type == "ToolCallError"
    assert record(runtime, result.provenance_id).error_type == "ToolCallError"


# -- finding 6: a FIFO cannot jam the file tools ----------------------------------------------------------


def test_a_fifo_is_refused_before_anything_blocks(runtime: Runtime, workspace: Path) -> None:
    fifo = workspace / "jam"
    os.mkfifo(fifo)
    harness = Harness("bezalel", runtime=runtime)
    results = harness.execute_many([Call("file_read", {"path": str(fifo)}, timeout=1) for _ in range(16)])
    assert {r.status for r in results} == {Status.ERROR}
    assert all("FIFO" in (r.error or "") for r in results)
    (workspace / "ok.txt").write_text("fine\n")
    assert harness.execute("file_read", path=str(workspace / "ok.txt")).output["content"] == "fine\n"
    search = harness.execute("file_search", path=str(workspace), regex="fine")
    assert search.ok and "jam: not a regular file" in search.output["skipped"]
    assert harness.execute("file_write", path=str(fifo), content="x").status is Status.ERROR


blocked = threading.Event()


@tool(group="file")
def wedge(seconds: float = 30.0) -> str:
    """Block in the kernel, ignoring cancellation (a stand-in for a hung NFS read).

    Args:
        seconds: how long to block at most.
    """
    blocked.wait(seconds)
    return "unwedged"


def test_stuck_calls_do_not_take_the_pool(tmp_path: Path) -> None:
    from uni_wizard.tools.builtin import builtin_registry

    registry = ToolRegistry([*builtin_registry(), wedge])
    runtime = make_runtime(tmp_path, registry=registry, tool_threads=2, tool_stuck_max=3)
    (Path(runtime.settings.workspace) / "f.txt").write_text("ok\n")
    read = {"path": str(Path(runtime.settings.workspace) / "f.txt")}
    try:
        ezra, timmy = Harness("ezra", runtime=runtime), Harness("timmy", runtime=runtime)
        for stuck in range(1, 4):  # each wedged call times out; its thread stays stuck, the house keeps its capacity
            assert timmy.execute_many([Call("wedge", {}, timeout=0.2)])[0].status is Status.TIMEOUT
            assert runtime.pools.stuck() == {"timmy": stuck}
            if stuck < 3:
                assert timmy.execute("file_read", **read).ok
        refused = timmy.execute("file_read", **read)
        assert refused.status is Status.ERROR and "stuck" in (refused.error or "")
        assert ezra.execute("file_read", **read).ok  # another house is not affected
        blocked.set()
        deadline = time.monotonic() + 10
        while runtime.pools.stuck().get("timmy") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert timmy.execute("file_read", **read).ok  # the stuck calls ended: the house is served again
    finally:
        blocked.set()
        runtime.close()


# -- finding 8: provenance cannot be skipped by asking for SIMPLE -----------------------------------


def test_a_mutating_call_in_simple_mode_is_raised_to_intelligent(runtime: Runtime, workspace: Path) -> None:
    result = Harness("bezalel", Mode.SIMPLE, runtime=runtime).execute(
        "file_write", path=str(workspace / "f.txt"), content="x"
    )
    assert result.ok and result.mode is Mode.INTELLIGENT
    assert record(runtime, result.provenance_id).tool == "file_write"
    read = Harness("bezalel", Mode.SIMPLE, runtime=runtime).execute("file_read", path=str(workspace / "f.txt"))
    assert read.ok and read.mode is Mode.SIMPLE and read.provenance_id is None  # reading may stay SIMPLE


# -- finding 9: secrets recognised by their value are never stored ------------------------------------


def test_secrets_are_redacted_by_value(runtime: Runtime, workspace: Path) -> None:
    harness = Harness("timmy", Mode.SOVEREIGN, runtime=runtime)
    content = (
        f"Cookie: session=abc123def456\nurl = https://owner:pa55word@forge.example/x.git\n"
        f"hook = https://forge.example/hook?access_token=tok-123456789&x=1\ntoken {SECRET}\n"
        "Authorization: Bearer 0123456789abcdef0123\n"
    )
    runtime.approvals
    pending = harness.execute("file_write", path=str(workspace / "notes.txt"), content=content)
    assert pending.status is Status.PENDING_APPROVAL
    stored = json.dumps(
        [
            record(runtime, pending.provenance_id).args_json,
            runtime.store.query("SELECT args_json FROM approvals")[0][0],
        ]
    )
    for secret in ("abc123def456", "pa55word", "tok-123456789", SECRET, "0123456789abcdef0123"):
        assert secret not in stored
    assert "https://***@forge.example" in stored and "access_token=***" in stored


# -- finding 10 (second half): what a call may ask for, and what a record keeps, has a ceiling ----------


def test_caller_set_limits_have_ceilings(runtime: Runtime, workspace: Path) -> None:
    harness = Harness("timmy", runtime=runtime)
    for tool_name, args in (
        ("file_search", {"path": str(workspace), "regex": "x", "max_matches": 5_000_000}),
        ("file_read", {"path": str(workspace), "max_bytes": 10**9}),
        ("file_list", {"path": str(workspace), "max_entries": 10**7}),
    ):
        result = harness.execute(tool_name, **args)
        assert result.status is Status.ERROR and result.error_type == "ToolCallError", tool_name
        assert "less than or equal to" in (result.error or "")


def test_sovereign_mode_keeps_a_digest_and_an_excerpt_of_a_large_output(runtime: Runtime, workspace: Path) -> None:
    big = workspace / "big.txt"
    big.write_bytes(b"y" * (9 * 1024 * 1024))
    harness = Harness("timmy", Mode.SOVEREIGN, runtime=runtime)
    result = harness.execute("file_read", path=str(big), max_bytes=9 * 1024 * 1024)
    assert result.ok and len(result.output["content"]) == 9 * 1024 * 1024  # the caller gets all of it
    stored = record(runtime, result.provenance_id)
    assert stored.output_json is not None and len(stored.output_json) < 300_000
    kept = json.loads(stored.output_json)
    assert kept["truncated"] is True and kept["sha256"] and kept["characters"] > 9 * 1024 * 1024
    write = Harness("bezalel", runtime=runtime).execute(
        "file_write", path=str(workspace / "w.txt"), content="z" * 10**7
    )
    assert write.ok and len(record(runtime, write.provenance_id).args_json) < 10_000


# -- finding 5 over HTTP: the execute API answers with the Result, never a 500 ---------------------------


def test_the_execute_api_answers_a_nul_path_with_a_result(runtime: Runtime) -> None:
    import warnings

    from uni_wizard.web.app import create_app

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient

    with TestClient(create_app(runtime, api_token="t0ken-for-the-api")) as client:
        for tool_name, args in (("file_read", {"path": "a\u0000b"}), ("git_status", {"repo_path": "\u0000"})):
            response = client.post(
                "/api/v1/execute",
                json={"house": "timmy", "tool": tool_name, "args": args},
                headers={"Authorization": "Bearer t0ken-for-the-api"},
            )
            assert response.status_code == 200
            body = response.json()
            assert body["status"] == "error" and body["error_type"] == "ToolCallError"
            assert body["provenance_id"] is not None


# -- finding 4 for git: a working tree swapped for a symlink does not send git elsewhere ----------------


def _repo(path: Path, branch: str) -> Path:
    subprocess.run(["git", "init", "-q", "-b", branch, str(path)], check=True)
    (path / "f.txt").write_text(f"{branch}\n")
    _commit(path, "one")
    return path


def _commit(path: Path, message: str) -> None:
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], check=True
    )


def _head(path: Path) -> str:
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout


def test_a_house_swapping_a_repository_by_checkout_never_sends_git_elsewhere(
    runtime: Runtime, workspace: Path, tmp_path: Path
) -> None:
    """The swap a house can make: a working tree whose branch ``link`` has a symlink ``r`` to a repository
    outside the roots where branch ``dir`` has a directory ``r``, checked out back and forth by one call
    while another runs git in ``r``. git opens files by name, so between the check and the use it could
    follow the swap; a directory inside another repository's working tree is refused for that reason, and
    nothing else a house can do renames a directory. (A process outside the product renaming directories in
    the workspace is not a house: the file tools hold against it, see above.)"""
    outside = _repo(tmp_path / "outside-repo", "outside-branch")
    before = _head(outside)
    tree = workspace / "tree"
    (tree / "r").mkdir(parents=True)
    (tree / "r" / "notes.txt").write_text("a directory in branch dir\n")
    _repo(tree, "dir")
    subprocess.run(["git", "-C", str(tree), "switch", "-q", "-c", "link"], check=True)
    subprocess.run(["rm", "-rf", str(tree / "r")], check=True)
    (tree / "r").symlink_to(outside, target_is_directory=True)
    _commit(tree, "r is a symlink here")
    stop = threading.Event()

    def flip() -> None:  # the house's other call: checkouts that swap r
        flipper = Harness("bezalel", Mode.SIMPLE, runtime=runtime)
        while not stop.is_set():
            for branch in ("dir", "link"):
                flipper.execute("git_checkout", repo_path=str(tree), branch=branch)

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    harness = Harness("bezalel", Mode.SIMPLE, runtime=runtime)
    try:
        for attempt in range(150):
            status = harness.execute("git_status", repo_path=str(tree / "r"))
            commit = harness.execute("git_commit", repo_path=str(tree / "r"), message=f"c{attempt}", add_all=True)
            for result in (status, commit):
                assert result.status in (Status.ERROR, Status.DENIED), result
                assert result.error_type in ("GitRefused", "PolicyDenied", "PathChanged", "ToolExecutionError")
                assert "outside-branch" not in str(result.output)
    finally:
        stop.set()
        thread.join()
    assert _head(outside) == before, "git_commit committed in the repository outside the roots"
    refused = harness.execute("git_status", repo_path=str(tree / "r"))
    assert refused.error_type in ("GitRefused", "PolicyDenied"), refused


def test_a_repository_inside_another_working_tree_is_refused(runtime: Runtime, workspace: Path) -> None:
    tree = _repo(workspace / "outer", "main")
    inner = _repo(tree / "inner", "inner-branch")  # untracked in the outer tree: a repository of its own
    harness = Harness("bezalel", runtime=runtime)
    for tool_name, args in (("git_status", {}), ("git_log", {}), ("git_commit", {"message": "x", "add_all": True})):
        result = harness.execute(tool_name, repo_path=str(inner), **args)
        assert result.status is Status.ERROR and result.error_type == "GitRefused", result
        assert "inside the working tree of" in (result.error or "")
    assert harness.execute("git_status", repo_path=str(tree)).ok  # the outer one is fine
