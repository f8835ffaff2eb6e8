"""What happened → which hooks hear it → the payload (IssuePayload, IssueCommentPayload, PullRequestPayload, ...).

Event types and subscription follow ``routers/api/v1/utils/hook.go:updateHookEvents``: ``issues`` turns on
every issue sub-event (assign, label, milestone, comment), ``pull_request`` every PR sub-event (assign,
label, milestone, comment, review, review request, sync); an empty list means ``push`` only.
A payload is built only when some active hook wants the event.
"""

from __future__ import annotations

import json
from typing import Any

from .access import OWNER
from .core import Forge
from .db import Row, fmt_time
from .glob import glob_match
from .objects import comment_json, issue_json, repo_json, user_json
from .pull_objects import payload_commit, pull_json

__all__ = [
    "ALL_EVENTS",
    "expand_events",
    "fire_comment",
    "fire_issue",
    "fire_pull",
    "fire_push",
    "fire_review",
    "fire_status",
    "hooks_for",
]

ISSUE_SUB = ["issue_assign", "issue_label", "issue_milestone", "issue_comment"]
PULL_SUB = [
    "pull_request_assign",
    "pull_request_label",
    "pull_request_milestone",
    "pull_request_comment",
    "pull_request_review",
    "pull_request_review_request",
    "pull_request_sync",
]
PLAIN = ["create", "delete", "fork", "push", "repository", "release", "package", "status", "wiki"]
PLAIN += ["workflow_run", "workflow_job"]
ALL_EVENTS = [*PLAIN[:4], "issues", *ISSUE_SUB, "pull_request", *PULL_SUB, *PLAIN[4:]]
_REVIEW_TYPES = {"pull_request_review_approved", "pull_request_review_rejected", "pull_request_review_comment"}


def expand_events(events: list[str]) -> list[str]:
    """The hook's enabled event keys for a requested ``events`` list, in a fixed order."""
    asked = {e.lower() for e in (events or ["push"])}
    enabled = {e for e in PLAIN if e in asked}
    if "issues" in asked or "issues_only" in asked:
        enabled.add("issues")
    enabled |= {e for e in ISSUE_SUB if e in asked or "issues" in asked}
    if "pull_request" in asked or "pull_request_only" in asked:
        enabled.add("pull_request")
    enabled |= {e for e in PULL_SUB if e in asked or "pull_request" in asked}
    return [e for e in ALL_EVENTS if e in enabled]


def hooks_for(forge: Forge, repo_id: int, event_type: str, branch: str | None = None) -> list[Row]:
    key = "pull_request_review" if event_type in _REVIEW_TYPES else event_type
    hooks = []
    for hook in forge.db.all("SELECT * FROM hooks WHERE repo_id = ? AND active = 1 ORDER BY id", (repo_id,)):
        if key not in json.loads(hook["events"]):
            continue
        filtered = branch is not None and hook["branch_filter"] not in ("", "*")
        if filtered and not glob_match(hook["branch_filter"], str(branch), separator="/"):
            continue
        hooks.append(hook)
    return hooks


def _send(forge: Forge, hooks: list[Row], event_type: str, payload: dict[str, Any]) -> None:
    if forge.deliverer is None:
        return
    for hook in hooks:
        forge.deliverer.enqueue(hook, event_type, payload)


def _repo(forge: Forge, repo: Row) -> tuple[Row, dict[str, Any]]:
    owner = forge.db.one("SELECT * FROM users WHERE id = ?", (repo["owner_id"],))
    assert owner is not None
    return owner, repo_json(forge, repo, owner, OWNER)


def _pull_of(forge: Forge, issue: Row) -> Row | None:
    return forge.db.one("SELECT * FROM pulls WHERE issue_id = ?", (issue["id"],))


def fire_issue(
    forge: Forge,
    repo: Row,
    issue: Row,
    action: str,
    sender: Row,
    *,
    kind: str = "",
    changes: dict[str, Any] | None = None,
) -> None:
    """An issue (or a PR, seen as an issue) changed. ``kind``: "" | "label" | "assign" | "milestone"."""
    if issue["is_pull"]:
        pull = _pull_of(forge, issue)
        if pull is not None:
            fire_pull(forge, repo, pull, issue, action, sender, kind=kind, changes=changes)
        return
    event_type = f"issue_{kind}" if kind else "issues"
    hooks = hooks_for(forge, repo["id"], event_type)
    if not hooks:
        return
    owner, apirepo = _repo(forge, repo)
    payload: dict[str, Any] = {
        "action": action,
        "number": issue["number"],
        "issue": issue_json(forge, issue, repo, owner),
        "repository": apirepo,
        "sender": user_json(forge, sender),
        "commit_id": "",
    }
    if changes:
        payload["changes"] = changes
    _send(forge, hooks, event_type, payload)


