"""Issues (and PRs seen as issues): create, list with Gitea's filters, get, edit (201), assignees, delete (204).

One number counter per repository is shared by issues and PRs. The list defaults to ``state=open``,
includes PRs unless ``type=issues``, filters ``labels`` by names with AND (unknown names dropped; all
unknown → no filter), ``since``/``before`` inclusively on ``updated_at`` (422 when not RFC 3339).
Labels, assignees and milestones from a non-writer are silently ignored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import ADMIN, READ, WRITE, RepoCtx, access_mode, load_repo, user_by_name
from .auth import Caller, caller_of, require_user
from .core import Forge, forge_of
from .db import Row, parse_time
from .errors import conflict, forbidden, not_found, precondition, required, unprocessable
from .events import fire_issue
from .issuecore import (
    get_issue,
    issue_labels_set,
    label_ids,
    reload_issue,
    resolve_assignees,
    resolve_label_refs,
    set_assignees,
)
from .objects import issue_json
from .pagination import list_response, page_of
from .web import Body, created, json_body, no_content, ok

__all__ = ["filter_issues", "new_issue", "router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}"


def new_issue(
    rc: RepoCtx,
    poster: Row,
    title: str,
    body: str,
    *,
    is_pull: bool = False,
    labels: list[Row] | None = None,
    assignees: list[Row] | None = None,
    closed: bool = False,
    ref: str = "",
) -> Row:
    """Insert an issue with the repository's next number (the caller holds ``db.tx()``)."""
    forge = rc.forge
    repo = rc.reload()
    number = repo["next_index"]
    forge.db.run("UPDATE repos SET next_index = next_index + 1 WHERE id = ?", (rc.id,))
    now = forge.now()
    issue_id = forge.db.run(
        "INSERT INTO issues (repo_id, number, poster_id, title, body, state, is_pull, ref, created, updated, closed) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (rc.id, number, poster["id"], title, body, "closed" if closed else "open", int(is_pull), ref, now, now,
         now if closed else None),
    )  # fmt: skip
    if labels:
        issue_labels_set(forge, issue_id, labels, replace=True)
    if assignees:
        set_assignees(forge, issue_id, assignees)
    forge.db.run("UPDATE issues SET updated = ? WHERE id = ?", (now, issue_id))
    return reload_issue(forge, issue_id)


@router.post(BASE + "/issues")
def create_issue(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, area="issue", mutates=True)
    title = body.str("title")
    if not title:
        raise required("Title")
    labels: list[Row] = []
    assignees: list[Row] = []
    wanted_labels = label_ids(body.list("labels"))
    if rc.can_write():
        labels = resolve_label_refs(rc, list(wanted_labels))
        names: list[str] = list(body.str_list("assignees") or [])
        if body.str("assignee"):
            names.insert(0, body.str("assignee"))
        assignees = resolve_assignees(rc, names)
    with forge.db.tx():
        issue = new_issue(
            rc, user, title, body.str("body"), labels=labels, assignees=assignees, closed=body.bool("closed"),
            ref=body.str("ref"),
        )  # fmt: skip
    fire_issue(forge, rc.repo, issue, "opened", user)
    for _ in assignees:
        fire_issue(forge, rc.repo, issue, "assigned", user, kind="assign")
    return created(issue_json(forge, issue, rc.repo, rc.owner))


def _user_filter(forge: Forge, name: str | None) -> int | None:
    if not name:
        return None
    user = user_by_name(forge, name, orgs=False)
    if user is None:
        raise not_found(f"user does not exist [uid: 0, name: {name}]")
    return int(user["id"])


def _time_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise unprocessable(str(exc)) from exc


