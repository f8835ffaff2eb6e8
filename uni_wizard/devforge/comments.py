"""Issue comments: one issue's comments (not paginated, oldest first), the repository's comments, CRUD.

Commenting bumps the issue's ``updated_at``. Like Gitea, listing the comments of a missing issue
answers 500 (the handler does not check the issue first).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import READ, WRITE, RepoCtx, load_repo
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .db import Row, fmt_time, parse_time
from .errors import forbidden, not_found, required, server_error, unprocessable
from .events import fire_comment
from .issuecore import get_issue, reload_issue, touch
from .objects import comment_json, user_by_id_json
from .pagination import list_response, page_of
from .web import Body, created, json_body, no_content, ok

__all__ = ["router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}"


def _window(request: Request) -> tuple[str, list[int]]:
    where, args = "", []
    for name, op in (("since", ">="), ("before", "<=")):
        value = request.query_params.get(name)
        if value:
            try:
                args.append(parse_time(value))
            except ValueError as exc:
                raise unprocessable(str(exc)) from exc
            where += f" AND c.updated {op} ?"
    return where, args


@router.get(BASE + "/issues/comments")
def repo_comments(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    where, args = _window(request)
    rows = rc.forge.db.all(
        "SELECT c.*, i.number FROM comments c JOIN issues i ON i.id = c.issue_id WHERE i.repo_id = ?"  # noqa: S608
        + where
        + " ORDER BY c.created, c.id",
        (rc.id, *args),
    )
    page = page_of(request)
    items = []
    for row in page.slice(rows):
        issue = reload_issue(rc.forge, row["issue_id"])
        items.append(comment_json(rc.forge, row, issue, rc.full_name))
    return list_response(request, items, len(rows), link=False)


@router.get(BASE + "/issues/{index}/comments")
def issue_comments(
    owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    try:
        issue = get_issue(rc, index)
    except Exception as exc:
        raise server_error() from exc  # Gitea does not check the issue here: a missing one is a 500
    where, args = _window(request)
    rows = rc.forge.db.all(
        f"SELECT c.* FROM comments c WHERE c.issue_id = ? {where} ORDER BY c.created, c.id",  # noqa: S608
        (issue["id"], *args),
    )
    items = [comment_json(rc.forge, r, issue, rc.full_name) for r in rows]
    return list_response(request, items, len(rows), link=False)


@router.post(BASE + "/issues/{index}/comments")
def create_comment(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, area="issue", mutates=True)
    issue = get_issue(rc, index)
    if issue["is_locked"] and not rc.can_write():
        raise forbidden("issue is locked")
    text = body.str("body")
    if not text:
        raise required("Body")
    with forge.db.tx():
        now = forge.now()
        comment_id = forge.db.run(
            "INSERT INTO comments (issue_id, poster_id, body, created, updated) VALUES (?,?,?,?,?)",
            (issue["id"], user["id"], text, now, now),
        )
        touch(forge, issue["id"])
        comment = forge.db.one("SELECT * FROM comments WHERE id = ?", (comment_id,))
        issue = reload_issue(forge, issue["id"])
    assert comment is not None
    fire_comment(forge, rc.repo, issue, comment, user)
    return created(comment_json(forge, comment, issue, rc.full_name))


def _comment(rc: RepoCtx, comment_id: str) -> tuple[Row, Row]:
    if not comment_id.isdigit():
        raise not_found()
    row = rc.forge.db.one(
        "SELECT c.* FROM comments c JOIN issues i ON i.id = c.issue_id WHERE c.id = ? AND i.repo_id = ?",
        (int(comment_id), rc.id),
    )
    if row is None:
        raise not_found()
    return row, reload_issue(rc.forge, row["issue_id"])


@router.get(BASE + "/issues/comments/{comment_id}")
def get_comment(
    owner: str, repo: str, comment_id: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    comment, issue = _comment(rc, comment_id)
    return ok(comment_json(rc.forge, comment, issue, rc.full_name))


@router.patch(BASE + "/issues/comments/{comment_id}")
def edit_comment(
    owner: str,
    repo: str,
    comment_id: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, area="issue")
    comment, issue = _comment(rc, comment_id)
    if comment["poster_id"] != user["id"] and rc.mode < WRITE:
        raise forbidden(bodiless=True)
    text = body.str("body")
    if not text:
        raise required("Body")
    with forge.db.tx():
        forge.db.run("UPDATE comments SET body = ?, updated = ? WHERE id = ?", (text, forge.now(), comment["id"]))
        touch(forge, issue["id"])
        old = comment
        comment, issue = _comment(rc, comment_id)
    if old["body"] != text:
        fire_comment(forge, rc.repo, issue, comment, user, action="edited")
    return ok(comment_json(forge, comment, issue, rc.full_name))


@router.delete(BASE + "/issues/comments/{comment_id}")
def delete_comment(
    owner: str, repo: str, comment_id: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, area="issue")
    comment, issue = _comment(rc, comment_id)
    if comment["poster_id"] != user["id"] and rc.mode < WRITE:
        raise forbidden(bodiless=True)
    with forge.db.tx():
        forge.db.run("DELETE FROM comments WHERE id = ?", (comment["id"],))
        touch(forge, issue["id"])
        issue = reload_issue(forge, issue["id"])
    fire_comment(forge, rc.repo, issue, comment, user, action="deleted")
    return no_content()


@router.get(BASE + "/issues/{index}/timeline")
def timeline(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    issue = get_issue(rc, index)
    where, args = _window(request)
    rows = rc.forge.db.all(
        f"SELECT c.* FROM comments c WHERE c.issue_id = ? {where} ORDER BY c.created, c.id",  # noqa: S608
        (issue["id"], *args),
    )
    page = page_of(request)
    items = []
    for row in page.slice(rows):
        item = comment_json(rc.forge, row, issue, rc.full_name)
        item.update({"type": "comment", "user": user_by_id_json(rc.forge, row["poster_id"])})
        item["created_at"], item["updated_at"] = fmt_time(row["created"]), fmt_time(row["updated"])
        items.append(item)
    return list_response(request, items, len(rows), link=False)
