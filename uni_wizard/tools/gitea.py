"""Forge tools: read and write Gitea issues and comments.

A deliberately small client for now: every call goes through ``_request``,
which builds the URL from ``ToolEnv.gitea_url``, sends the token, and turns the
forge's status codes into the package's errors in one place:

    401, 403             ToolExecutionError  the forge refused the token
    404                  ToolExecutionError  not found (or not visible to the token)
    422                  ToolCallError       Gitea's validation message
    502, 503, 504        TransientToolError  (and refused connections, timeouts)
    other 4xx and 5xx    ToolExecutionError

The token never appears in a result or an error message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx

from ..errors import ToolCallError, ToolExecutionError, TransientToolError
from .env import ToolEnv
from .network import RETRYABLE_STATUSES, transport_failure
from .spec import tool

__all__ = ["gitea_comment", "gitea_create_issue", "gitea_get_issue", "gitea_list_issues"]

_TIMEOUT = 20.0
_MAX_LIMIT = 50  # Gitea silently caps page sizes at MAX_RESPONSE_ITEMS=50
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _message(response: httpx.Response) -> str:
    """Gitea's ``message`` from an error body, or the start of the body text."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return response.text[:200].strip()


def _base_url(env: ToolEnv) -> str:
    if not env.gitea_url:
        raise ToolExecutionError("no forge configured: set gitea_url")
    base = env.gitea_url.rstrip("/") + "/api/v1"
    try:
        scheme = httpx.URL(base).scheme
    except httpx.InvalidURL:
        raise ToolExecutionError(f"gitea_url {env.gitea_url!r} is not a valid URL") from None
    if scheme not in ("http", "https"):
        raise ToolExecutionError(f"gitea_url {env.gitea_url!r} must start with http:// or https://")
    return base


async def _request(
    env: ToolEnv,
    method: str,
    path: str,
    *,
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
) -> Any:
    """Call the forge API at ``path`` (below ``/api/v1``); return the decoded JSON (``None`` for 204)."""
    base = _base_url(env)
    token = env.gitea_token
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    where = f"{method} {path}"
    try:
        async with env.http_client(timeout=_TIMEOUT) as client:
            try:
                request = client.build_request(method, base + path, params=params, json=json, headers=headers)
            except (ValueError, TypeError):  # the message could quote the token
                raise ToolExecutionError(
                    f"forge {where}: cannot build the request (is gitea_token a valid header value?)"
                ) from None
            response = await client.send(request)
    except httpx.HTTPError as exc:
        failure = transport_failure(exc, f"forge {where}")
        raise type(failure)(_scrub(str(failure), token)) from None

    status = response.status_code
    if 200 <= status < 300:
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ToolExecutionError(f"forge {where}: HTTP {status} with a body that is not JSON") from None
    detail = _scrub(_message(response), token)
    suffix = f": {detail}" if detail else ""
    if status in (401, 403):
        raise ToolExecutionError(
            f"the forge refused the token (HTTP {status}) for {where}{suffix}; "
            "check gitea_token and its scopes (write:issue, write:repository, read:user)"
        )
    if status == 404:
        raise ToolExecutionError(f"forge {where}: not found (or not visible to this token)")
    if status == 422:
        raise ToolCallError(f"the forge rejected {where}{suffix or ': HTTP 422'}")
    if status in RETRYABLE_STATUSES:
        raise TransientToolError(f"forge {where}: HTTP {status} {response.reason_phrase}{suffix}")
    raise ToolExecutionError(f"forge {where}: HTTP {status} {response.reason_phrase}{suffix}")


def _repo_path(repo: str) -> str:
    """``/repos/{owner}/{name}`` for ``repo`` = "owner/name"; ``ToolCallError`` if malformed."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(_NAME_RE.fullmatch(p) and p not in (".", "..") for p in parts):
        raise ToolCallError(f"repo must be 'owner/name' (letters, digits, '-', '_', '.'), not {repo!r}")
    owner, name = parts
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _check_number(number: int) -> None:
    if number < 1:
        raise ToolCallError(f"an issue number is 1 or more, not {number}")


def _expect(data: Any, kind: type, where: str) -> Any:
    if not isinstance(data, kind):
        raise ToolExecutionError(f"forge {where}: unexpected answer (expected a JSON {kind.__name__})")
    return data


def _summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "number": raw.get("number"),
        "title": raw.get("title", ""),
        "state": raw.get("state"),
        "labels": [lab.get("name") for lab in raw.get("labels") or [] if isinstance(lab, dict)],
        "assignees": [a.get("login") for a in raw.get("assignees") or [] if isinstance(a, dict)],
        "url": raw.get("html_url"),
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
    path = _repo_path(repo)
    if not 1 <= limit <= _MAX_LIMIT:
        raise ToolCallError(f"limit must be between 1 and {_MAX_LIMIT}, not {limit}")
    wanted = [name.strip() for name in labels.split(",") if name.strip()]
    params: dict[str, str | int] = {"state": state, "type": "issues", "limit": limit}
    if wanted:
        params["labels"] = ",".join(wanted)
    data = _expect(await _request(env, "GET", f"{path}/issues", params=params), list, "issue list")
    issues = [_summary(raw) for raw in data if isinstance(raw, dict)]
    # Gitea drops unknown label names silently (all unknown: no filter at all), so check here too.
    issues = [issue for issue in issues if all(name in issue["labels"] for name in wanted)]
    return {"issues": issues}


@tool(group="gitea")
async def gitea_get_issue(env: ToolEnv, repo: str, number: int) -> dict[str, Any]:
    """Read one issue (or pull request) of a forge repository, with its body.

    Args:
        repo: The repository as "owner/name".
        number: The issue number within the repository.
    """
    path = _repo_path(repo)
    _check_number(number)
    raw = _expect(await _request(env, "GET", f"{path}/issues/{number}"), dict, "issue")
    user = raw.get("user")
    return {
        **_summary(raw),
        "body": raw.get("body") or "",
        "author": user.get("login") if isinstance(user, dict) else None,
        "comments": raw.get("comments", 0),
        "is_pull_request": raw.get("pull_request") is not None,
        "created_at": raw.get("created_at"),
        "updated_at": raw.get("updated_at"),
        "closed_at": raw.get("closed_at"),
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
    path = _repo_path(repo)
    if not title.strip():
        raise ToolCallError("an issue needs a non-empty title")
    payload = {"title": title, "body": body, "labels": list(labels)}
    raw = _expect(await _request(env, "POST", f"{path}/issues", json=payload), dict, "new issue")
    return {"number": raw.get("number"), "url": raw.get("html_url")}


@tool(group="gitea", mutates=True, idempotent=False)
async def gitea_comment(env: ToolEnv, repo: str, number: int, body: str) -> dict[str, Any]:
    """Add a comment to an issue or pull request of a forge repository.

    Args:
        repo: The repository as "owner/name".
        number: The issue (or pull request) number.
        body: The comment text (Markdown).
    """
    path = _repo_path(repo)
    _check_number(number)
    if not body.strip():
        raise ToolCallError("a comment needs a non-empty body")
    raw = _expect(
        await _request(env, "POST", f"{path}/issues/{number}/comments", json={"body": body}),
        dict,
        "new comment",
    )
    return {"id": raw.get("id"), "url": raw.get("html_url")}
