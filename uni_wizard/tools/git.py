"""Git tools: status, log, diff, branches, checkout, commit, pull and push of a working tree.

Every call is ``git -C <repo> ...`` through :func:`process.run`, with prompts off and
the C locale so that stderr can be recognised. Refs, branches and remotes that start
with ``-`` are refused (option injection) and paths always follow ``--``. The output
parsers are pure module-level functions.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Mapping
from typing import Any

from ..errors import ToolCallError, ToolExecutionError
from . import process
from .env import ToolEnv
from .git_output import git_error, parse_log, parse_numstat, parse_porcelain_v2
from .spec import ReadPath, Risk, WritePath, tool

__all__ = [
    "git_branch_list",
    "git_checkout",
    "git_commit",
    "git_diff",
    "git_error",
    "git_log",
    "git_pull",
    "git_push",
    "git_push_facts",
    "git_status",
    "parse_log",
    "parse_numstat",
    "parse_porcelain_v2",
]

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
LOCAL_TIMEOUT = 30.0
NETWORK_TIMEOUT = 150.0
DIFF_CAP = 200_000
_NOTHING = ("nothing to commit", "no changes added to commit", "nothing added to commit")
_LOG_FORMAT = "%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e"
_PUSH_FLAGS = {" ": "fast_forward", "+": "forced", "-": "deleted", "*": "new", "=": "up_to_date", "!": "rejected"}


def _check_name(value: str, what: str, *, required: bool = False) -> str:
    if required and not value:
        raise ToolCallError(f"{what} must not be empty")
    if value.startswith("-"):
        raise ToolCallError(f"{what} {value!r} must not start with '-' (it would be read as an option)")
    if any(ch in value for ch in "\0\n\r"):
        raise ToolCallError(f"{what} {value!r} contains control characters")
    return value


async def _git(
    repo: str, *args: str, timeout: float = LOCAL_TIMEOUT, check: bool = True, max_output: int = 1_000_000
) -> process.Completed:
    done = await process.run(["git", "-C", repo, *args], timeout=timeout, env=GIT_ENV, max_output=max_output)
    if check and not done.ok:
        raise git_error(repo, args[0], f"{done.stderr}\n{done.stdout}", done.returncode)
    return done


async def _quiet(repo: str, *args: str) -> str | None:
    """Stdout of a ``-q`` query that exits 1 without a message for "no such thing" (then ``None``)."""
    done = await _git(repo, *args, check=False)
    if done.returncode == 1 and not done.stderr.strip():
        return None
    if not done.ok:
        raise git_error(repo, args[0], done.stderr, done.returncode)
    return done.stdout.strip()


async def _current_branch(repo: str) -> str | None:
    """The checked-out branch (also when unborn); ``None`` when HEAD is detached."""
    return await _quiet(repo, "symbolic-ref", "--short", "-q", "HEAD")


async def _head(repo: str) -> str | None:
    """The sha of HEAD; ``None`` before the first commit."""
    return await _quiet(repo, "rev-parse", "-q", "--verify", "HEAD^{commit}")


@tool(group="git", risk=Risk.LOW)
async def git_status(repo_path: ReadPath) -> dict[str, Any]:
    """Show the working tree status: branch, upstream, ahead/behind and changed files.

    Args:
        repo_path: Path of the repository's working tree.
    """
    done = await _git(repo_path, "status", "--porcelain=v2", "--branch", "-z")
    return parse_porcelain_v2(done.stdout)


@tool(group="git", risk=Risk.LOW)
async def git_log(repo_path: ReadPath, max_count: int = 20, ref: str = "HEAD", path: str = "") -> dict[str, Any]:
    """List recent commits, newest first; a repository without commits gives an empty list.

    Args:
        repo_path: Path of the repository's working tree.
        max_count: Most commits to return (1 to 1000).
        ref: Commit, branch or range to start from.
        path: Only commits touching this path (relative to the repository); empty for all.
    """
    if not 1 <= max_count <= 1000:
        raise ToolCallError(f"max_count must be between 1 and 1000 (got {max_count})")
    _check_name(ref, "ref", required=True)
    if ref == "HEAD" and await _head(repo_path) is None:
        return {"commits": []}
    done = await _git(
        repo_path, "log", f"--format={_LOG_FORMAT}", f"--max-count={max_count}", ref, "--", *([path] if path else [])
    )
    return {"commits": parse_log(done.stdout)}


@tool(group="git", risk=Risk.LOW)
async def git_diff(repo_path: ReadPath, staged: bool = False, ref: str = "", stat_only: bool = False) -> dict[str, Any]:
    """Show changes with per-file line counts: worktree vs index, index vs HEAD, or against a ref.

    Args:
        repo_path: Path of the repository's working tree.
        staged: Compare the index (what would be committed) instead of the working tree.
        ref: Commit or range to diff against; empty for the index (or HEAD when staged).
        stat_only: Return only the counts, not the diff text.
    """
    base = ["diff", "--no-color", "--no-ext-diff", *(["--cached"] if staged else [])]
    base += [_check_name(ref, "ref")] if ref else []
    files = parse_numstat((await _git(repo_path, *base, "--numstat", "-z", "--")).stdout)
    text, truncated = "", False
    if not stat_only:
        done = await _git(repo_path, *base, "--", max_output=DIFF_CAP)
        text, truncated = done.stdout, done.truncated
    return {
        "diff": text,
        "files_changed": len(files),
        "insertions": sum(f["insertions"] for f in files),
        "deletions": sum(f["deletions"] for f in files),
        "files": files,
        "truncated": truncated,
    }


@tool(group="git", risk=Risk.LOW)
async def git_branch_list(repo_path: ReadPath, remote: bool = False) -> dict[str, Any]:
    """List local branches (or remote-tracking ones) with their commit and upstream.

    Args:
        repo_path: Path of the repository's working tree.
        remote: List remote-tracking branches instead of local ones.
    """
    prefix = "refs/remotes/" if remote else "refs/heads/"
    fmt = "%(refname)%1f%(objectname)%1f%(HEAD)%1f%(upstream:short)%1f%(symref)"
    done = await _git(repo_path, "for-each-ref", f"--format={fmt}", prefix)
    branches = []
    for line in done.stdout.splitlines():
        refname, sha, head, upstream, symref = line.split("\x1f")
        if not symref:  # skip origin/HEAD and other pointers at a branch
            branches.append(
                {"name": refname.removeprefix(prefix), "sha": sha, "current": head == "*", "upstream": upstream or None}
            )
    return {"branches": branches}


@tool(group="git", mutates=True, idempotent=True, risk=Risk.MEDIUM)
async def git_checkout(
    repo_path: WritePath, branch: str, create: bool = False, start_point: str = ""
) -> dict[str, Any]:
    """Switch to a branch, optionally creating it; switching to the current branch changes nothing.

    Args:
        repo_path: Path of the repository's working tree.
        branch: Branch to switch to.
        create: Create the branch first (from start_point, or from HEAD).
        start_point: Commit or branch the new branch starts at; only with create.
    """
    _check_name(branch, "branch", required=True)
    _check_name(start_point, "start_point")
    if start_point and not create:
        raise ToolCallError("start_point is only meaningful with create=true")
    previous = await _current_branch(repo_path)
    if previous != branch:
        extra = [start_point] if start_point else []
        await _git(repo_path, "switch", *(["-c"] if create else []), branch, *extra)
    head = await _head(repo_path)
    return {"branch": branch, "previous": previous, "changed": previous != branch, "head": head}


@tool(group="git", mutates=True, idempotent=False, risk=Risk.MEDIUM)
async def git_commit(
    repo_path: WritePath, message: str, paths: list[str] | None = None, add_all: bool = False, author: str = ""
) -> dict[str, Any]:
    """Record a commit of the staged changes, or of the given paths, or of everything.

    Args:
        repo_path: Path of the repository's working tree.
        message: Commit message.
        paths: Commit only these paths (staging their current content, new files included).
        add_all: Stage every change, untracked files included, before committing.
        author: Author as "Name <email>"; empty for the configured identity.
    """
    if not message.strip():
        raise ToolCallError("message must not be empty")
    if author and not re.fullmatch(r"[^<>\n]+ <[^<>\n]+>", author):
        raise ToolCallError(f"author must look like 'Name <email>' (got {author!r})")
    paths = list(paths or [])
    if paths or add_all:
        await _git(repo_path, "add", "-A", "--", *paths)
    done = await _git(
        repo_path, "commit", "-m", message, *([f"--author={author}"] if author else []), "--", *paths, check=False
    )
    if not done.ok:
        if any(s in (done.stdout + done.stderr).lower() for s in _NOTHING):
            raise ToolExecutionError("nothing to commit: no staged changes (stage, give paths or add_all)")
        raise git_error(repo_path, "commit", f"{done.stderr}\n{done.stdout}", done.returncode)
    changed = await _git(repo_path, "diff-tree", "--root", "--no-commit-id", "-r", "--name-only", "-z", "HEAD")
    return {
        "sha": await _head(repo_path),
        "branch": await _current_branch(repo_path),
        "files_changed": len([p for p in changed.stdout.split("\0") if p]),
    }


@tool(group="git", mutates=True, idempotent=True, risk=Risk.MEDIUM, timeout=180)
async def git_pull(
    repo_path: WritePath, remote: str = "origin", branch: str = "", ff_only: bool = True
) -> dict[str, Any]:
    """Fetch from a remote and integrate it into the current branch.

    Args:
        repo_path: Path of the repository's working tree.
        remote: Remote to pull from.
        branch: Remote branch to pull; empty for the current branch's upstream.
        ff_only: Refuse anything but a fast-forward; when false, a merge commit may be made.
    """
    _check_name(remote, "remote", required=True)
    _check_name(branch, "branch")
    before = await _head(repo_path)
    await _git(
        repo_path,
        "pull",
        "--ff-only" if ff_only else "--no-rebase",
        "--no-edit",
        remote,
        *([branch] if branch else []),
        timeout=NETWORK_TIMEOUT,
    )
    after = await _head(repo_path)
    return {
        "remote": remote,
        "branch": branch or await _current_branch(repo_path),
        "head_before": before,
        "head_after": after,
        "updated": before != after,
    }


async def git_push_facts(args: Mapping[str, Any], env: ToolEnv) -> dict[str, Any]:
    """Facts hook for the policy: the branch a push targets (``None`` if it cannot be told)
    and the remote's default branch."""
    return await asyncio.to_thread(_push_facts, args)


