"""The pure git output parsers, on output recorded from git 2.39."""

from __future__ import annotations

import pytest

from uni_wizard.errors import ToolExecutionError, TransientToolError
from uni_wizard.tools.git import git_error, parse_log, parse_numstat, parse_porcelain_v2

SHA = "5601fcbbc7c69c4952a5bbef1c32153e5141a644"
H1 = "422c2b7ab3b3c668038da977e4e93a5fc623169c"
H2 = "de980441c3ab03a8c07dda1ad27b8a11f39deb1e"

# staged+unstaged modification, a staged rename to a name with a space, an untracked file
RECORDED = (
    f"# branch.oid {SHA}\0# branch.head main\0"
    f"# branch.upstream origin/main\0# branch.ab +2 -1\0"
    f"1 MM N... 100644 100644 100644 {H1} {H2} a.txt\0"
    f"2 R. N... 100644 100644 100644 {H1} {H1} R100 new name.txt\0old.txt\0"
    "? u.txt\0"
)


def test_recorded_status_with_rename() -> None:
    status = parse_porcelain_v2(RECORDED)
    assert status["branch"] == "main"
    assert status["head"] == SHA
    assert status["upstream"] == "origin/main"
    assert (status["ahead"], status["behind"]) == (2, 1)
    assert status["detached"] is False
    assert status["staged"] == [
        {"path": "a.txt", "status": "M"},
        {"path": "new name.txt", "status": "R", "orig_path": "old.txt"},
    ]
    assert status["unstaged"] == [{"path": "a.txt", "status": "M"}]
    assert status["untracked"] == ["u.txt"]
    assert status["conflicted"] == []
    assert status["clean"] is False


def test_unborn_branch() -> None:
    status = parse_porcelain_v2("# branch.oid (initial)\0# branch.head main\0")
    assert status["head"] is None
    assert status["branch"] == "main"
    assert status["upstream"] is None
    assert (status["ahead"], status["behind"]) == (0, 0)
    assert status["clean"] is True


def test_unborn_branch_with_staged_file() -> None:
    entry = f"1 A. N... 000000 100644 100644 {'0' * 40} {H1} x.py"
    text = f"# branch.oid (initial)\0# branch.head trunk\0{entry}\0"
    status = parse_porcelain_v2(text)
    assert status["head"] is None
    assert status["staged"] == [{"path": "x.py", "status": "A"}]
    assert status["clean"] is False


def test_detached_head() -> None:
    status = parse_porcelain_v2(f"# branch.oid {SHA}\0# branch.head (detached)\0")
    assert status["branch"] is None
    assert status["detached"] is True
    assert status["head"] == SHA


def test_conflict_and_worktree_deletion() -> None:
    text = (
        f"# branch.oid {SHA}\0# branch.head main\0"
        f"u UU N... 100644 100644 100644 100644 {H1} {H2} {H1} both.txt\0"
        f"1 .D N... 100644 100644 000000 {H1} {H1} gone.txt\0"
    )
    status = parse_porcelain_v2(text)
    assert status["conflicted"] == [{"path": "both.txt", "status": "UU"}]
    assert status["unstaged"] == [{"path": "gone.txt", "status": "D"}]
    assert status["staged"] == []


def test_parse_log_records() -> None:
    text = (
        f"{SHA}\x1fAda Lovelace\x1fada@example.org\x1f2024-05-01T10:00:00+02:00\x1ffix: a | b\x1e\n"
        f"{H1}\x1fBob\x1fbob@example.org\x1f2024-04-30T09:00:00+00:00\x1finitial\x1e\n"
    )
    commits = parse_log(text)
    assert [c["sha"] for c in commits] == [SHA, H1]
    assert commits[0] == {
        "sha": SHA,
        "author": "Ada Lovelace",
        "email": "ada@example.org",
        "date": "2024-05-01T10:00:00+02:00",
        "subject": "fix: a | b",
    }
    assert parse_log("") == []


def test_parse_numstat_with_rename_and_binary() -> None:
    files = parse_numstat("1\t0\ta.txt\x000\t0\t\x00old.txt\x00new name.txt\x00-\t-\tlogo.png\x00")
    assert files == [
        {"path": "a.txt", "insertions": 1, "deletions": 0, "binary": False},
        {"orig_path": "old.txt", "path": "new name.txt", "insertions": 0, "deletions": 0, "binary": False},
        {"path": "logo.png", "insertions": 0, "deletions": 0, "binary": True},
    ]
    assert parse_numstat("") == []


@pytest.mark.parametrize(
    ("output", "cls", "expected"),
    [
        (
            "fatal: not a git repository (or any of the parent directories): .git",
            ToolExecutionError,
            "not a git repository: /x",
        ),
        (
            "fatal: Unable to create '/x/.git/index.lock': File exists.\n\nAnother git process...",
            TransientToolError,
            "locked",
        ),
        (
            "fatal: unable to access 'https://h/r.git/': Could not resolve host: h",
            TransientToolError,
            "Could not resolve host",
        ),
        (
            "fatal: unable to access 'http://127.0.0.1:9/r.git/': Failed to connect to 127.0.0.1 port 9",
            TransientToolError,
            "Failed to connect",
        ),
        (
            "error: pathspec 'nope' did not match any file(s) known to git",
            ToolExecutionError,
            "git cmd: pathspec 'nope' did not match",
        ),
        ("", ToolExecutionError, "exited with status 128"),
    ],
)
def test_git_error_mapping(output: str, cls: type[Exception], expected: str) -> None:
    err = git_error("/x", "cmd", output, 128)
    assert type(err) is cls
    assert expected in str(err)
    assert "\n" not in str(err)
