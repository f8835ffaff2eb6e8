"""Forge tools: read and write Gitea issues and comments, through ``GiteaClient``.

Each call opens a ``GiteaClient`` on ``ToolEnv.gitea_url`` with the house's
token and ``ToolEnv.http_transport``, and turns the client's errors into the
tool errors the Harness understands:

    Unauthorized, Forbidden (401, 403)   ToolExecutionError  the forge refused the token
    NotFound (404)                       ToolExecutionError  not found (or not visible to the token)
    Unprocessable (422)                  ToolCallError       Gitea's validation message
    ServerError 502, 503, 504            TransientToolError  (and ForgeUnavailable: refused
                                                             connections, timeouts)
    any other ForgeError                 ToolExecutionError

The client does not retry here (``retries=0``): the Harness retries transient
tool errors itself, and two retry layers would multiply the attempts. The token
never appears in a result or an error message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from ..errors import (
    ConfigError,
    Forbidden,
    ForgeError,
    ForgeUnavailable,
    NotFound,
    ToolCallError,
    ToolExecutionError,
    TransientToolError,
    Unauthorized,
    Unprocessable,
)
from ..forge import RETRYABLE_STATUSES, GiteaClient, Issue
from ..reporef import RepoRef
from .env import ToolEnv
from .spec import tool

__all__ = ["gitea_comment", "gitea_create_issue", "gitea_get_issue", "gitea_list_issues"]

_TIMEOUT = 20.0
_MAX_LIMIT = 50  # Gitea silently caps page sizes at MAX_RESPONSE_ITEMS=50


def _tool_error(exc: ForgeError, what: str) -> Exception:
    """The tool error for a forge error answer (the client has scrubbed the token already)."""
    suffix = f": {exc.message}" if exc.message else ""
    where = f"{what} ({exc.url})" if exc.url else what
    if isinstance(exc, Unauthorized | Forbidden):
        return ToolExecutionError(
            f"the forge refused the token (HTTP {exc.status}) for {where}{suffix}; "
            "check gitea_token and its scopes (write:issue, write:repository, read:user)"
        )
    if isinstance(exc, NotFound):
        return ToolExecutionError(f"forge {where}: not found (or not visible to this token)")
    if isinstance(exc, Unprocessable):
        return ToolCallError(f"the forge rejected {where}{suffix or ': HTTP 422'}")
    if exc.status in RETRYABLE_STATUSES:
        return TransientToolError(str(exc))
    return ToolExecutionError(str(exc))


@asynccontextmanager
async def _forge(env: ToolEnv, what: str) -> AsyncIterator[GiteaClient]:
    """A ``GiteaClient`` for ``env``, with its errors turned into tool errors."""
    if not env.gitea_url:
        raise ToolExecutionError("no forge configured: set gitea_url")
    try:
        client = GiteaClient(env.gitea_url, env.gitea_token, transport=env.http_transport, timeout=_TIMEOUT, retries=0)
    except ConfigError as exc:
        raise ToolExecutionError(f"cannot reach the forge: {exc}") from None
    try:
        async with client:
            yield client
    except ForgeError as exc:
        raise _tool_error(exc, what) from None
    except ForgeUnavailable as exc:
        raise TransientToolError(str(exc)) from None


def _check_number(number: int) -> None:
    if number < 1:
        raise ToolCallError(f"an issue number is 1 or more, not {number}")


def _when(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _summary(issue: Issue) -> dict[str, Any]:
    return {
        "number": issue.number,
        "title": issue.title,
        "state": issue.state,
        "labels": issue.label_names,
        "assignees": [user.login for user in issue.assignees],
        "url": issue.html_url or None,
    }


@tool(group="gitea")
async def gitea_list_issues(
    env: ToolEnv,
    repo: str,
    state: Literal["open", "closed", "all"] = "open",
    labels: str = "",
    limit: int = 50,
) -> dict[str, Any]:
    """List the issues (not pull requests) of a forge repository, newest first.

    Args:
        repo: The repository as "owner/name".
        state: Which issues: "open", "closed" or "all".
        labels: Comma-separated label names; only issues carrying every one of them are listed.
        limit: How many issues at most, 1 to 50.
    """
    owner, name = RepoRef.parse(repo, error=ToolCallError)
    if not 1 <= limit <= _MAX_LIMIT:
        raise ToolCallError(f"limit must be between 1 and {_MAX_LIMIT}, not {limit}")
    wanted = [label.strip() for label in labels.split(",") if label.strip()]
    async with _forge(env, "GET issue list") as forge:
        found = await forge.list_issues(owner, name, state=state, type="issues", labels=wanted, limit=limit)
    issues = [_summary(issue) for issue in found]
    # Gitea drops unknown label names silently (all unknown: no filter at all), so check here too.
    issues = [issue for issue in issues if all(label in issue["labels"] for label in wanted)]
    return {"issues": issues}


@tool(group="gitea")
async def gitea_get_issue(env: ToolEnv, repo: str, number: int) -> dict[str, Any]:
    """Read one issue (or pull request) of a forge repository, with its body.

    Args:
        repo: The repository as "owner/name".
        number: The issue number within the repository.
    """
    owner, name = RepoRef.parse(repo, error=ToolCallError)
    _check_number(number)
    async with _forge(env, f"GET issue {number}") as forge:
        issue = await forge.get_issue(owner, name, number)
    return {
        **_summary(issue),
        "body": issue.body,
        "author": issue.user.login if issue.user else None,
        "comments": issue.comments,
        "is_pull_request": issue.is_pull,
        "created_at": _when(issue.created_at),
        "updated_at": _when(issue.updated_at),
        "closed_at": _when(issue.closed_at),
    }


@tool(group="gitea", mutates=True, idempotent=False)
async def gitea_create_issue(
    env: ToolEnv,
    repo: str,
    title: str,
    body: str = "",
    labels: Sequence[int] = (),
) -> dict[str, Any]:
    """Open a new issue in a forge repository.

    Args:
        repo: The repository as "owner/name".
        title: The issue title.
        body: The issue text (Markdown).
        labels: Ids of labels to put on the issue (ids, not names); the forge ignores them
            when the token may not write labels.
    """
    owner, name = RepoRef.parse(repo, error=ToolCallError)
    if not title.strip():
        raise ToolCallError("an issue needs a non-empty title")
    async with _forge(env, "POST new issue") as forge:
        issue = await forge.create_issue(owner, name, title, body, labels=list(labels))
    return {"number": issue.number, "url": issue.html_url or None}


@tool(group="gitea", mutates=True, idempotent=False)
async def gitea_comment(env: ToolEnv, repo: str, number: int, body: str) -> dict[str, Any]:
    """Add a comment to an issue or pull request of a forge repository.

    Args:
        repo: The repository as "owner/name".
        number: The issue (or pull request) number.
        body: The comment text (Markdown).
    """
    owner, name = RepoRef.parse(repo, error=ToolCallError)
    _check_number(number)
    if not body.strip():
        raise ToolCallError("a comment needs a non-empty body")
    async with _forge(env, f"POST comment on issue {number}") as forge:
        comment = await forge.create_comment(owner, name, number, body)
    return {"id": comment.id, "url": comment.html_url or None}
