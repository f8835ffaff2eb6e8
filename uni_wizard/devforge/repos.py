"""Repositories: create (user or org; ``auto_init`` makes the README commit), get, edit, delete; collaborators.

A repository is a row plus a real bare git repository under ``data_dir/repositories/<owner>/<name>.git``.
Without ``auto_init`` it is empty (no branches; branch endpoints answer 404 until a first push or
contents write). ``default_branch`` defaults to ``main``.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import ADMIN, MODE_BY_NAME, MODE_NAMES, OWNER, READ, WRITE, access_mode, load_repo, user_by_name
from .auth import Caller, caller_of, require_scope, require_user
from .core import Forge, forge_of
from .db import Row
from .errors import conflict, forbidden, not_found, required, unprocessable
from .git import Signature
from .objects import REPO_DEFAULTS, repo_json, user_json
from .refsync import sync_refs
from .users import is_org_owner
from .web import Body, created, json_body, no_content, ok

__all__ = ["create_repo", "router"]

router = APIRouter()
REPO_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_SETTING_KEYS = [k for k in REPO_DEFAULTS if k != "website"]


def _check_repo_name(name: str) -> None:
    if not name:
        raise required("Name")
    if not REPO_NAME_RE.match(name) or name in (".", "..") or name.lower().endswith((".git", ".wiki")):
        raise unprocessable("[Name]: AlphaDashDot")
    if len(name) > 100:
        raise unprocessable("[Name]: MaxSize")


def create_repo(forge: Forge, doer: Row, owner: Row, body: Body) -> Row:
    name = body.str("name")
    _check_repo_name(name)
    branch = body.str("default_branch") or "main"
    with forge.db.tx():
        if forge.db.one("SELECT 1 FROM repos WHERE owner_id = ? AND lower_name = ?", (owner["id"], name.lower())):
            raise conflict("The repository with the same name already exists.")
        now = forge.now()
        repo_id = forge.db.run(
            "INSERT INTO repos (owner_id, name, lower_name, description, private, default_branch, created, updated) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (owner["id"], name, name.lower(), body.str("description"), int(body.bool("private")), branch, now, now),
        )
        repo = forge.db.one("SELECT * FROM repos WHERE id = ?", (repo_id,))
        assert repo is not None
        git = forge.git_for(repo)
        if git.path.exists():
            shutil.rmtree(git.path)
        git.init(branch)
        if body.bool("auto_init"):
            readme = f"# {name}\n\n{body.str('description')}\n".encode()
            who = Signature(doer["full_name"] or doer["login"], doer["email"], now)
            tree = git.write_tree(None, {"README.md": readme})
            commit = git.commit_tree(tree, [], "Initial commit\n", who, who)
            git.update_ref(f"refs/heads/{branch}", commit, None)
        sync_refs(forge, repo, doer, fire=False)
    return repo


@router.post("/user/repos")
def create_user_repo(
    request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    require_scope(caller, "repository", write=True)
    repo = create_repo(forge, user, user, body)
    return created(repo_json(forge, repo, user, OWNER))


@router.post("/orgs/{org}/repos")
def create_org_repo(
    org: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    require_scope(caller, "organization", write=True)
    owner = user_by_name(forge, org)
    if owner is None or not owner["is_org"]:
        raise not_found()
    if not is_org_owner(forge, caller, owner):
        raise forbidden("Given user is not allowed to create repository in organization.")
    repo = create_repo(forge, user, owner, body)
    return created(repo_json(forge, repo, owner, OWNER))


@router.get("/repos/{owner}/{repo}")
def get_repo(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    return ok(repo_json(rc.forge, rc.repo, rc.owner, rc.mode))


@router.patch("/repos/{owner}/{repo}")
def edit_repo(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN, allow_archived=True)
    with forge.db.tx():
        row = rc.reload()
        settings: dict[str, Any] = json.loads(row["settings"] or "{}")
        for key in _SETTING_KEYS:
            if body.get(key) is not None:
                value = body.str(key) if isinstance(REPO_DEFAULTS[key], str) else body.bool(key)
                settings[key] = value
        updates: dict[str, Any] = {"settings": json.dumps(settings), "updated": forge.now()}
        if body.get("description") is not None:
            updates["description"] = body.str("description")
        if body.get("private") is not None:
            updates["private"] = int(body.bool("private"))
        if body.get("archived") is not None:
            updates["archived"] = int(body.bool("archived"))
        new_branch = body.opt_str("default_branch")
        if new_branch and new_branch != row["default_branch"]:
            empty = not rc.git.refs()
            if empty or rc.git.branch_sha(new_branch) is not None:
                updates["default_branch"] = new_branch
                rc.git.set_head(new_branch)
        new_name = body.opt_str("name")
        if new_name and new_name != row["name"]:
            _check_repo_name(new_name)
            taken = forge.db.one(
                "SELECT 1 FROM repos WHERE owner_id = ? AND lower_name = ? AND id != ?",
                (row["owner_id"], new_name.lower(), row["id"]),
            )
            if taken:
                raise unprocessable(f"repository already exists [uname: {owner}, name: {new_name}]")
            target = forge.repo_dir(rc.owner["login"], new_name)
            if target != rc.git.path:
                rc.git.path.rename(target)
            updates["name"] = new_name
            updates["lower_name"] = new_name.lower()
        assignments = ", ".join(f"{k} = ?" for k in updates)
        forge.db.run(f"UPDATE repos SET {assignments} WHERE id = ?", (*updates.values(), row["id"]))  # noqa: S608
        row = rc.reload()
    return ok(repo_json(forge, row, rc.owner, rc.mode))


@router.delete("/repos/{owner}/{repo}")
def delete_repo(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=OWNER, message="user should be the owner of the repo",
                   allow_archived=True)  # fmt: skip
    with forge.db.tx():
        issue_ids = "SELECT id FROM issues WHERE repo_id = ?"
        pull_ids = f"SELECT id FROM pulls WHERE issue_id IN ({issue_ids})"  # noqa: S608
        for sql in (
            f"DELETE FROM reviews WHERE pull_id IN ({pull_ids})",  # noqa: S608
            f"DELETE FROM pulls WHERE issue_id IN ({issue_ids})",  # noqa: S608
            f"DELETE FROM comments WHERE issue_id IN ({issue_ids})",  # noqa: S608
            f"DELETE FROM issue_labels WHERE issue_id IN ({issue_ids})",  # noqa: S608
            f"DELETE FROM issue_assignees WHERE issue_id IN ({issue_ids})",  # noqa: S608
            "DELETE FROM issues WHERE repo_id = ?",
            "DELETE FROM labels WHERE repo_id = ?",
            "DELETE FROM statuses WHERE repo_id = ?",
            "DELETE FROM hooks WHERE repo_id = ?",
            "DELETE FROM protections WHERE repo_id = ?",
            "DELETE FROM collaborators WHERE repo_id = ?",
            "DELETE FROM ref_snapshot WHERE repo_id = ?",
            "DELETE FROM repos WHERE id = ?",
        ):
            forge.db.run(sql, (rc.id,))
        shutil.rmtree(rc.git.path, ignore_errors=True)
    return no_content()


@router.get("/repos/{owner}/{repo}/collaborators")
def list_collaborators(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    rows = rc.forge.db.all(
        "SELECT u.* FROM users u JOIN collaborators c ON c.user_id = u.id WHERE c.repo_id = ? ORDER BY u.lower_login",
        (rc.id,),
    )
    return ok([user_json(rc.forge, u) for u in rows], headers={"X-Total-Count": str(len(rows))})


@router.get("/repos/{owner}/{repo}/collaborators/{collaborator}")
def is_collaborator(
    owner: str, repo: str, collaborator: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    user = user_by_name(rc.forge, collaborator, orgs=False)
    if user is None:
        raise unprocessable(f"user does not exist [uid: 0, name: {collaborator}]")
    row = rc.forge.db.one("SELECT 1 FROM collaborators WHERE repo_id = ? AND user_id = ?", (rc.id, user["id"]))
    if row is None:
        raise not_found()
    return no_content()


@router.put("/repos/{owner}/{repo}/collaborators/{collaborator}")
def add_collaborator(
    owner: str,
    repo: str,
    collaborator: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN)
    user = user_by_name(forge, collaborator, orgs=False)
    if user is None:
        raise unprocessable(f"user does not exist [uid: 0, name: {collaborator}]")
    permission = body.str("permission") or "write"
    if permission not in ("read", "write", "admin"):
        raise unprocessable("[Permission]: In")
    forge.db.run(
        "INSERT INTO collaborators (repo_id, user_id, mode) VALUES (?, ?, ?) "
        "ON CONFLICT (repo_id, user_id) DO UPDATE SET mode = excluded.mode",
        (rc.id, user["id"], MODE_BY_NAME[permission]),
    )
    return no_content()


@router.delete("/repos/{owner}/{repo}/collaborators/{collaborator}")
def remove_collaborator(
    owner: str, repo: str, collaborator: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN)
    user = user_by_name(forge, collaborator, orgs=False)
    if user is None:
        raise unprocessable(f"user does not exist [uid: 0, name: {collaborator}]")
    forge.db.run("DELETE FROM collaborators WHERE repo_id = ? AND user_id = ?", (rc.id, user["id"]))
    return no_content()


@router.get("/repos/{owner}/{repo}/collaborators/{collaborator}/permission")
def collaborator_permission(
    owner: str, repo: str, collaborator: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo)
    user = user_by_name(forge, collaborator, orgs=False)
    if user is None:
        raise not_found(f"user does not exist [uid: 0, name: {collaborator}]")
    if rc.mode < ADMIN and user["id"] != caller.id:
        raise forbidden("Only admins can query all permissions, repo admins can query all repo permissions, "
                        "collaborators can query only their own")  # fmt: skip
    name = MODE_NAMES[access_mode(forge, user, rc.repo)]
    return ok({"permission": name, "role_name": name, "user": user_json(forge, user)})


def assignee_rows(forge: Forge, repo: Row) -> list[Row]:
    """Users who may be assigned: write access (owner, org owners, writing collaborators)."""
    rows = forge.db.all(
        "SELECT * FROM users WHERE is_org = 0 AND (id = ? OR id IN (SELECT user_id FROM org_owners WHERE org_id = ?) "
        "OR id IN (SELECT user_id FROM collaborators WHERE repo_id = ? AND mode >= ?)) ORDER BY lower_login",
        (repo["owner_id"], repo["owner_id"], repo["id"], WRITE),
    )
    return rows


@router.get("/repos/{owner}/{repo}/assignees")
def list_assignees(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, need=READ)
    rows = assignee_rows(rc.forge, rc.repo)
    return ok([user_json(rc.forge, u) for u in rows], headers={"X-Total-Count": str(len(rows))})
