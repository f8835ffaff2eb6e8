"""Git tools: status, log, diff, branches, checkout, commit, pull and push of a working tree.

Every call goes through :func:`git_safety.run_git`: a fixed environment and ``-c`` overrides so that
nothing in the repository (its config, hooks, attributes) can make git run a program, and the
repository's config checked against an allowlist before each invocation (``GitRefused`` otherwise).
Refs, branches and remotes that start with ``-`` are refused (option injection) and paths always
follow ``--``. The output parsers are pure module-level functions (``git_output``).

``git_push`` and ``git_pull`` talk to the forge only: the remote's URL is read from
``remote.<name>.url`` and must be an http(s) URL on ``ToolEnv.gitea_url``; git is then given that
exact URL and an exact refspec (``refs/heads/<b>:refs/heads/<b>``), never the remote's name, and
the house's token (``ToolEnv.gitea_token``) through the environment, for the forge's URLs only.
The push's facts hook tells the policy which branch is pushed and the repository's default branch
*as the forge records it* (``GET /repos/{owner}/{repo}``), never as the clone says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import GitRefused, ToolCallError, ToolExecutionError
from . import process
from .env import ToolEnv
from .git_output import git_error, parse_log, parse_numstat, parse_porcelain_v2
from .git_safety import ForgeAuth, forge_repository, run_git
from .gitea import _forge
from .spec import DecidedFacts, ReadPath, Risk, WritePath, tool

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

LOCAL_TIMEOUT = 30.0
NETWORK_TIMEOUT = 150.0
DIFF_CAP = 200_000
_NOTHING = ("nothing to commit", "no changes added to commit", "nothing added to commit")
_LOG_FORMAT = "%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e"
_PUSH_FLAGS = {" ": "fast_forward", "+": "forced", "-": "deleted", "*": "new", "=": "up_to_date", "!": "rejected"}
_REMOTE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)")


def _check_name(value: str, what: str, *, required: bool = False) -> str:
    if required and not value:
        raise ToolCallError(f"{what} must not be empty")
    if value.startswith("-"):
        raise ToolCallError(f"{what} {value!r} must not start with '-' (it would be read as an option)")
    if any(ch in value for ch in "\0\n\r"):
        raise ToolCallError(f"{what} {value!r} contains control characters")
    return value


def _check_branch(value: str, what: str = "branch") -> str:
    """A branch name git would accept (``git check-ref-format --branch``), or ``ToolCallError``."""
    _check_name(value, what)
    if value and (_BAD_REF.search(value) or value.startswith(("/", ".")) or value.endswith(("/", ".")) or value == "@"):
        raise ToolCallError(f"{what} {value!r} is not a valid branch name")
    return value


def _check_remote(value: str) -> str:
    _check_name(value, "remote", required=True)
    if not _REMOTE_RE.fullmatch(value):
        raise ToolCallError(f"remote {value!r} must be a plain remote name (letters, digits, '_', '.', '-')")
    return value


async def _git(
    repo: str, *args: str, timeout: float = LOCAL_TIMEOUT, check: bool = True, max_output: int = 1_000_000,
    auth: ForgeAuth | None = None, url: str | None = None,
) -> process.Completed:  # fmt: skip
    done = await run_git(*args, repo=repo, timeout=timeout, max_output=max_output, auth=auth, url=url)
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
    base = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", *(["--cached"] if staged else [])]
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
    author_flag = [f"--author={author}"] if author else []
    done = await _git(
        repo_path, "commit", "--no-verify", "--no-gpg-sign", "-m", message, *author_flag, "--", *paths, check=False
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


# -- remotes: only the forge ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Remote:
    """Where a push or pull goes: the local ``branch``, the ``remote``'s name and its forge ``url``,
    the forge repository ``owner``/``name`` parsed from it."""

    branch: str
    remote: str
    url: str
    owner: str
    name: str

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.name}"


async def _remote_url(repo: str, remote: str, command: str) -> str:
    """``remote.<remote>.url``, the one place a remote's address is read from (``pushurl`` and
    ``insteadOf`` are refused by the config check before git even reads this)."""
    done = await _git(repo, "config", "-z", "--get-all", f"remote.{remote}.url", check=False)
    if done.returncode == 1 and not done.stderr.strip():
        raise ToolExecutionError(f"git {command}: {repo} has no remote {remote!r} (remote.{remote}.url is not set)")
    if not done.ok:
        raise git_error(repo, command, done.stderr, done.returncode)
    urls = [url for url in done.stdout.split("\0") if url]
    if len(urls) != 1:
        raise GitRefused(f"refusing to {command} from {repo}: remote {remote!r} has {len(urls)} URLs, not one",
                         repository=repo, key=f"remote.{remote}.url")  # fmt: skip
    return urls[0]


async def _resolve(repo: str, remote: str, branch: str, env: ToolEnv, command: str) -> _Remote:
    """The push or pull target; ``GitRefused`` when the remote is not a repository on the forge."""
    _check_remote(remote)
    branch = _check_branch(branch) or await _current_branch(repo) or ""
    if not branch:
        raise ToolExecutionError(f"git {command}: HEAD is detached; name the branch")
    url = await _remote_url(repo, remote, command)
    owner, name = forge_repository(url, env.gitea_url, repository=repo)
    return _Remote(branch, remote, url, owner, name)


def _auth(env: ToolEnv) -> ForgeAuth | None:
    return ForgeAuth(env.gitea_url, env.gitea_token) if env.gitea_url and env.gitea_token else None


async def _default_branch(env: ToolEnv, target: _Remote) -> str:
    """The repository's default branch as the forge records it."""
    async with _forge(env, f"repository {target.repository}") as forge:
        info = await forge.get_repo(target.owner, target.name)
    if not info.default_branch:
        raise ToolExecutionError(f"the forge gives no default branch for {target.repository}")
    return info.default_branch


