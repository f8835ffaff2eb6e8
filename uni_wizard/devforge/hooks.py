"""Repository webhooks CRUD (GITEA_FACTS §3.10) as ``routers/api/v1/utils/hook.go`` does it.

``active`` defaults to false; an empty ``events`` list means ``["push"]``; the secret is never echoed.
422s: "Invalid hook type: X", "Missing config option: url|content_type", "Invalid content type",
"Invalid url". Like Gitea, a PATCH rebuilds ``events`` (omitted → push only), ``branch_filter`` and
``authorization_header`` from the request; ``active`` and the config change only when given.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import ADMIN, RepoCtx, load_repo
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .db import Row, fmt_time
from .errors import not_found, required, unprocessable
from .events import expand_events
from .objects import repo_json, user_json
from .pagination import list_response, page_of
from .pull_objects import payload_commit
from .web import Body, created, json_body, no_content, ok

__all__ = ["router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}/hooks"
HOOK_TYPES = {
    "gitea", "gogs", "slack", "discord", "dingtalk", "telegram", "msteams", "feishu", "matrix", "wechatwork",
    "packagist",
}  # fmt: skip


def hook_json(hook: Row) -> dict[str, Any]:
    return {
        "id": hook["id"],
        "type": hook["type"],
        "name": hook["name"],
        "branch_filter": hook["branch_filter"],
        "config": {"url": hook["url"], "content_type": hook["content_type"]},
        "events": json.loads(hook["events"]),
        "authorization_header": hook["authorization_header"],
        "active": bool(hook["active"]),
        "updated_at": fmt_time(hook["updated"]),
        "created_at": fmt_time(hook["created"]),
    }


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _config(body: Body) -> dict[str, str]:
    config = body.dict("config")
    if config is None:
        raise required("Config")
    return {str(k): str(v) for k, v in config.items()}


def _hook(rc: RepoCtx, hook_id: str) -> Row:
    row = None
    if hook_id.isdigit():
        row = rc.forge.db.one("SELECT * FROM hooks WHERE id = ? AND repo_id = ?", (int(hook_id), rc.id))
    if row is None:
        raise not_found()
    return row


@router.get(BASE)
def list_hooks(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, need=ADMIN)
    rows = rc.forge.db.all("SELECT * FROM hooks WHERE repo_id = ? ORDER BY id", (rc.id,))
    page = page_of(request)
    return list_response(request, [hook_json(h) for h in page.slice(rows)], len(rows), link=False)


@router.post(BASE)
def create_hook(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN, allow_archived=True)
    kind = body.str("type")
    if not kind:
        raise required("Type")
    config = _config(body)
    if kind not in HOOK_TYPES:
        raise unprocessable(f"Invalid hook type: {kind}")
    for name in ("url", "content_type"):
        if name not in config:
            raise unprocessable(f"Missing config option: {name}")
    if config["content_type"] not in ("json", "form"):
        raise unprocessable("Invalid content type")
    if not _valid_url(config["url"]):
        raise unprocessable("Invalid url")
    now = forge.now()
    hook_id = forge.db.run(
        "INSERT INTO hooks (repo_id, type, name, url, content_type, secret, events, active, branch_filter, "
        "authorization_header, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (rc.id, kind, body.str("name"), config["url"], config["content_type"], config.get("secret", ""),
         json.dumps(expand_events(body.str_list("events") or [])), int(body.bool("active")),
         body.str("branch_filter"), body.str("authorization_header"), now, now),
    )  # fmt: skip
    return created(hook_json(_hook(rc, str(hook_id))))


@router.get(BASE + "/{hook_id}")
def get_hook(owner: str, repo: str, hook_id: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo, need=ADMIN)
    return ok(hook_json(_hook(rc, hook_id)))


@router.patch(BASE + "/{hook_id}")
def edit_hook(
    owner: str,
    repo: str,
    hook_id: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN, allow_archived=True)
    with forge.db.tx():
        hook = _hook(rc, hook_id)
        url, content_type = hook["url"], hook["content_type"]
        config = body.dict("config")
        if config is not None:
            if "url" in config:
                if not _valid_url(str(config["url"])):
                    raise unprocessable("Invalid url")
                url = str(config["url"])
            if "content_type" in config:
                if config["content_type"] not in ("json", "form"):
                    raise unprocessable("Invalid content type")
                content_type = str(config["content_type"])
        active = body.opt_bool("active")
        forge.db.run(
            "UPDATE hooks SET url = ?, content_type = ?, events = ?, branch_filter = ?, authorization_header = ?, "
            "active = ?, updated = ? WHERE id = ?",
            (url, content_type, json.dumps(expand_events(body.str_list("events") or [])), body.str("branch_filter"),
             body.str("authorization_header"), int(active) if active is not None else hook["active"], forge.now(),
             hook["id"]),
        )  # fmt: skip
        hook = _hook(rc, hook_id)
    return ok(hook_json(hook))


@router.delete(BASE + "/{hook_id}")
def delete_hook(owner: str, repo: str, hook_id: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN, allow_archived=True)
    hook = _hook(rc, hook_id)
    forge.db.run("DELETE FROM hooks WHERE id = ?", (hook["id"],))
    return no_content()


@router.post(BASE + "/{hook_id}/tests")
def test_hook(owner: str, repo: str, hook_id: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    """Send a ``push`` for the default branch's head to this hook (whatever its events)."""
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=ADMIN, allow_archived=True)
    hook = _hook(rc, hook_id)
    branch = request.query_params.get("ref") or rc.repo["default_branch"]
    sha = rc.git.branch_sha(branch) or rc.git.resolve(branch)
    commits = [payload_commit(forge, rc.full_name, rc.git.commit(sha))] if sha else []
    payload = {
        "ref": f"refs/heads/{branch}",
        "before": sha or "",
        "after": sha or "",
        "compare_url": "",
        "commits": commits,
        "total_commits": len(commits),
        "head_commit": commits[0] if commits else None,
        "repository": repo_json(forge, rc.repo, rc.owner, rc.mode),
        "pusher": user_json(forge, user),
        "sender": user_json(forge, user),
    }
    if forge.deliverer is not None:
        forge.deliverer.enqueue(hook, "push", payload)
    return no_content()
