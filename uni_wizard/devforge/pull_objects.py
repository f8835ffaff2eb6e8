"""Rows to Gitea's JSON objects for code review: PullRequest, PullReview, Branch, PayloadCommit, CommitStatus."""

from __future__ import annotations

from typing import Any

from .access import OWNER
from .core import Forge
from .db import Row, fmt_time
from .git import CommitInfo, GitError, GitRepo
from .objects import VERIFICATION, issue_html, issue_json, repo_json, user_by_id_json, user_json, user_row

__all__ = [
    "branch_json",
    "commit_user",
    "payload_commit",
    "pull_json",
    "pull_mergeable",
    "review_json",
    "status_json",
]


def commit_user(forge: Forge, name: str, email: str) -> dict[str, Any]:
    user = forge.db.one("SELECT login FROM users WHERE lower(email) = lower(?) AND email != ''", (email,))
    return {"name": name, "email": email, "username": user["login"] if user else ""}


def payload_commit(forge: Forge, full_name: str, info: CommitInfo) -> dict[str, Any]:
    return {
        "id": info.sha,
        "message": info.message,
        "url": forge.html_url(f"{full_name}/commit/{info.sha}"),
        "author": commit_user(forge, info.author.name, info.author.email),
        "committer": commit_user(forge, info.committer.name, info.committer.email),
        "verification": VERIFICATION,
        "timestamp": fmt_time(info.committer.when),
        "added": None,
        "removed": None,
        "modified": None,
    }


def pull_mergeable(forge: Forge, pull: Row, issue: Row) -> bool:
    if pull["merged"] or issue["state"] != "open":
        return False
    if forge.clock() < pull["checking_until"]:
        return False
    return not pull["conflicted"]


def _diffstat(git: GitRepo, pull: Row, base_sha: str | None) -> tuple[int, int, int]:
    base = pull["merge_base"] or (git.merge_base(base_sha, pull["head_sha"]) if base_sha else None)
    if not base:
        return 0, 0, 0
    try:
        files = git.changed_files(base, pull["head_sha"])
    except GitError:
        return 0, 0, 0
    return (
        sum(int(str(f["additions"])) for f in files),
        sum(int(str(f["deletions"])) for f in files),
        len(files),
    )


def pull_json(forge: Forge, pull: Row, issue: Row, repo: Row, owner: Row, mode: int = OWNER) -> dict[str, Any]:
    full = f"{owner['login']}/{repo['name']}"
    git = forge.git_for(repo)
    base_sha = git.branch_sha(pull["base_branch"]) or ""
    apirepo = repo_json(forge, repo, owner, mode)
    as_issue = issue_json(forge, issue, repo, owner)
    html = issue_html(forge, full, issue)
    additions, deletions, changed = _diffstat(git, pull, base_sha)
    reviewers = forge.db.all(
        "SELECT DISTINCT u.* FROM users u JOIN reviews r ON r.reviewer_id = u.id "
        "WHERE r.pull_id = ? AND r.state = 'REQUEST_REVIEW' ORDER BY u.id",
        (pull["id"],),
    )
    return {
        "id": pull["id"],
        "url": html,
        "number": issue["number"],
        "user": as_issue["user"],
        "title": issue["title"],
        "body": issue["body"],
        "labels": as_issue["labels"],
        "milestone": None,
        "assignee": as_issue["assignee"],
        "assignees": as_issue["assignees"],
        "requested_reviewers": [user_json(forge, u) for u in reviewers],
        "requested_reviewers_teams": [],
        "state": issue["state"],
        "draft": as_issue["pull_request"]["draft"],
        "is_locked": bool(issue["is_locked"]),
        "comments": as_issue["comments"],
        "review_comments": 0,
        "additions": additions,
        "deletions": deletions,
        "changed_files": changed,
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        **_merge_json(forge, pull, issue),
        "allow_maintainer_edit": False,
        "base": _branch_json(pull["base_branch"], base_sha, repo, apirepo),
        "head": _branch_json(pull["head_branch"], pull["head_sha"], repo, apirepo),
        "merge_base": pull["merge_base"],
        "due_date": None,
        "created_at": as_issue["created_at"],
        "updated_at": as_issue["updated_at"],
        "closed_at": as_issue["closed_at"],
        "pin_order": 0,
        "content_version": issue["content_version"],
    }


def _branch_json(ref: str, sha: str, repo: Row, apirepo: dict[str, Any]) -> dict[str, Any]:
    return {"label": ref, "ref": ref, "sha": sha, "repo_id": repo["id"], "repo": apirepo}


def _merge_json(forge: Forge, pull: Row, issue: Row) -> dict[str, Any]:
    return {
        "mergeable": pull_mergeable(forge, pull, issue),
        "merged": bool(pull["merged"]),
        "merged_at": fmt_time(pull["merged_at"]),
        "merge_commit_sha": pull["merge_commit_sha"],
        "merged_by": user_by_id_json(forge, pull["merged_by"]),
    }


def review_json(forge: Forge, review: Row, pull_html: str) -> dict[str, Any]:
    return {
        "id": review["id"],
        "user": user_by_id_json(forge, review["reviewer_id"]),
        "team": None,
        "state": review["state"],
        "body": review["body"],
        "commit_id": review["commit_id"],
        "stale": bool(review["stale"]),
        "official": bool(review["official"]),
        "dismissed": bool(review["dismissed"]),
        "comments_count": review["comments_count"],
        "submitted_at": fmt_time(review["created"]),
        "updated_at": fmt_time(review["updated"]),
        "html_url": f"{pull_html}#issuecomment-{review['id']}",
        "pull_request_url": pull_html,
    }


def branch_json(
    forge: Forge,
    full_name: str,
    name: str,
    info: CommitInfo,
    rule: dict[str, Any] | None,
    *,
    can_push: bool,
    can_merge: bool,
) -> dict[str, Any]:
    return {
        "name": name,
        "commit": payload_commit(forge, full_name, info),
        "protected": rule is not None,
        "required_approvals": int(rule["required_approvals"]) if rule else 0,
        "enable_status_check": bool(rule["enable_status_check"]) if rule else False,
        "status_check_contexts": list(rule["status_check_contexts"]) if rule else [],
        "user_can_push": can_push,
        "user_can_merge": can_merge,
        "effective_branch_protection_name": rule["rule_name"] if rule else "",
    }


def status_json(forge: Forge, status: Row, full_name: str) -> dict[str, Any]:
    return {
        "id": status["id"],
        "status": status["state"],
        "target_url": status["target_url"],
        "description": status["description"],
        "url": forge.api_url(f"repos/{full_name}/statuses/{status['sha']}"),
        "context": status["context"],
        "creator": user_json(forge, user_row(forge, status["creator_id"])),
        "created_at": fmt_time(status["created"]),
        "updated_at": fmt_time(status["updated"]),
    }