async def _upstream_branch(repo: str) -> str:
    """The branch the current one tracks (``branch.<current>.merge``), for a pull without a branch."""
    current = await _current_branch(repo)
    merge = await _quiet(repo, "config", "--get", f"branch.{current}.merge") if current else None
    if not merge or not merge.startswith("refs/heads/"):
        raise ToolExecutionError("git pull: the current branch has no upstream branch; name the branch to pull")
    return merge.removeprefix("refs/heads/")


@tool(group="git", mutates=True, idempotent=True, risk=Risk.MEDIUM, timeout=180)
async def git_pull(
    repo_path: WritePath, env: ToolEnv, remote: str = "origin", branch: str = "", ff_only: bool = True
) -> dict[str, Any]:
    """Fetch a branch from the forge and integrate it into the current branch.

    Args:
        repo_path: Path of the repository's working tree.
        remote: Remote to pull from; its URL must be a repository on the configured forge.
        branch: Remote branch to pull; empty for the current branch's upstream.
        ff_only: Refuse anything but a fast-forward; when false, a merge commit may be made.
    """
    _check_remote(remote)
    target = await _resolve(repo_path, remote, _check_branch(branch) or await _upstream_branch(repo_path), env, "pull")
    tracking = f"refs/remotes/{remote}/{target.branch}"
    before = await _head(repo_path)
    fetch = [
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        target.url,
        f"+refs/heads/{target.branch}:{tracking}",
    ]
    done = await _git(repo_path, *fetch, timeout=NETWORK_TIMEOUT, check=False, auth=_auth(env), url=target.url)
    if not done.ok:
        raise git_error(repo_path, "pull", f"{done.stderr}\n{done.stdout}", done.returncode)
    how = ["--ff-only"] if ff_only else ["--no-edit"]
    done = await _git(repo_path, "merge", *how, "--no-verify", "--no-gpg-sign", "--quiet", tracking, check=False)
    if not done.ok:
        raise git_error(repo_path, "pull", f"{done.stderr}\n{done.stdout}", done.returncode)
    after = await _head(repo_path)
    return {
        "remote": remote,
        "branch": target.branch,
        "head_before": before,
        "head_after": after,
        "updated": before != after,
    }