def filter_issues(forge: Forge, repo_ids: list[int], request: Request, *, names_filter: bool = True) -> list[Row]:
    """Issues of ``repo_ids`` that pass the query's filters, newest created first."""
    q = request.query_params
    state = q.get("state", "open")
    if state not in ("open", "closed", "all"):
        state = "open"
    where = [f"repo_id IN ({','.join('?' * len(repo_ids))})"]
    args: list[Any] = list(repo_ids)
    if state != "all":
        where.append("state = ?")
        args.append(state)
    kind = q.get("type", "")
    if kind == "issues":
        where.append("is_pull = 0")
    elif kind == "pulls":
        where.append("is_pull = 1")
    since, before = _time_param(request, "since"), _time_param(request, "before")
    if since is not None:
        where.append("updated >= ?")
        args.append(since)
    if before is not None:
        where.append("updated <= ?")
        args.append(before)
    keyword = q.get("q", "")
    if keyword:
        where.append("(title LIKE ? OR body LIKE ?)")
        args += [f"%{keyword}%", f"%{keyword}%"]
    creator = _user_filter(forge, q.get("created_by"))
    if creator is not None:
        where.append("poster_id = ?")
        args.append(creator)
    assignee = _user_filter(forge, q.get("assigned_by"))
    if assignee is not None:
        where.append("id IN (SELECT issue_id FROM issue_assignees WHERE user_id = ?)")
        args.append(assignee)
    _user_filter(forge, q.get("mentioned_by"))
    names = [n.strip() for n in q.get("labels", "").split(",") if n.strip()] if names_filter else []
    if names:
        repos_in = ",".join("?" * len(repo_ids))
        names_in = ",".join("?" * len(names))
        sql = f"SELECT id FROM labels WHERE repo_id IN ({repos_in}) AND name IN ({names_in})"  # noqa: S608
        for label_id in [r["id"] for r in forge.db.all(sql, (*repo_ids, *names))]:
            where.append("id IN (SELECT issue_id FROM issue_labels WHERE label_id = ?)")
            args.append(label_id)
    sql = f"SELECT * FROM issues WHERE {' AND '.join(where)} ORDER BY created DESC, id DESC"  # noqa: S608
    return forge.db.all(sql, args)


@router.get(BASE + "/issues")
def list_issues(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, area="issue")
    rows = filter_issues(forge, [rc.id], request)
    page = page_of(request)
    items = [issue_json(forge, r, rc.repo, rc.owner) for r in page.slice(rows)]
    return list_response(request, items, len(rows), link=True)