def _push_facts(args: Mapping[str, Any]) -> dict[str, Any]:
    repo, remote = str(args["repo_path"]), str(args.get("remote") or "origin")
    branch = str(args.get("branch") or "") or _sync_git(repo, "symbolic-ref", "--short", "-q", "HEAD")
    default = _sync_git(repo, "symbolic-ref", "--short", "-q", f"refs/remotes/{remote}/HEAD")
    if default:
        default = default.removeprefix(f"{remote}/")
    else:
        default = _sync_git(repo, "config", "--get", "init.defaultBranch") or "main"
    return {"branch": branch, "default_branch": default, "remote": remote}


def _sync_git(repo: str, *args: str) -> str | None:
    """Stripped stdout of a quick git query, or ``None`` when it fails or says nothing."""
    try:
        done = subprocess.run(
            ["git", "-C", repo, *args],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, **GIT_ENV},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


@tool(group="git", mutates=True, idempotent=False, risk=Risk.HIGH, timeout=180, facts=git_push_facts)
async def git_push(
    repo_path: WritePath, remote: str = "origin", branch: str = "", set_upstream: bool = False, force: bool = False
) -> dict[str, Any]:
    """Push a local branch to the same-named branch of a remote.

    Args:
        repo_path: Path of the repository's working tree.
        remote: Remote to push to.
        branch: Local branch to push; empty for the current branch.
        set_upstream: Make the pushed branch the upstream of the local one.
        force: Overwrite the remote branch, but only if it is where we last saw it (--force-with-lease).
    """
    _check_name(remote, "remote", required=True)
    branch = _check_name(branch, "branch") or await _current_branch(repo_path) or ""
    if not branch:
        raise ToolExecutionError("git push: HEAD is detached; name the branch to push")
    flags = ["--porcelain", *(["--set-upstream"] if set_upstream else []), *(["--force-with-lease"] if force else [])]
    done = await _git(
        repo_path, "push", *flags, remote, f"refs/heads/{branch}:refs/heads/{branch}", timeout=NETWORK_TIMEOUT
    )
    status = [_PUSH_FLAGS.get(ln[0], "unknown") for ln in done.stdout.splitlines() if "\t" in ln]
    if "rejected" in status:
        raise git_error(repo_path, "push", done.stdout, done.returncode)
    return {
        "remote": remote,
        "branch": branch,
        "status": status[0] if status else "unknown",
        "set_upstream": set_upstream,
        "forced": force,
    }
