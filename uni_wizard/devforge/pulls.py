"""Pull requests: list (state omitted → all; labels = ids repeated, OR), create (an issue with the next
number plus a ``pulls`` row with its own id), get, edit (201), is-merged (204/404), update, files.

The merge itself is in ``merge.py``, reviews in ``reviews.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import READ, RepoCtx, load_repo, user_by_name
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .db import Row
from .errors import bad_request, conflict, forbidden, not_found, required, server_error, unprocessable
from .events import fire_issue, fire_pull
from .git import GitError, Signature
from .issuecore import get_issue, issue_labels_set, label_ids, reload_issue, resolve_assignees, resolve_label_refs
from .issues import edit_issue_fields, new_issue
from .pagination import list_response, page_of
from .pull_objects import pull_json
from .refsync import refresh_pull, sync_refs
from .web import Body, json_body, no_content, ok

__all__ = ["get_pull", "router", "tail_router"]

router = APIRouter()
tail_router = APIRouter()  # routes whose patterns would swallow others: registered last
BASE = "/repos/{owner}/{repo}"


def get_pull(rc: RepoCtx, index: str) -> tuple[Row, Row]:
    issue = get_issue(rc, index)
    pull = rc.forge.db.one("SELECT * FROM pulls WHERE issue_id = ?", (issue["id"],))
    if not issue["is_pull"] or pull is None:
        raise not_found()
    return pull, issue


def _reply(rc: RepoCtx, pull: Row, issue: Row, status: int = 200) -> Response:
    return ok(pull_json(rc.forge, pull, issue, rc.repo, rc.owner, rc.mode), status)


@router.get(BASE + "/pulls")
def list_pulls(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo)
    q = request.query_params
    where = ["i.repo_id = ?", "i.is_pull = 1"]
    args: list[Any] = [rc.id]
    state = q.get("state", "")
    if state in ("open", "closed"):
        where.append("i.state = ?")
        args.append(state)
    join = ""
    label_values = q.getlist("labels")
    if label_values:
        try:
            ids = [int(v) for v in label_values if v != ""]
        except ValueError as exc:
            raise server_error() from exc  # Gitea: non-numeric label ids are a 500
        if ids:
            join = f" JOIN issue_labels il ON il.issue_id = i.id AND il.label_id IN ({','.join('?' * len(ids))})"
            args = [*ids, *args]
    poster = q.get("poster")
    if poster:
        user = user_by_name(forge, poster, orgs=False)
        if user is None:
            raise bad_request(f"user does not exist [uid: 0, name: {poster}]")
        where.append("i.poster_id = ?")
        args.append(user["id"])
    if q.get("base_branch"):
        where.append("p.base_branch = ?")
        args.append(q.get("base_branch"))
    order = {
        "oldest": "i.created ASC, i.id ASC",
        "recentupdate": "i.updated DESC, i.id DESC",
        "leastupdate": "i.updated ASC, i.id ASC",
        "recentclose": "i.closed DESC, i.id DESC",
    }.get(q.get("sort", ""), "i.created DESC, i.id DESC")
    rows = forge.db.all(
        f"SELECT p.*, i.id AS issue_row FROM issues i JOIN pulls p ON p.issue_id = i.id{join} "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY {order}",
        args,
    )
    page = page_of(request)
    items = [
        pull_json(forge, r, reload_issue(forge, r["issue_row"]), rc.repo, rc.owner, rc.mode) for r in page.slice(rows)
    ]
    return list_response(request, items, len(rows), link=True)


@router.post(BASE + "/pulls")
def create_pull(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, mutates=True)
    head = body.str("head").split(":", 1)[-1]
    base = body.str("base")
    if not head:
        raise required("Head")
    if not base:
        raise required("Base")
    title = body.str("title")
    if not title:
        raise required("Title")
    head_sha, base_sha = rc.git.branch_sha(head), rc.git.branch_sha(base)
    if head_sha is None or base_sha is None:
        raise unprocessable(f"branch does not exist [name: {base if base_sha is None else head}]")
    if head == base:
        raise unprocessable("There are no changes between the head and the base")
    labels, assignees, reviewers = _people(rc, body)
    with forge.db.tx():
        _refuse_duplicate(rc, head, base)
        issue = new_issue(rc, user, title, body.str("body"), is_pull=True, labels=labels, assignees=assignees)
        pull_id = forge.db.run(
            "INSERT INTO pulls (issue_id, head_branch, base_branch, head_sha) VALUES (?, ?, ?, ?)",
            (issue["id"], head, base, head_sha),
        )
        pull = forge.db.one("SELECT * FROM pulls WHERE id = ?", (pull_id,))
        assert pull is not None
        refresh_pull(forge, rc.git, pull)
        rc.git.update_ref(f"refs/pull/{issue['number']}/head", head_sha, None)
        now = forge.now()
        for reviewer in reviewers:
            forge.db.run(
                "INSERT INTO reviews (pull_id, reviewer_id, state, commit_id, created, updated) "
                "VALUES (?, ?, 'REQUEST_REVIEW', ?, ?, ?)",
                (pull_id, reviewer["id"], head_sha, now, now),
            )
        pull = forge.db.one("SELECT * FROM pulls WHERE id = ?", (pull_id,))
        assert pull is not None
    fire_pull(forge, rc.repo, pull, issue, "opened", user)
    for _ in assignees:
        fire_issue(forge, rc.repo, issue, "assigned", user, kind="assign")
    return _reply(rc, pull, issue, 201)


def _people(rc: RepoCtx, body: Body) -> tuple[list[Row], list[Row], list[Row]]:
    """``(labels, assignees, reviewers)`` of a new pull request; only a writer may set them (Gitea drops them)."""
    if not rc.can_write():
        return [], [], []
    labels = resolve_label_refs(rc, list(label_ids(body.list("labels"))))
    names: list[str] = list(body.str_list("assignees") or [])
    if body.str("assignee"):
        names.insert(0, body.str("assignee"))
    return labels, resolve_assignees(rc, names), resolve_assignees(rc, body.str_list("reviewers") or [])


def _refuse_duplicate(rc: RepoCtx, head: str, base: str) -> None:
    existing = rc.forge.db.one(
        "SELECT p.id, i.number FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? "
        "AND i.state = 'open' AND p.head_branch = ? AND p.base_branch = ?",
        (rc.id, head, base),
    )
    if existing is not None:
        raise conflict(
            f"pull request already exists for these targets [id: {existing['id']}, issue_id: {existing['number']}, "
            f"head_repo_id: {rc.id}, base_repo_id: {rc.id}, head_branch: {head}, base_branch: {base}]"
        )


@router.get(BASE + "/pulls/{index}")
def get_one(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    pull, issue = get_pull(rc, index)
    return _reply(rc, pull, issue)


@router.patch(BASE + "/pulls/{index}")
def edit_pull(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ, mutates=True)
    pull, issue = get_pull(rc, index)
    label_event = False
    with forge.db.tx():
        issue, events = edit_issue_fields(rc, issue, body, user)
        wanted_labels = label_ids(body.list("labels"))
        if rc.can_write() and body.get("labels") is not None:
            labels = resolve_label_refs(rc, list(wanted_labels))
            label_event, _ = issue_labels_set(forge, issue["id"], labels, replace=True)
        new_base = body.opt_str("base")
        old_base = pull["base_branch"]
        if rc.can_write() and new_base and new_base != old_base:
            if rc.git.branch_sha(new_base) is None:
                raise not_found(f"new base branch does not exist [name: {new_base}]")
            forge.db.run("UPDATE pulls SET base_branch = ? WHERE id = ?", (new_base, pull["id"]))
            pull = forge.db.one("SELECT * FROM pulls WHERE id = ?", (pull["id"],)) or pull
            refresh_pull(forge, rc.git, pull)
            events.append(("edited", "", {"base": {"from": old_base}}))
        pull = forge.db.one("SELECT * FROM pulls WHERE id = ?", (pull["id"],)) or pull
        issue = reload_issue(forge, issue["id"])
    for action, kind, changes in events:
        fire_pull(forge, rc.repo, pull, issue, action, user, kind=kind, changes=changes)
    if label_event:
        fire_pull(forge, rc.repo, pull, issue, "label_updated", user, kind="label")
    return _reply(rc, pull, issue, 201)


@router.get(BASE + "/pulls/{index}/merge")
def is_merged(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    pull, _ = get_pull(rc, index)
    if not pull["merged"]:
        raise not_found()
    return no_content()


@router.post(BASE + "/pulls/{index}/update")
def update_branch(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    """Merge the base into the head branch (style=merge)."""
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ)
    pull, issue = get_pull(rc, index)
    if not rc.can_write() and issue["poster_id"] != user["id"]:
        raise forbidden("user should have a permission to write to a repo")
    if request.query_params.get("style", "merge") not in ("merge", "rebase"):
        raise unprocessable("style must be merge or rebase")
    with forge.db.tx():
        head_sha = rc.git.branch_sha(pull["head_branch"])
        base_sha = rc.git.branch_sha(pull["base_branch"])
        if head_sha is None or base_sha is None:
            raise not_found()
        if rc.git.is_ancestor(base_sha, head_sha):
            return ok(None)
        tree, conflicts = rc.git.merge_tree(head_sha, base_sha)
        if tree is None:
            raise conflict(f"merge conflict: {', '.join(conflicts)}")
        who = Signature(user["full_name"] or user["login"], user["email"], forge.now())
        message = f"Merge branch '{pull['base_branch']}' into {pull['head_branch']}\n"
        commit = rc.git.commit_tree(tree, [head_sha, base_sha], message, who, who)
        if not rc.git.update_ref(f"refs/heads/{pull['head_branch']}", commit, head_sha):
            raise conflict("head branch moved")
    sync_refs(forge, rc.repo, user)
    return ok(None)


@router.get(BASE + "/pulls/{index}/files")
def pull_files(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    pull, _ = get_pull(rc, index)
    base = pull["merge_base"] or rc.git.merge_base(rc.git.branch_sha(pull["base_branch"]) or "", pull["head_sha"])
    try:
        files = rc.git.changed_files(base, pull["head_sha"]) if base else []
    except GitError:
        files = []
    page = page_of(request)
    items = []
    for f in page.slice(files):
        name = str(f["filename"])
        items.append({
            **f,
            "changes": int(str(f["additions"])) + int(str(f["deletions"])),
            "previous_filename": "",
            "html_url": rc.html(f"/src/commit/{pull['head_sha']}/{name}"),
            "contents_url": rc.api(f"/contents/{name}?ref={pull['head_sha']}"),
            "raw_url": rc.html(f"/raw/commit/{pull['head_sha']}/{name}"),
        })  # fmt: skip
    pages = max(1, -(-len(files) // page.limit))
    response = list_response(request, items, len(files), link=True)
    response.headers.update({
        "X-Page": str(page.page), "X-PerPage": str(page.limit), "X-Total": str(len(files)),
        "X-PageCount": str(pages), "X-HasMore": str(page.page < pages).lower(),
    })  # fmt: skip
    return response


@tail_router.get(BASE + "/pulls/{base}/{head:path}")
def pull_by_branches(
    owner: str, repo: str, base: str, head: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    head = head.split(":", 1)[-1]
    row = rc.forge.db.one(
        "SELECT p.* FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? AND p.base_branch = ? "
        "AND p.head_branch = ? ORDER BY i.state = 'open' DESC, p.id DESC",
        (rc.id, base, head),
    )
    if row is None:
        raise not_found()
    return _reply(rc, row, reload_issue(rc.forge, row["issue_id"]))
