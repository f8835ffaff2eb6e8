"""``GET /repos/{o}/{r}/commits``: the history of a ref (optionally of one path), newest first, paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import RepoCtx, load_repo
from .auth import Caller, caller_of
from .core import forge_of
from .db import fmt_time
from .errors import ApiError, not_found
from .git import CommitInfo, GitError
from .objects import VERIFICATION, user_json
from .pagination import list_response, page_of

__all__ = ["commit_json", "router"]

router = APIRouter()


def commit_json(rc: RepoCtx, info: CommitInfo) -> dict[str, Any]:
    def who(email: str) -> dict[str, Any] | None:
        row = rc.forge.db.one("SELECT * FROM users WHERE lower(email) = lower(?) AND email != ''", (email,))
        return user_json(rc.forge, row) if row else None

    def meta(kind: str, sha: str) -> dict[str, Any]:
        return {"url": rc.api(f"/git/{kind}/{sha}"), "sha": sha, "created": fmt_time(info.committer.when)}

    return {
        "url": rc.api(f"/git/commits/{info.sha}"),
        "sha": info.sha,
        "created": fmt_time(info.committer.when),
        "html_url": rc.html(f"/commit/{info.sha}"),
        "commit": {
            "url": rc.api(f"/git/commits/{info.sha}"),
            "author": {"name": info.author.name, "email": info.author.email, "date": fmt_time(info.author.when)},
            "committer": {
                "name": info.committer.name,
                "email": info.committer.email,
                "date": fmt_time(info.committer.when),
            },
            "message": info.message,
            "tree": meta("trees", info.tree),
            "verification": VERIFICATION,
        },
        "author": who(info.author.email),
        "committer": who(info.committer.email),
        "parents": [meta("commits", p) for p in info.parents],
    }


@router.get("/repos/{owner}/{repo}/commits")
def list_commits(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    if not rc.git.refs():
        raise ApiError(409, "Git Repository is empty")
    ref = request.query_params.get("sha") or rc.repo["default_branch"]
    head = rc.git.resolve(ref)
    if head is None:
        raise not_found(f"object does not exist [id: {ref}, rel_path: ]")
    path = request.query_params.get("path", "")
    try:
        spec = [head, "--", path] if path else [head]
        shas = rc.git.rev_list(spec, limit=100_000)
    except GitError as exc:
        raise not_found() from exc
    page = page_of(request)
    items = [commit_json(rc, rc.git.commit(sha)) for sha in page.slice(shas)]
    pages = max(1, -(-len(shas) // page.limit))
    response = list_response(request, items, len(shas), link=True, limit=page.limit)
    response.headers.update({
        "X-Page": str(page.page), "X-PerPage": str(page.limit), "X-Total": str(len(shas)),
        "X-PageCount": str(pages), "X-HasMore": str(page.page < pages).lower(),
    })  # fmt: skip
    return response
