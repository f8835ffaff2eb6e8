"""``POST /pulls/{n}/merge``: Gitea's gates in Gitea's order (GITEA_FACTS §5), then a real git merge.

Gates: closed → 404; merged → 405; caller may not merge → 405; WIP → 405; conflict check running or
conflicts → 405 "Please try again later"; branch protection (status checks, approvals, requested
changes, official review requests, outdated branch; skipped by ``force_merge`` for repo admins) → 405;
style not allowed → 405; ``head_commit_id`` ≠ head → 409 "head out of date"; git conflicts → 409 with a
non-``{message,url}`` body. Success: 200 with an empty body. ``Do``/``do`` and ``MergeTitleField``/
``merge_title_field`` (any case) are all accepted.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import ADMIN, RepoCtx, load_repo
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .db import Row
from .errors import ApiError, conflict, not_allowed, not_found, required, unprocessable
from .events import fire_issue, fire_pull
from .git import Signature
from .issuecore import reload_issue
from .objects import is_wip, repo_settings, user_row
from .protection import can_merge, rule_for
from .pulls import get_pull
from .refsync import sync_refs
from .statuses import required_checks_pass
from .web import Body, json_body

__all__ = ["router"]

router = APIRouter()
STYLES = {
    "merge": "allow_merge_commits",
    "rebase": "allow_rebase",
    "rebase-merge": "allow_rebase_explicit",
    "squash": "allow_squash_merge",
    "fast-forward-only": "allow_fast_forward_only_merge",
    "manually-merged": "allow_manual_merge",
}
CLOSING = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b", re.IGNORECASE)


def _approvals(rc: RepoCtx, pull: Row, rule: dict[str, Any]) -> int:
    sql = "SELECT count(*) FROM reviews WHERE pull_id = ? AND state = 'APPROVED' AND official = 1 AND dismissed = 0"
    if rule["ignore_stale_approvals"]:
        sql += " AND stale = 0"
    return int(rc.forge.db.scalar(sql, (pull["id"],)) or 0)


def _protection_gate(rc: RepoCtx, pull: Row) -> None:
    rule = rule_for(rc.forge, rc.id, pull["base_branch"])
    if rule is None:
        return
    if rule["enable_status_check"] and not required_checks_pass(
        rc.forge, rc.id, pull["head_sha"], rule["status_check_contexts"]
    ):
        raise not_allowed("Not all required status checks successful")
    if rule["required_approvals"] > 0 and _approvals(rc, pull, rule) < rule["required_approvals"]:
        raise not_allowed("Does not have enough approvals")
    db = rc.forge.db
    if rule["block_on_rejected_reviews"] and db.one(
        "SELECT 1 FROM reviews WHERE pull_id = ? AND state = 'REQUEST_CHANGES' AND official = 1 AND dismissed = 0",
        (pull["id"],),
    ):
        raise not_allowed("There are requested changes")
    if rule["block_on_official_review_requests"] and db.one(
        "SELECT 1 FROM reviews WHERE pull_id = ? AND state = 'REQUEST_REVIEW' AND official = 1", (pull["id"],)
    ):
        raise not_allowed("There are official review requests")
    if rule["block_on_outdated_branch"]:
        base_sha = rc.git.branch_sha(pull["base_branch"])
        if base_sha and not rc.git.is_ancestor(base_sha, pull["head_sha"]):
            raise not_allowed("The head branch is behind the base branch")


def _message(body: Body, default_title: str) -> str:
    title = body.str("MergeTitleField", "merge_title_field") or default_title
    text = body.str("MergeMessageField", "merge_message_field")
    return f"{title}\n\n{text}\n" if text else f"{title}\n"


def _do_merge(rc: RepoCtx, pull: Row, issue: Row, style: str, body: Body, doer: Row) -> str:
    git = rc.git
    base_sha = git.branch_sha(pull["base_branch"])
    head_sha: str = pull["head_sha"]
    if base_sha is None:
        raise not_found()
    now = rc.forge.now()
    committer = Signature(doer["full_name"] or doer["login"], doer["email"], now)
    number, title = issue["number"], issue["title"]
    if style == "fast-forward-only":
        if not git.is_ancestor(base_sha, head_sha):
            raise ApiError(409, raw={"message": "merge is not fast-forward", "StdOut": "", "StdErr": "", "Err": {}})
        new = head_sha
    else:
        tree, conflicts = git.merge_tree(base_sha, head_sha)
        if tree is None:
            raise ApiError(409, raw={"Style": style, "StdOut": "", "StdErr": "\n".join(conflicts), "Err": {}})
        if style == "squash":
            poster = user_row(rc.forge, issue["poster_id"]) or doer
            author = Signature(poster["full_name"] or poster["login"], poster["email"], now)
            message = _message(body, f"{title} (#{number})")
            new = git.commit_tree(tree, [base_sha], message, author, committer)
        else:
            default = f"Merge pull request '{title}' (#{number}) from {pull['head_branch']} into {pull['base_branch']}"
            new = git.commit_tree(tree, [base_sha, head_sha], _message(body, default), committer, committer)
    if not git.update_ref(f"refs/heads/{pull['base_branch']}", new, base_sha):
        raise conflict("merge push out of date")
    return new


@router.post("/repos/{owner}/{repo}/pulls/{index}/merge")
def merge_pull(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, mutates=True)
    style = body.str("Do", "do")
    if not style:
        raise required("Do")
    if style not in STYLES:
        raise unprocessable("[Do]: In")
    with forge.db.tx():
        pull, issue = get_pull(rc, index)
        _check_mergeable(rc, pull, issue, style, body, user)
        if style == "manually-merged":
            merge_sha: str = body.str("MergeCommitID", "merge_commit_id")
        else:
            merge_sha = _do_merge(rc, pull, issue, style, body, user)
        closed = _record_merge(rc, pull, issue, merge_sha, user)
        pull = forge.db.one("SELECT * FROM pulls WHERE id = ?", (pull["id"],)) or pull
        issue = reload_issue(forge, issue["id"])
    sync_refs(forge, rc.repo, user)
    fire_pull(forge, rc.repo, pull, issue, "closed", user)
    for target in closed:
        fire_issue(forge, rc.repo, reload_issue(forge, target["id"]), "closed", user)
    if body.bool("delete_branch_after_merge"):
        _delete_head(rc, pull, user)
    return Response(status_code=200)


def _check_mergeable(rc: RepoCtx, pull: Row, issue: Row, style: str, body: Body, user: Row) -> None:
    """Gitea's checks before a merge, in its order: state, who may merge, WIP, conflicts, protection, style,
    and the head the caller saw."""
    forge = rc.forge
    if issue["state"] == "closed" and not pull["merged"]:
        raise not_found()
    if pull["merged"]:
        raise not_allowed("The PR is already merged")
    rule = rule_for(forge, rc.id, pull["base_branch"])
    if not can_merge(rule, user, rc.mode):
        raise not_allowed("User not allowed to merge PR")
    if style != "manually-merged":
        if is_wip(issue["title"]):
            raise not_allowed("Work in progress PRs cannot be merged")
        if forge.clock() < pull["checking_until"] or pull["conflicted"]:
            raise not_allowed("Please try again later")
        if not (body.bool("force_merge") and rc.mode >= ADMIN):
            _protection_gate(rc, pull)
    if not repo_settings(rc.repo).get(STYLES[style], False):
        raise not_allowed(f"{style} is not allowed an allowed merge style for this repository")
    head_commit = body.str("head_commit_id")
    if head_commit and head_commit != pull["head_sha"]:
        raise conflict("head out of date")


def _record_merge(rc: RepoCtx, pull: Row, issue: Row, merge_sha: str, user: Row) -> list[Row]:
    """The pull merged and its issue closed, with every open issue it closes (``closes #N``); those returned."""
    forge = rc.forge
    now = forge.now()
    forge.db.run(
        "UPDATE pulls SET merged = 1, merged_at = ?, merged_by = ?, merge_commit_sha = ? WHERE id = ?",
        (now, user["id"], merge_sha, pull["id"]),
    )
    forge.db.run("UPDATE issues SET state = 'closed', closed = ?, updated = ? WHERE id = ?", (now, now, issue["id"]))
    closed: list[Row] = []
    for number in {int(n) for n in CLOSING.findall(f"{issue['title']}\n{issue['body']}")}:
        target = forge.db.one(
            "SELECT * FROM issues WHERE repo_id = ? AND number = ? AND is_pull = 0 AND state = 'open'",
            (rc.id, number),
        )
        if target is not None:
            forge.db.run(
                "UPDATE issues SET state = 'closed', closed = ?, updated = ? WHERE id = ?", (now, now, target["id"])
            )
            closed.append(target)
    return closed


def _delete_head(rc: RepoCtx, pull: Row, user: Row) -> None:
    branch = pull["head_branch"]
    if branch == rc.repo["default_branch"] or rule_for(rc.forge, rc.id, branch) is not None:
        return
    others = rc.forge.db.one(
        "SELECT 1 FROM pulls p JOIN issues i ON i.id = p.issue_id WHERE i.repo_id = ? AND i.state = 'open' "
        "AND (p.base_branch = ? OR p.head_branch = ?)",
        (rc.id, branch, branch),
    )
    if others is None and rc.git.delete_ref(f"refs/heads/{branch}", pull["head_sha"]):
        sync_refs(rc.forge, rc.repo, user)
