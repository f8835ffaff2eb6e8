"""Reading git's output: pure parsers for porcelain v2 status, log records and numstat, and error mapping.

Kept apart from the tools (which only run git) so each is tested from recorded output.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ToolExecutionError, TransientToolError

__all__ = ["git_error", "parse_log", "parse_numstat", "parse_porcelain_v2"]

_TRANSPORT = re.compile(r"transport '[^']*' not allowed")
_LOCK_RE = re.compile(r"unable to create '[^']*\.lock'|index\.lock", re.IGNORECASE)
_NETWORK = (
    "could not resolve host",
    "connection refused",
    "failed to connect",
    "connection timed out",
    "temporary failure in name resolution",
)


def parse_porcelain_v2(text: str) -> dict[str, Any]:
    """Parse ``git status --porcelain=v2 --branch -z``: entries are ``{path, status}`` (renames add
    ``orig_path``; conflicts carry the two-letter code), untracked files are plain paths."""
    info: dict[str, Any] = {
        "branch": None,
        "detached": False,
        "upstream": None,
        "ahead": 0,
        "behind": 0,
        "head": None,
        "staged": [],
        "unstaged": [],
        "untracked": [],
        "conflicted": [],
    }
    tokens = text.split("\0")
    i = 0
    while i < len(tokens):
        rec, kind = tokens[i], tokens[i][:2]
        i += 1
        if kind == "# ":
            _header(info, rec[2:])
        elif kind == "1 ":
            parts = rec.split(" ", 8)
            _entry(info, parts[1], parts[8], None)
        elif kind == "2 ":  # renamed or copied: the original path is the next field
            parts = rec.split(" ", 9)
            _entry(info, parts[1], parts[9], tokens[i] if i < len(tokens) else None)
            i += 1
        elif kind == "u ":
            parts = rec.split(" ", 10)
            info["conflicted"].append({"path": parts[10], "status": parts[1]})
        elif kind == "? ":
            info["untracked"].append(rec[2:])
    info["clean"] = not any(info[k] for k in ("staged", "unstaged", "untracked", "conflicted"))
    return info


def _header(info: dict[str, Any], header: str) -> None:
    key, _, value = header.partition(" ")
    if key == "branch.oid":
        info["head"] = None if value == "(initial)" else value
    elif key == "branch.head":
        info["detached"] = value == "(detached)"
        info["branch"] = None if info["detached"] else value
    elif key == "branch.upstream":
        info["upstream"] = value
    elif key == "branch.ab":
        ahead, _, behind = value.partition(" ")
        info["ahead"], info["behind"] = abs(int(ahead)), abs(int(behind))


def _entry(info: dict[str, Any], xy: str, path: str, orig: str | None) -> None:
    if xy[0] != ".":
        staged: dict[str, Any] = {"path": path, "status": xy[0]}
        if orig is not None:
            staged["orig_path"] = orig
        info["staged"].append(staged)
    if xy[1] != ".":
        info["unstaged"].append({"path": path, "status": xy[1]})


def parse_log(text: str) -> list[dict[str, str]]:
    """Parse ``git log`` output written with ``_LOG_FORMAT`` (unit- and record-separated fields)."""
    commits = []
    for record in text.split("\x1e"):
        record = record.strip("\n")
        if record:
            sha, author, email, date, subject = record.split("\x1f", 4)
            commits.append({"sha": sha, "author": author, "email": email, "date": date, "subject": subject})
    return commits


def parse_numstat(text: str) -> list[dict[str, Any]]:
    """Parse ``git diff --numstat -z``; binary files count zero lines and carry ``binary: True``."""
    files: list[dict[str, Any]] = []
    tokens = text.split("\0")
    i = 0
    while i < len(tokens):
        rec = tokens[i].strip("\n")
        i += 1
        if not rec:
            continue
        added, deleted, path = rec.split("\t", 2)
        entry: dict[str, Any] = {}
        if not path:  # a rename or copy: the old and the new path follow as two fields
            entry["orig_path"], path = tokens[i], tokens[i + 1]
            i += 2
        binary = added == "-"
        entry.update(
            path=path, insertions=0 if binary else int(added), deletions=0 if binary else int(deleted), binary=binary
        )
        files.append(entry)
    return files


def git_error(repo: str, command: str, output: str, returncode: int) -> ToolExecutionError:
    """Turn a failed git call's output into a one-line error of the right class."""
    low = output.lower()
    if "not a git repository" in low:
        return ToolExecutionError(f"not a git repository: {repo}")
    if "cannot change to" in low:
        return ToolExecutionError(f"not a git repository: {repo} (no such directory)")
    if "cannot use bare repository" in low:
        return ToolExecutionError(
            f"not a git repository: {repo} is a bare repository, which git is allowed to use only when it is "
            "named explicitly (safe.bareRepository=explicit); give the path of a working tree"
        )
    transport = _TRANSPORT.search(low)
    if transport:
        return ToolExecutionError(f"git {command}: {transport[0]}; git contacts remotes over http and https only")
    lines = [" ".join(ln.split()) for ln in output.splitlines() if ln.strip()]
    picked = [ln for ln in lines if ln.startswith("!")] or [
        re.sub(r"^(fatal|error):\s*", "", ln) for ln in lines if ln.startswith(("fatal:", "error:"))
    ]
    line = (picked or lines[-1:] or [f"exited with status {returncode}"])[0][:300]
    if _LOCK_RE.search(output):
        return TransientToolError(f"git {command}: repository is locked by another git process: {line}")
    if any(marker in low for marker in _NETWORK):
        return TransientToolError(f"git {command}: {line}")
    return ToolExecutionError(f"git {command}: {line}")
