"""Rows to Gitea's JSON objects: User, Organization, Repository, Label, Issue, Comment.

Field sets follow ``modules/structs`` (and the saved webhook payloads): unset optional times and
objects are ``null``; an issue without assignees has ``"assignees": null``; label colours come
back without ``#``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .access import ADMIN, READ, WRITE
from .core import Forge
from .db import Row, fmt_time

__all__ = [
    "comment_json",
    "is_wip",
    "issue_html",
    "issue_json",
    "label_json",
    "labels_of",
    "org_json",
    "repo_json",
    "repo_settings",
    "user_json",
    "user_row",
]

REPO_DEFAULTS: dict[str, Any] = {
    "has_issues": True,
    "has_wiki": False,
    "has_pull_requests": True,
    "has_projects": False,
    "has_releases": False,
    "has_packages": False,
    "has_actions": False,
    "ignore_whitespace_conflicts": False,
    "allow_merge_commits": True,
    "allow_rebase": False,
    "allow_rebase_explicit": False,
    "allow_squash_merge": True,
    "allow_fast_forward_only_merge": True,
    "allow_rebase_update": False,
    "allow_manual_merge": False,
    "autodetect_manual_merge": False,
    "default_delete_branch_after_merge": False,
    "default_merge_style": "merge",
    "default_allow_maintainer_edit": False,
    "website": "",
}

VERIFICATION = {
    "verified": False,
    "reason": "gpg.error.not_signed_commit",
    "signature": "",
    "signer": None,
    "payload": "",
}


def user_row(forge: Forge, user_id: int | None) -> Row | None:
    if not user_id:
        return None
    return forge.db.one("SELECT * FROM users WHERE id = ?", (user_id,))


def user_json(forge: Forge, user: Row | None) -> dict[str, Any] | None:
    if user is None:
        return None
    digest = hashlib.md5(user["email"].lower().encode(), usedforsecurity=False).hexdigest()
    created = fmt_time(user["created"])
    return {
        "id": user["id"],
        "login": user["login"],
        "login_name": "",
        "source_id": 0,
        "full_name": user["full_name"],
        "email": user["email"],
        "avatar_url": forge.html_url(f"avatars/{digest}"),
        "html_url": forge.html_url(user["login"]),
        "language": "",
        "is_admin": bool(user["is_admin"]),
        "last_login": created,
        "created": created,
        "restricted": False,
        "active": True,
        "prohibit_login": False,
        "location": "",
        "website": "",
        "description": user["description"],
        "visibility": user["visibility"],
        "followers_count": 0,
        "following_count": 0,
        "starred_repos_count": 0,
        "username": user["login"],
    }


def user_by_id_json(forge: Forge, user_id: int | None) -> dict[str, Any] | None:
    return user_json(forge, user_row(forge, user_id))


def org_json(forge: Forge, org: Row) -> dict[str, Any]:
    digest = hashlib.md5(org["login"].encode(), usedforsecurity=False).hexdigest()
    return {
        "id": org["id"],
        "name": org["login"],
        "username": org["login"],
        "full_name": org["full_name"],
        "email": org["email"],
        "avatar_url": forge.html_url(f"avatars/{digest}"),
        "description": org["description"],
        "website": "",
        "location": "",
        "visibility": org["visibility"],
        "repo_admin_change_team_access": False,
    }


def repo_settings(repo: Row) -> dict[str, Any]:
    return {**REPO_DEFAULTS, **json.loads(repo["settings"] or "{}")}


def repo_json(forge: Forge, repo: Row, owner: Row, mode: int, *, empty: bool | None = None) -> dict[str, Any]:
    full = f"{owner['login']}/{repo['name']}"
    settings = repo_settings(repo)
    if empty is None:
        empty = not forge.git_for(repo).refs("refs/heads/")
    open_issues = forge.db.scalar(
        "SELECT count(*) FROM issues WHERE repo_id = ? AND is_pull = 0 AND state = 'open'", (repo["id"],)
    )
    open_prs = forge.db.scalar(
        "SELECT count(*) FROM issues WHERE repo_id = ? AND is_pull = 1 AND state = 'open'", (repo["id"],)
    )
    host = forge.root_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return {
        "id": repo["id"],
        "owner": user_json(forge, owner),
        "name": repo["name"],
        "full_name": full,
        "description": repo["description"],
        "empty": empty,
        "private": bool(repo["private"]),
        "fork": False,
        "template": False,
        "parent": None,
        "mirror": False,
        **_SIZE_CONSTANTS,
        "languages_url": forge.api_url(f"repos/{full}/languages"),
        "html_url": forge.html_url(full),
        "url": forge.api_url(f"repos/{full}"),
        "link": "",
        "ssh_url": f"git@{host}:{full}.git",
        "clone_url": forge.html_url(f"{full}.git"),
        "original_url": "",
        "open_issues_count": open_issues,
        "open_pr_counter": open_prs,
        "default_branch": repo["default_branch"],
        "archived": bool(repo["archived"]),
        "created_at": fmt_time(repo["created"]),
        "updated_at": fmt_time(repo["updated"]),
        "archived_at": fmt_time(0),
        "permissions": {"admin": mode >= ADMIN, "push": mode >= WRITE, "pull": mode >= READ},
        "internal_tracker": {
            "enable_time_tracker": False,
            "allow_only_contributors_to_track_time": True,
            "enable_issue_dependencies": False,
        },
        "default_target_branch": repo["default_branch"],
        "default_update_style": "merge",
        **_REPO_CONSTANTS,
        "mirror_updated": fmt_time(0),
        **settings,
    }


_SIZE_CONSTANTS: dict[str, Any] = {
    "size": 0,
    "language": "",
    "stars_count": 0,
    "forks_count": 0,
    "watchers_count": 0,
    "release_counter": 0,
}
# what a repository of the devforge always says (no mirrors, avatars, topics, licences or transfers)
_REPO_CONSTANTS: dict[str, Any] = {
    "avatar_url": "",
    "internal": False,
    "mirror_interval": "",
    "object_format_name": "sha1",
    "repo_transfer": None,
    "topics": [],
    "licenses": [],
    "projects_mode": "all",
}


def label_json(forge: Forge, label: Row, full_name: str) -> dict[str, Any]:
    return {
        "id": label["id"],
        "name": label["name"],
        "exclusive": bool(label["exclusive"]),
        "is_archived": bool(label["archived"]),
        "color": label["color"].lstrip("#"),
        "description": label["description"],
        "url": forge.api_url(f"repos/{full_name}/labels/{label['id']}"),
    }


def labels_of(forge: Forge, issue_id: int) -> list[Row]:
    return forge.db.all(
        "SELECT l.* FROM labels l JOIN issue_labels il ON il.label_id = l.id WHERE il.issue_id = ? "
        "ORDER BY l.name, l.id",
        (issue_id,),
    )


def is_wip(title: str) -> bool:
    upper = title.upper()
    return any(upper.startswith(prefix) for prefix in ("WIP:", "[WIP]"))


def issue_html(forge: Forge, full_name: str, issue: Row) -> str:
    kind = "pulls" if issue["is_pull"] else "issues"
    return forge.html_url(f"{full_name}/{kind}/{issue['number']}")


def assignees_of(forge: Forge, issue_id: int) -> list[Row]:
    return forge.db.all(
        "SELECT u.* FROM users u JOIN issue_assignees a ON a.user_id = u.id WHERE a.issue_id = ? ORDER BY u.id",
        (issue_id,),
    )


def issue_json(forge: Forge, issue: Row, repo: Row, owner: Row) -> dict[str, Any]:
    full = f"{owner['login']}/{repo['name']}"
    assignees = [user_json(forge, u) for u in assignees_of(forge, issue["id"])]
    pull_meta = None
    if issue["is_pull"]:
        pull = forge.db.one("SELECT * FROM pulls WHERE issue_id = ?", (issue["id"],))
        pull_meta = {
            "merged": bool(pull and pull["merged"]),
            "merged_at": fmt_time(pull["merged_at"]) if pull else None,
            "draft": is_wip(issue["title"]),
            "html_url": issue_html(forge, full, issue),
        }
    comments = forge.db.scalar("SELECT count(*) FROM comments WHERE issue_id = ?", (issue["id"],))
    return {
        "id": issue["id"],
        "url": forge.api_url(f"repos/{full}/issues/{issue['number']}"),
        "html_url": issue_html(forge, full, issue),
        "number": issue["number"],
        "user": user_by_id_json(forge, issue["poster_id"]),
        "original_author": "",
        "original_author_id": 0,
        "title": issue["title"],
        "body": issue["body"],
        "ref": issue["ref"],
        "assets": [],
        "labels": [label_json(forge, label, full) for label in labels_of(forge, issue["id"])],
        "milestone": None,
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees or None,
        "state": issue["state"],
        "is_locked": bool(issue["is_locked"]),
        "comments": comments,
        "created_at": fmt_time(issue["created"]),
        "updated_at": fmt_time(issue["updated"]),
        "closed_at": fmt_time(issue["closed"]),
        "due_date": None,
        "time_estimate": 0,
        "pull_request": pull_meta,
        "repository": {"id": repo["id"], "name": repo["name"], "owner": owner["login"], "full_name": full},
        "pin_order": 0,
        "content_version": issue["content_version"],
    }


def comment_json(forge: Forge, comment: Row, issue: Row, full_name: str) -> dict[str, Any]:
    html = issue_html(forge, full_name, issue)
    return {
        "id": comment["id"],
        "html_url": f"{html}#issuecomment-{comment['id']}",
        "pull_request_url": html if issue["is_pull"] else "",
        "issue_url": "" if issue["is_pull"] else html,
        "user": user_by_id_json(forge, comment["poster_id"]),
        "original_author": "",
        "original_author_id": 0,
        "body": comment["body"],
        "assets": [],
        "created_at": fmt_time(comment["created"]),
        "updated_at": fmt_time(comment["updated"]),
    }