def fire_pull(
    forge: Forge,
    repo: Row,
    pull: Row,
    issue: Row,
    action: str,
    sender: Row,
    *,
    kind: str = "",
    changes: dict[str, Any] | None = None,
    review: dict[str, Any] | None = None,
    event_type: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    event_type = event_type or (f"pull_request_{kind}" if kind else "pull_request")
    hooks = hooks_for(forge, repo["id"], event_type)
    if not hooks:
        return
    owner, apirepo = _repo(forge, repo)
    payload: dict[str, Any] = {
        "action": action,
        "number": issue["number"],
        "pull_request": pull_json(forge, pull, issue, repo, owner),
        "requested_reviewer": None,
        "repository": apirepo,
        "sender": user_json(forge, sender),
        "commit_id": "",
        "review": review,
        **(extra or {}),
    }
    if changes:
        payload["changes"] = changes
    _send(forge, hooks, event_type, payload)


def fire_review(forge: Forge, repo: Row, pull: Row, issue: Row, review: Row, reviewer: Row) -> None:
    event_type = {
        "APPROVED": "pull_request_review_approved",
        "REQUEST_CHANGES": "pull_request_review_rejected",
        "COMMENT": "pull_request_review_comment",
    }.get(review["state"])
    if event_type is None:  # pending reviews send nothing
        return
    fire_pull(
        forge,
        repo,
        pull,
        issue,
        "reviewed",
        reviewer,
        event_type=event_type,
        review={"type": event_type, "content": review["body"]},
    )


def fire_comment(forge: Forge, repo: Row, issue: Row, comment: Row, sender: Row, action: str = "created") -> None:
    event_type = "pull_request_comment" if issue["is_pull"] else "issue_comment"
    hooks = hooks_for(forge, repo["id"], event_type)
    if not hooks:
        return
    owner, apirepo = _repo(forge, repo)
    full = f"{owner['login']}/{repo['name']}"
    payload: dict[str, Any] = {
        "action": action,
        "issue": issue_json(forge, issue, repo, owner),
        "comment": comment_json(forge, comment, issue, full),
        "repository": apirepo,
        "sender": user_json(forge, sender),
        "is_pull": bool(issue["is_pull"]),
    }
    if issue["is_pull"]:
        pull = _pull_of(forge, issue)
        if pull is not None:
            payload["pull_request"] = pull_json(forge, pull, issue, repo, owner)
    _send(forge, hooks, event_type, payload)


def fire_status(forge: Forge, repo: Row, status: Row, sender: Row) -> None:
    hooks = hooks_for(forge, repo["id"], "status")
    if not hooks:
        return
    owner, apirepo = _repo(forge, repo)
    full = f"{owner['login']}/{repo['name']}"
    info = forge.git_for(repo).commit(status["sha"])
    payload = {
        "id": status["id"],
        "sha": status["sha"],
        "context": status["context"],
        "state": status["state"],
        "description": status["description"],
        "target_url": status["target_url"],
        "commit": payload_commit(forge, full, info),
        "repository": apirepo,
        "sender": user_json(forge, sender),
        "created_at": fmt_time(status["created"]),
        "updated_at": fmt_time(status["updated"]),
    }
    _send(forge, hooks, "status", payload)


def fire_push(forge: Forge, repo: Row, ref: str, before: str, after: str, commits: list[str], pusher: Row) -> None:
    branch = ref.removeprefix("refs/heads/")
    hooks = hooks_for(forge, repo["id"], "push", branch=branch)
    if not hooks:
        return
    owner, apirepo = _repo(forge, repo)
    full = f"{owner['login']}/{repo['name']}"
    git = forge.git_for(repo)
    infos = [payload_commit(forge, full, git.commit(sha)) for sha in commits]
    zero = "0" * 40
    payload = {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": forge.html_url(f"{full}/compare/{before}...{after}") if before != zero else "",
        "commits": infos,
        "total_commits": len(infos),
        "head_commit": payload_commit(forge, full, git.commit(after)) if after != zero else None,
        "repository": apirepo,
        "pusher": user_json(forge, pusher),
        "sender": user_json(forge, pusher),
    }
    _send(forge, hooks, "push", payload)