@router.get("/repos/issues/search")
def search_issues(request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    repos = forge.db.all("SELECT * FROM repos ORDER BY id")
    visible = [r for r in repos if access_mode(forge, caller.user, r) >= READ]
    owner = request.query_params.get("owner")
    if owner:
        visible = [r for r in visible if forge.db.one("SELECT 1 FROM users WHERE id = ? AND lower_login = ?",
                                                      (r["owner_id"], owner.lower()))]  # fmt: skip
    rows = filter_issues(forge, [r["id"] for r in visible], request) if visible else []
    flags = request.query_params
    if caller.user is not None:
        if flags.get("created") == "true":
            rows = [r for r in rows if r["poster_id"] == caller.id]
        if flags.get("assigned") == "true":
            mine = {a["issue_id"] for a in forge.db.all("SELECT issue_id FROM issue_assignees WHERE user_id = ?",
                                                         (caller.id,))}  # fmt: skip
            rows = [r for r in rows if r["id"] in mine]
    page = page_of(request)
    by_id = {r["id"]: r for r in visible}
    items = []
    for row in page.slice(rows):
        repo_row = by_id[row["repo_id"]]
        owner_row = forge.db.one("SELECT * FROM users WHERE id = ?", (repo_row["owner_id"],))
        assert owner_row is not None
        items.append(issue_json(forge, row, repo_row, owner_row))
    return list_response(request, items, len(rows), link=True)


@router.get(BASE + "/issues/{index}")
def get_one(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    return ok(issue_json(rc.forge, get_issue(rc, index), rc.repo, rc.owner))


def edit_issue_fields(
    rc: RepoCtx, issue: Row, body: Body, doer: Row
) -> tuple[Row, list[tuple[str, str, dict[str, Any] | None]]]:
    """Apply an EditIssueOption; returns the fresh row and the (action, kind, changes) events to fire."""
    forge = rc.forge
    writer = access_mode(forge, doer, rc.repo) >= WRITE
    if not writer and issue["poster_id"] != doer["id"]:
        raise forbidden(bodiless=True)
    events: list[tuple[str, str, dict[str, Any] | None]] = []
    if body.get("content_version") is not None and body.int("content_version") != issue["content_version"]:
        raise conflict("the issue is already changed")
    state = body.opt_str("state")
    if state is not None:
        if issue["is_pull"]:
            pull = forge.db.one("SELECT merged FROM pulls WHERE issue_id = ?", (issue["id"],))
            if pull is not None and pull["merged"]:
                raise precondition("cannot change state of this pull request, it was already merged")
        if state not in ("open", "closed"):
            raise precondition(f"unknown state: {state}")
    new_assignees: list[Row] | None = None
    if writer and (body.get("assignees") is not None or body.get("assignee") is not None):
        names: list[str] = list(body.str_list("assignees") or [])
        if body.str("assignee"):
            names.insert(0, body.str("assignee"))
        new_assignees = resolve_assignees(rc, names)
    now = forge.now()
    changes: dict[str, Any] = {}
    title = body.opt_str("title")
    if title is not None and title != issue["title"]:
        if not title.strip():
            raise required("Title")
        changes["title"] = {"from": issue["title"]}
        forge.db.run("UPDATE issues SET title = ? WHERE id = ?", (title, issue["id"]))
    text = body.opt_str("body")
    if text is not None and text != issue["body"]:
        changes["body"] = {"from": issue["body"]}
        forge.db.run("UPDATE issues SET body = ? WHERE id = ?", (text, issue["id"]))
    ref = body.opt_str("ref")
    if ref is not None and ref != issue["ref"]:
        changes["ref"] = {"from": issue["ref"]}
        forge.db.run("UPDATE issues SET ref = ? WHERE id = ?", (ref, issue["id"]))
    if changes:
        forge.db.run(
            "UPDATE issues SET updated = ?, content_version = content_version + 1 WHERE id = ?", (now, issue["id"])
        )
        events.append(("edited", "", changes))
    if new_assignees is not None:
        added, removed = set_assignees(forge, issue["id"], new_assignees)
        events += [("unassigned", "assign", None) for _ in removed] + [("assigned", "assign", None) for _ in added]
    if state is not None and state != issue["state"]:
        forge.db.run(
            "UPDATE issues SET state = ?, closed = ?, updated = ? WHERE id = ?",
            (state, now if state == "closed" else None, now, issue["id"]),
        )
        events.append(("closed" if state == "closed" else "reopened", "", None))
    return reload_issue(forge, issue["id"]), events


@router.patch(BASE + "/issues/{index}")
def edit_issue(
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
    with forge.db.tx():
        issue, events = edit_issue_fields(rc, get_issue(rc, index), body, user)
    for action, kind, changes in events:
        fire_issue(forge, rc.repo, issue, action, user, kind=kind, changes=changes)
    return created(issue_json(forge, issue, rc.repo, rc.owner))


def _assignees_change(
    request: Request, caller: Caller, owner: str, repo: str, index: str, body: Body, add: bool
) -> Row:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, area="issue")
    issue = get_issue(rc, index)
    if not rc.can_write():
        raise forbidden("user should have a permission to write to a repo")
    names: list[str] = body.str_list("assignees") or []
    users = resolve_assignees(rc, names) if add else [u for n in names if (u := user_by_name(forge, n, orgs=False))]
    with forge.db.tx():
        current = forge.db.all(
            "SELECT u.* FROM users u JOIN issue_assignees a ON a.user_id = u.id WHERE a.issue_id = ?", (issue["id"],)
        )
        drop = {u["id"] for u in users}
        target = (
            current + [u for u in users if u["id"] not in {c["id"] for c in current}]
            if add
            else [u for u in current if u["id"] not in drop]
        )
        added, removed = set_assignees(forge, issue["id"], target)
        issue = reload_issue(forge, issue["id"])
    for _ in removed:
        fire_issue(forge, rc.repo, issue, "unassigned", user, kind="assign")
    for _ in added:
        fire_issue(forge, rc.repo, issue, "assigned", user, kind="assign")
    return issue


@router.post(BASE + "/issues/{index}/assignees")
def add_assignees(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    issue = _assignees_change(request, caller, owner, repo, index, body, add=True)
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    return created(issue_json(rc.forge, issue, rc.repo, rc.owner))


@router.delete(BASE + "/issues/{index}/assignees")
def remove_assignees(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    issue = _assignees_change(request, caller, owner, repo, index, body, add=False)
    rc = load_repo(forge_of(request), caller, owner, repo, area="issue")
    return ok(issue_json(rc.forge, issue, rc.repo, rc.owner))


@router.delete(BASE + "/issues/{index}")
def delete_issue(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    """Gitea's issue deletion (204): the repository's admins only; its labels, assignees and comments go too."""
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, area="issue", mutates=True)
    rc.require(ADMIN)
    issue = get_issue(rc, index)
    with forge.db.tx():
        for table in ("issue_labels", "issue_assignees", "comments"):
            forge.db.changes(f"DELETE FROM {table} WHERE issue_id = ?", (issue["id"],))  # noqa: S608
        forge.db.changes("DELETE FROM issues WHERE id = ?", (issue["id"],))
    fire_issue(forge, rc.repo, issue, "deleted", user)
    return no_content()
