"""Branch protection: the rules (``/branch_protections`` CRUD) and what they mean for push, merge and review.

A rule's name is a branch name or a glob; the first rule that matches a branch applies (plain names
before globs, then by priority, then by id). Push permission feeds the repositories' pre-receive hook,
merge and approval permissions feed the merge gates (GITEA_FACTS §4, §5).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import ADMIN, WRITE, RepoCtx, load_repo, user_by_name
from .auth import Caller, caller_of
from .core import Forge, forge_of
from .db import Row, fmt_time
from .errors import ApiError, bad_request, not_found, unprocessable
from .glob import glob_match, glob_regex, is_glob
from .web import Body, created, json_body, no_content, ok

__all__ = ["can_merge", "can_push", "is_official", "push_rules", "router", "rule_for"]

router = APIRouter()

DEFAULTS: dict[str, Any] = {
    "enable_push": False,
    "enable_push_whitelist": False,
    "push_whitelist_usernames": [],
    "push_whitelist_teams": [],
    "push_whitelist_deploy_keys": False,
    "enable_force_push": False,
    "enable_force_push_allowlist": False,
    "force_push_allowlist_usernames": [],
    "force_push_allowlist_teams": [],
    "force_push_allowlist_deploy_keys": False,
    "enable_merge_whitelist": False,
    "merge_whitelist_usernames": [],
    "merge_whitelist_teams": [],
    "enable_status_check": False,
    "status_check_contexts": [],
    "required_approvals": 0,
    "enable_approvals_whitelist": False,
    "approvals_whitelist_username": [],
    "approvals_whitelist_teams": [],
    "block_on_rejected_reviews": False,
    "block_on_official_review_requests": False,
    "block_on_outdated_branch": False,
    "dismiss_stale_approvals": False,
    "ignore_stale_approvals": False,
    "require_signed_commits": False,
    "protected_file_patterns": "",
    "unprotected_file_patterns": "",
    "block_admin_merge_override": False,
    "enable_bypass_allowlist": False,
    "bypass_allowlist_usernames": [],
    "bypass_allowlist_teams": [],
}
_USER_LISTS = (
    "push_whitelist_usernames",
    "force_push_allowlist_usernames",
    "merge_whitelist_usernames",
    "approvals_whitelist_username",
    "bypass_allowlist_usernames",
)


def _rule(row: Row) -> dict[str, Any]:
    return {**DEFAULTS, **json.loads(row["settings"]), "rule_name": row["rule_name"], "priority": row["priority"],
            "id": row["id"], "created": row["created"], "updated": row["updated"]}  # fmt: skip


def rules_of(rc_forge: Forge, repo_id: int) -> list[dict[str, Any]]:
    rows = rc_forge.db.all("SELECT * FROM protections WHERE repo_id = ? ORDER BY priority, id", (repo_id,))
    rules = [_rule(r) for r in rows]
    return sorted(rules, key=lambda r: (is_glob(r["rule_name"]), r["priority"], r["id"]))


def rule_for(rc_forge: Forge, repo_id: int, branch: str) -> dict[str, Any] | None:
    for rule in rules_of(rc_forge, repo_id):
        name = rule["rule_name"]
        if name == branch or (is_glob(name) and glob_match(name, branch, separator="/")):
            return rule
    return None


def _listed(rule: dict[str, Any], key: str, user: Row | None) -> bool:
    return user is not None and user["login"].lower() in {n.lower() for n in rule[key]}


def can_push(rule: dict[str, Any] | None, user: Row | None, mode: int) -> bool:
    if mode < WRITE:
        return False
    if rule is None:
        return True
    if not rule["enable_push"]:
        return False
    return _listed(rule, "push_whitelist_usernames", user) if rule["enable_push_whitelist"] else True


def can_merge(rule: dict[str, Any] | None, user: Row | None, mode: int) -> bool:
    if mode < WRITE:
        return False
    if rule is None or not rule["enable_merge_whitelist"]:
        return True
    return _listed(rule, "merge_whitelist_usernames", user)


def is_official(rule: dict[str, Any] | None, user: Row | None, mode: int) -> bool:
    if rule is not None and rule["enable_approvals_whitelist"]:
        return _listed(rule, "approvals_whitelist_username", user)
    return mode >= WRITE


def push_rules(rc: RepoCtx) -> list[dict[str, Any]]:
    """The rules the pre-receive hook enforces for this pusher (regex, may_push, force)."""
    result = []
    for rule in rules_of(rc.forge, rc.id):
        name = rule["rule_name"]
        regex = glob_regex(name, separator="/")
        may_force = rule["enable_force_push"] and (
            not rule["enable_force_push_allowlist"] or _listed(rule, "force_push_allowlist_usernames", rc.caller.user)
        )
        result.append({"regex": regex, "may_push": can_push(rule, rc.caller.user, rc.mode), "force": may_force})
    return result


def protection_json(rule: dict[str, Any]) -> dict[str, Any]:
    body = {k: rule[k] for k in DEFAULTS}
    body["rule_name"] = rule["rule_name"]
    body["branch_name"] = "" if is_glob(rule["rule_name"]) else rule["rule_name"]
    body["priority"] = rule["priority"]
    body["created_at"] = fmt_time(rule["created"])
    body["updated_at"] = fmt_time(rule["updated"])
    return body


def _apply(rc: RepoCtx, settings: dict[str, Any], body: Body) -> dict[str, Any]:
    for key, default in DEFAULTS.items():
        if not body.has(key):
            continue
        value = body.get(key)
        if value is None:
            continue
        if isinstance(default, bool):
            value = body.bool(key)
        elif isinstance(default, int):
            value = body.int(key)
        elif isinstance(default, list):
            value = body.str_list(key) or []
        else:
            value = body.str(key)
        if key in _USER_LISTS:
            for name in value:
                if user_by_name(rc.forge, name, orgs=False) is None:
                    raise unprocessable(f"user does not exist [uid: 0, name: {name}]")
        settings[key] = value
    return settings


def _find(rc: RepoCtx, name: str) -> Row:
    row = rc.forge.db.one("SELECT * FROM protections WHERE repo_id = ? AND rule_name = ?", (rc.id, name))
    if row is None:
        raise not_found()
    return row


@router.get("/repos/{owner}/{repo}/branch_protections")
def list_protections(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, need=ADMIN)
    return ok([protection_json(r) for r in rules_of(rc.forge, rc.id)])


@router.post("/repos/{owner}/{repo}/branch_protections")
def create_protection(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN)
    name = body.str("rule_name") or body.str("branch_name")
    if not name:
        raise bad_request("both rule_name and branch_name are empty")
    with forge.db.tx():
        if forge.db.one("SELECT 1 FROM protections WHERE repo_id = ? AND rule_name = ?", (rc.id, name)):
            raise ApiError(403, "Branch protection already exist")
        if not is_glob(name) and rc.git.branch_sha(name) is None:
            raise not_found("Branch does not exist")
        settings = _apply(rc, {}, body)
        now = forge.now()
        row_id = forge.db.run(
            "INSERT INTO protections (repo_id, rule_name, settings, priority, created, updated) VALUES (?,?,?,?,?,?)",
            (rc.id, name, json.dumps(settings), body.int("priority"), now, now),
        )
        row = forge.db.one("SELECT * FROM protections WHERE id = ?", (row_id,))
    assert row is not None
    return created(protection_json(_rule(row)))


@router.get("/repos/{owner}/{repo}/branch_protections/{name:path}")
def get_protection(owner: str, repo: str, name: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, need=ADMIN)
    return ok(protection_json(_rule(_find(rc, name))))


@router.patch("/repos/{owner}/{repo}/branch_protections/{name:path}")
def edit_protection(
    owner: str,
    repo: str,
    name: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN)
    with forge.db.tx():
        row = _find(rc, name)
        settings = _apply(rc, json.loads(row["settings"]), body)
        priority = body.int("priority", default=row["priority"])
        forge.db.run(
            "UPDATE protections SET settings = ?, priority = ?, updated = ? WHERE id = ?",
            (json.dumps(settings), priority, forge.now(), row["id"]),
        )
        row = _find(rc, name)
    return ok(protection_json(_rule(row)))


@router.delete("/repos/{owner}/{repo}/branch_protections/{name:path}")
def delete_protection(
    owner: str, repo: str, name: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN)
    with forge.db.tx():
        row = _find(rc, name)
        forge.db.run("DELETE FROM protections WHERE id = ?", (row["id"],))
    return no_content()
