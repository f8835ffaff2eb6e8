"""Repository labels and the labels of one issue (GITEA_FACTS §3.2, §3.4).

Names are not unique; colours are stored ``#rrggbb`` and returned without ``#``. The list sends
``X-Total-Count`` only (no ``Link``). On an issue, labels are given as ids or as names (mixing → 400),
unknown ones are ignored, adding answers 200 with the full list, and an exclusive ``scope/value``
label evicts its siblings.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import READ, WRITE, RepoCtx, load_repo
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .db import Row
from .errors import forbidden, not_found, required, unprocessable
from .events import fire_issue
from .issuecore import get_issue, issue_labels_set, normalize_color, reload_issue, resolve_label_refs, touch
from .objects import label_json, labels_of
from .pagination import list_response, page_of
from .web import Body, created, json_body, no_content, ok

__all__ = ["router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}"


def _label(rc: RepoCtx, ident: str) -> Row:
    if ident.lstrip("-").isdigit():
        row = rc.forge.db.one("SELECT * FROM labels WHERE repo_id = ? AND id = ?", (rc.id, int(ident)))
    else:
        row = rc.forge.db.one("SELECT * FROM labels WHERE repo_id = ? AND name = ? ORDER BY id", (rc.id, ident))
    if row is None:
        raise not_found()
    return row


@router.get(BASE + "/labels")
def list_labels(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    page = page_of(request)
    rows = rc.forge.db.all("SELECT * FROM labels WHERE repo_id = ? ORDER BY name, id", (rc.id,))
    items = [label_json(rc.forge, r, rc.full_name) for r in page.slice(rows)]
    return list_response(request, items, len(rows), link=False)


@router.post(BASE + "/labels")
def create_label(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=WRITE, area="issue")
    name = body.str("name")
    if not name:
        raise required("Name")
    if not body.str("color"):
        raise required("Color")
    color = normalize_color(body.str("color"))
    label_id = forge.db.run(
        "INSERT INTO labels (repo_id, name, color, description, exclusive, archived) VALUES (?,?,?,?,?,?)",
        (rc.id, name, color, body.str("description"), int(body.bool("exclusive")), int(body.bool("is_archived"))),
    )
    return created(label_json(forge, _label(rc, str(label_id)), rc.full_name))


@router.get(BASE + "/labels/{ident}")
def get_label(owner: str, repo: str, ident: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    return ok(label_json(rc.forge, _label(rc, ident), rc.full_name))


@router.patch(BASE + "/labels/{ident}")
def edit_label(
    owner: str,
    repo: str,
    ident: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=WRITE, area="issue")
    with forge.db.tx():
        label = _label(rc, ident)
        name = body.opt_str("name")
        color = body.opt_str("color")
        desc = body.opt_str("description")
        exclusive = body.opt_bool("exclusive")
        archived = body.opt_bool("is_archived")
        forge.db.run(
            "UPDATE labels SET name = ?, color = ?, description = ?, exclusive = ?, archived = ? WHERE id = ?",
            (
                name if name else label["name"],
                normalize_color(color) if color is not None else label["color"],
                desc if desc is not None else label["description"],
                int(exclusive) if exclusive is not None else label["exclusive"],
                int(archived) if archived is not None else label["archived"],
                label["id"],
            ),
        )
        label = _label(rc, str(label["id"]))
    return ok(label_json(forge, label, rc.full_name))


@router.delete(BASE + "/labels/{ident}")
def delete_label(owner: str, repo: str, ident: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=WRITE, area="issue")
    with forge.db.tx():
        label = _label(rc, ident)
        forge.db.run("DELETE FROM issue_labels WHERE label_id = ?", (label["id"],))
        forge.db.run("DELETE FROM labels WHERE id = ?", (label["id"],))
    return no_content()


# -- the labels of one issue --------------------------------------------------------------------------


def _issue_for_write(request: Request, caller: Caller, owner: str, repo: str, index: str) -> tuple[RepoCtx, Row]:
    require_user(caller)
    rc = load_repo(forge_of(request), caller, owner, repo, need=READ, area="issue", mutates=True)
    return rc, get_issue(rc, index)


def _labels_reply(rc: RepoCtx, issue: Row) -> Response:
    return ok([label_json(rc.forge, r, rc.full_name) for r in labels_of(rc.forge, issue["id"])])


@router.get(BASE + "/issues/{index}/labels")
def issue_labels(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    return _labels_reply(rc, get_issue(rc, index))


def _change(request: Request, caller: Caller, owner: str, repo: str, index: str, body: Body, replace: bool) -> Response:
    rc, issue = _issue_for_write(request, caller, owner, repo, index)
    labels = resolve_label_refs(rc, body.list("labels"))
    if not rc.can_write():
        raise forbidden("write permission is required")
    with rc.forge.db.tx():
        changed, empty = issue_labels_set(rc.forge, issue["id"], labels, replace=replace)
        issue = reload_issue(rc.forge, issue["id"])
    if changed:
        action = "label_cleared" if empty else "label_updated"
        fire_issue(rc.forge, rc.repo, issue, action, require_user(caller), kind="label")
    return _labels_reply(rc, issue)


@router.post(BASE + "/issues/{index}/labels")
def add_issue_labels(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    return _change(request, caller, owner, repo, index, body, replace=False)


@router.put(BASE + "/issues/{index}/labels")
def replace_issue_labels(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    return _change(request, caller, owner, repo, index, body, replace=True)


@router.delete(BASE + "/issues/{index}/labels")
def clear_issue_labels(
    owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    rc, issue = _issue_for_write(request, caller, owner, repo, index)
    if not rc.can_write():
        raise forbidden(bodiless=True)
    with rc.forge.db.tx():
        removed = rc.forge.db.changes("DELETE FROM issue_labels WHERE issue_id = ?", (issue["id"],))
        if removed:
            touch(rc.forge, issue["id"])
        issue = reload_issue(rc.forge, issue["id"])
    if removed:
        fire_issue(rc.forge, rc.repo, issue, "label_cleared", require_user(caller), kind="label")
    return no_content()


@router.delete(BASE + "/issues/{index}/labels/{label_id}")
def remove_issue_label(
    owner: str, repo: str, index: str, label_id: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    rc, issue = _issue_for_write(request, caller, owner, repo, index)
    if not rc.can_write():
        raise forbidden(bodiless=True)
    label = None
    if label_id.isdigit():
        label = rc.forge.db.one("SELECT * FROM labels WHERE id = ?", (int(label_id),))
    if label is None:
        raise unprocessable(f"label does not exist [label_id: {label_id}]")
    with rc.forge.db.tx():
        removed = rc.forge.db.changes(
            "DELETE FROM issue_labels WHERE issue_id = ? AND label_id = ?", (issue["id"], label["id"])
        )
        if removed:
            touch(rc.forge, issue["id"])
        issue = reload_issue(rc.forge, issue["id"])
        empty = not labels_of(rc.forge, issue["id"])
    if removed:
        action = "label_cleared" if empty else "label_updated"
        fire_issue(rc.forge, rc.repo, issue, action, require_user(caller), kind="label")
    return no_content()
