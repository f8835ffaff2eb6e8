"""Branches (GITEA_FACTS §3.7): list (``Link``), get (names may contain "/"), create, delete, update, rename.

An empty repository (created without ``auto_init`` and never pushed to) answers 404
"Git Repository is empty." on every branch endpoint.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import READ, WRITE, RepoCtx, load_repo
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .errors import conflict, forbidden, not_found, required, unprocessable
from .git import ZERO_SHA
from .pagination import list_response, page_of
from .protection import can_merge, can_push, rule_for
from .pull_objects import branch_json
from .refsync import sync_refs
from .web import Body, created, json_body, no_content, ok

__all__ = ["router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}"


def _not_empty(rc: RepoCtx) -> dict[str, str]:
    branches = rc.git.refs("refs/heads/")
    if not branches:
        raise not_found("Git Repository is empty.")
    return branches


def _json(rc: RepoCtx, name: str, sha: str) -> dict[str, object]:
    rule = rule_for(rc.forge, rc.id, name)
    user = rc.caller.user
    return branch_json(
        rc.forge,
        rc.full_name,
        name,
        rc.git.commit(sha),
        rule,
        can_push=can_push(rule, user, rc.mode),
        can_merge=can_merge(rule, user, rc.mode),
    )


@router.get(BASE + "/branches")
def list_branches(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    branches = sorted(_not_empty(rc).items())
    page = page_of(request)
    items = [_json(rc, name, sha) for name, sha in page.slice(branches)]
    return list_response(request, items, len(branches), link=True)


@router.get(BASE + "/branches/{branch:path}")
def get_branch(owner: str, repo: str, branch: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    sha = _not_empty(rc).get(branch)
    if sha is None:
        raise not_found()
    return ok(_json(rc, branch, sha))


@router.post(BASE + "/branches")
def create_branch(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=WRITE)
    name = body.str("new_branch_name")
    if not name:
        raise required("NewBranchName")
    with forge.db.tx():
        branches = _not_empty(rc)
        old = body.str("old_ref_name") or body.str("old_branch_name") or rc.repo["default_branch"]
        sha = branches.get(old) or rc.git.resolve(old)
        if sha is None:
            raise not_found("The old branch does not exist")
        if name in branches:
            raise conflict("The branch with the same name already exists.")
        if not rc.git.update_ref(f"refs/heads/{name}", sha, ZERO_SHA):
            raise unprocessable(f"invalid branch name: {name}")
    sync_refs(forge, rc.repo, user)
    return created(_json(rc, name, sha))


@router.delete(BASE + "/branches/{branch:path}")
def delete_branch(
    owner: str, repo: str, branch: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=WRITE)
    with forge.db.tx():
        sha = _not_empty(rc).get(branch)
        if sha is None:
            raise not_found("Branch doesn't exists.")
        target = forge.db.one(
            "SELECT 1 FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? AND i.state = 'open' "
            "AND p.base_branch = ?",
            (rc.id, branch),
        )
        if branch == rc.repo["default_branch"] or target is not None:
            raise forbidden("can not delete default or pull request target branch")
        if rule_for(forge, rc.id, branch) is not None:
            raise forbidden("branch protected")
        rc.git.delete_ref(f"refs/heads/{branch}", sha)
    sync_refs(forge, rc.repo, user)
    return no_content()


@router.put(BASE + "/branches/{branch:path}")
def update_branch(
    owner: str,
    repo: str,
    branch: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=WRITE)
    new = body.str("new_commit_id")
    if not new:
        raise required("NewCommitID")
    with forge.db.tx():
        current = _not_empty(rc).get(branch)
        if current is None:
            raise not_found()
        if not can_push(rule_for(forge, rc.id, branch), user, rc.mode):
            raise forbidden("branch protected")
        target = rc.git.resolve(new)
        if target is None:
            raise not_found(f"object does not exist [id: {new}, rel_path: ]")
        old = body.str("old_commit_id")
        if old and old != current:
            raise unprocessable(f"branch commit does not match [given: {old}, expected: {current}]")
        if not body.bool("force") and not rc.git.is_ancestor(current, target):
            raise unprocessable("Not a fast-forward update; use force to overwrite")
        if not rc.git.update_ref(f"refs/heads/{branch}", target, current):
            raise conflict("branch moved")
    sync_refs(forge, rc.repo, user)
    return no_content()


@router.patch(BASE + "/branches/{branch:path}")
def rename_branch(
    owner: str,
    repo: str,
    branch: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ)
    if rc.mode < WRITE:
        raise forbidden("user should have a permission to write to a repo")
    name = body.str("name")
    if not name:
        raise required("Name")
    with forge.db.tx():
        branches = _not_empty(rc)
        sha = branches.get(branch)
        if sha is None:
            raise not_found()
        if name in branches:
            raise unprocessable("The branch with the same name already exists.")
        if rule_for(forge, rc.id, branch) is not None:
            raise forbidden("branch protected")
        rc.git.update_ref(f"refs/heads/{name}", sha, ZERO_SHA)
        rc.git.delete_ref(f"refs/heads/{branch}", sha)
        for column in ("head_branch", "base_branch"):
            forge.db.run(
                f"UPDATE pulls SET {column} = ? WHERE {column} = ? AND issue_id IN "  # noqa: S608
                "(SELECT id FROM issues WHERE repo_id = ?)",
                (name, branch, rc.id),
            )
        if rc.repo["default_branch"] == branch:
            forge.db.run("UPDATE repos SET default_branch = ? WHERE id = ?", (name, rc.id))
            rc.git.set_head(name)
    sync_refs(forge, rc.repo, user)
    return no_content()
