"""Commit statuses: create (201; the object's key is ``status``), list (history; ``Link``), combined (key ``state``).

Combined state as Gitea's ``modules/commitstatus``: any error/failure/warning → failure; all success or
skipped (and at least one) → success; otherwise, including no statuses at all → pending. Creating a
status on a sha the repository does not have is a 500 (Gitea's ``GetCommit`` error).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import WRITE, RepoCtx, load_repo
from .auth import Caller, caller_of, require_user
from .core import Forge, forge_of
from .db import Row
from .errors import bad_request, not_found, server_error
from .events import fire_status
from .glob import glob_match
from .objects import repo_json
from .pagination import list_response, page_of
from .pull_objects import status_json
from .web import Body, created, json_body, ok

__all__ = ["combined_state", "latest_statuses", "required_checks_pass", "router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}"
STATES = ("pending", "success", "error", "failure", "warning", "skipped")


def combined_state(states: list[str]) -> str:
    if any(s in ("error", "failure", "warning") for s in states):
        return "failure"
    if states and all(s in ("success", "skipped") for s in states):
        return "success"
    return "pending"


def latest_statuses(forge: Forge, repo_id: int, sha: str) -> list[Row]:
    """The newest status of each context for ``sha``, by context."""
    return forge.db.all(
        "SELECT s.* FROM statuses s WHERE s.repo_id = ? AND s.sha = ? AND s.id = "
        "(SELECT max(id) FROM statuses t WHERE t.repo_id = s.repo_id AND t.sha = s.sha AND t.context = s.context) "
        "ORDER BY s.context",
        (repo_id, sha),
    )


def required_checks_pass(forge: Forge, repo_id: int, sha: str, contexts: list[str]) -> bool:
    """Gitea's ``MergeRequiredContextsCommitStatus``: each required pattern needs matching successes."""
    latest = latest_statuses(forge, repo_id, sha)
    if not contexts:
        return not latest or combined_state([s["state"] for s in latest]) == "success"
    states: list[str] = []
    for pattern in contexts:
        matched = [s["state"] for s in latest if glob_match(pattern, s["context"])]
        states.append(combined_state(matched) if matched else "pending")
    return combined_state(states) == "success"


def _resolve(rc: RepoCtx, ref: str) -> str | None:
    return rc.git.resolve(ref)


@router.post(BASE + "/statuses/{sha}")
def create_status(
    owner: str,
    repo: str,
    sha: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=WRITE)
    state = body.str("state")
    if state not in STATES:
        raise bad_request(f"invalid commit status state: {state!r}")
    full = _resolve(rc, sha) if len(sha) >= 4 else None
    if full is None:
        raise server_error()  # Gitea: GetCommit fails → 500
    now = forge.now()
    status_id = forge.db.run(
        "INSERT INTO statuses (repo_id, sha, context, state, description, target_url, creator_id, created, updated) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        (rc.id, full, body.str("context") or "default", state, body.str("description"), body.str("target_url"),
         user["id"], now, now),
    )  # fmt: skip
    row = forge.db.one("SELECT * FROM statuses WHERE id = ?", (status_id,))
    assert row is not None
    fire_status(forge, rc.repo, row, user)
    return created(status_json(forge, row, rc.full_name))


def _list(request: Request, rc: RepoCtx, sha: str) -> Response:
    q = request.query_params
    where, args = "repo_id = ? AND sha = ?", [rc.id, sha]
    if q.get("state") in STATES:
        where += " AND state = ?"
        args.append(q.get("state", ""))
    order = {
        "oldest": "created ASC, id ASC",
        "recentupdate": "updated DESC, id DESC",
        "leastupdate": "updated ASC, id ASC",
        "leastindex": "id ASC",
        "highestindex": "id DESC",
    }.get(q.get("sort", ""), "created DESC, id DESC")
    rows = rc.forge.db.all(f"SELECT * FROM statuses WHERE {where} ORDER BY {order}", args)  # noqa: S608
    page = page_of(request)
    items = [status_json(rc.forge, r, rc.full_name) for r in page.slice(rows)]
    return list_response(request, items, len(rows), link=True)


@router.get(BASE + "/statuses/{sha}")
def list_statuses(owner: str, repo: str, sha: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    return _list(request, rc, _resolve(rc, sha) or sha)


@router.get(BASE + "/commits/{ref:path}/statuses")
def ref_statuses(owner: str, repo: str, ref: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    sha = _resolve(rc, ref)
    if sha is None:
        raise not_found()
    return _list(request, rc, sha)


@router.get(BASE + "/commits/{ref:path}/status")
def combined_status(owner: str, repo: str, ref: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    sha = _resolve(rc, ref)
    if sha is None:
        raise not_found()
    latest = latest_statuses(rc.forge, rc.id, sha)
    page = page_of(request)
    body: dict[str, Any] = {
        "state": combined_state([s["state"] for s in latest]),
        "sha": sha,
        "total_count": len(latest),
        "statuses": [status_json(rc.forge, s, rc.full_name) for s in page.slice(latest)],
        "repository": repo_json(rc.forge, rc.repo, rc.owner, rc.mode),
        "commit_url": rc.api(f"/commits/{sha}"),
        "url": rc.api(f"/commits/{sha}/status"),
    }
    return ok(body, headers={"X-Total-Count": str(len(latest))})