async def git_push_facts(values: Mapping[str, Any], env: ToolEnv) -> dict[str, Any]:
    """Facts hook for the policy: the branch a push targets, the remote's name and forge URL, the
    repository, and its default branch as the forge records it. Raises (``GitRefused``,
    ``ToolExecutionError``) when any of it cannot be established: the push is then not made."""
    repo = os.path.realpath(os.path.expanduser(str(values["repo_path"])))
    remote, branch = str(values.get("remote") or "origin"), str(values.get("branch") or "")
    target = await _resolve(repo, remote, branch, env, "push")
    return {
        "branch": target.branch,
        "default_branch": await _default_branch(env, target),
        "remote": target.remote,
        "url": target.url,
        "repository": target.repository,
    }


@tool(group="git", mutates=True, idempotent=False, risk=Risk.HIGH, timeout=180, facts=git_push_facts)
async def git_push(
    repo_path: WritePath,
    env: ToolEnv,
    remote: str = "origin",
    branch: str = "",
    set_upstream: bool = False,
    force: bool = False,
    decided: DecidedFacts | None = None,
) -> dict[str, Any]:
    """Push a local branch to the same-named branch of the remote's repository on the forge.

    Args:
        repo_path: Path of the repository's working tree.
        remote: Remote to push to; its URL must be a repository on the configured forge.
        branch: Local branch to push; empty for the current branch.
        set_upstream: Make the pushed branch the upstream of the local one.
        force: Overwrite the remote branch, but only if it is where we last saw it (a lease).
    """
    # Through the Harness, push exactly the branch and URL the policy allowed (``decided``): working them
    # out again here could see another branch checked out meanwhile (branch="" means the current one).
    target = await _resolve(repo_path, remote, branch, env, "push")
    if decided is not None:
        if decided.get("url") != target.url or (branch and decided.get("branch") != target.branch):
            raise ToolExecutionError(
                "git push: the remote or branch changed after the policy decided on them; nothing was pushed"
            )
        target = replace(target, branch=str(decided["branch"]))
    name, tracking = target.branch, f"refs/remotes/{remote}/{target.branch}"
    local = await _quiet(repo_path, "rev-parse", "-q", "--verify", f"refs/heads/{name}^{{commit}}")
    if local is None:
        raise ToolExecutionError(f"git push: there is no local branch {name!r} in {repo_path}")
    lease = []
    if force:  # an explicit lease: the remote branch must still be where our tracking ref says (or absent)
        seen = await _quiet(repo_path, "rev-parse", "-q", "--verify", tracking) or ""
        lease = [f"--force-with-lease=refs/heads/{name}:{seen}"]
    done = await _git(
        repo_path, "push", "--porcelain", "--no-verify", *lease, target.url, f"refs/heads/{name}:refs/heads/{name}",
        timeout=NETWORK_TIMEOUT, check=False, auth=_auth(env), url=target.url,
    )  # fmt: skip
    status = [_PUSH_FLAGS.get(ln[0], "unknown") for ln in done.stdout.splitlines() if "\t" in ln]
    if not done.ok or "rejected" in status:
        raise git_error(repo_path, "push", f"{done.stdout}\n{done.stderr}", done.returncode)
    await _git(repo_path, "update-ref", tracking, local)  # what git does itself when pushing to a remote's name
    if set_upstream:
        await _git(repo_path, "config", f"branch.{name}.remote", remote)
        await _git(repo_path, "config", f"branch.{name}.merge", f"refs/heads/{name}")
    return {
        "remote": remote,
        "branch": name,
        "status": status[0] if status else "unknown",
        "set_upstream": set_upstream,
        "forced": force,
    }
