"""PR reviews (GITEA_FACTS §3.6, §4): create answers 200, self-approval and self-rejection are 422,
REQUEST_CHANGES needs a body, COMMENT needs a body or comments, any other event makes a PENDING draft.

``official`` is fixed at submission: the base branch rule's approvals whitelist if enabled, otherwise
write access. A reviewer's newer approve/reject review makes their older ones unofficial. Reviews on
an older commit than the head are ``stale``; pushes mark older reviews stale (``refsync.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import ADMIN, READ, RepoCtx, access_mode, load_repo, user_by_name
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .db import Row
from .errors import forbidden, not_found, unprocessable
from .events import fire_pull, fire_review
from .issuecore import reload_issue, touch
from .objects import issue_html
from .pagination import list_response, page_of
from .protection import is_official, rule_for
from .pull_objects import review_json
from .pulls import get_pull
from .web import Body, created, json_body, no_content, ok

__all__ = ["router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}/pulls/{index}"
EVENTS = {"APPROVED": "APPROVED", "REQUEST_CHANGES": "REQUEST_CHANGES", "COMMENT": "COMMENT"}


def _html(rc: RepoCtx, issue: Row) -> str:
    return issue_html(rc.forge, rc.full_name, issue)


def _review(rc: RepoCtx, pull: Row, review_id: str) -> Row:
    row = None
    if review_id.isdigit():
        row = rc.forge.db.one("SELECT * FROM reviews WHERE id = ? AND pull_id = ?", (int(review_id), pull["id"]))
    if row is None:
        raise not_found()
    return row


def _review_state(event: str, body: str, has_comments: bool, is_poster: bool) -> str:
    state = EVENTS.get(event.strip().upper(), "PENDING")
    if state == "APPROVED" and is_poster:
        raise unprocessable("approve your own pull is not allowed")
    if state == "REQUEST_CHANGES":
        if is_poster:
            raise unprocessable("reject your own pull is not allowed")
        if not body.strip():
            raise unprocessable("review event REQUEST_CHANGES requires a body")
    if state == "COMMENT" and not body.strip() and not has_comments:
        raise unprocessable("review event COMMENT requires a body or a comment")
    return state


def _submit(rc: RepoCtx, pull: Row, issue: Row, user: Row, review_id: int, state: str) -> None:
    """Turn review ``review_id`` into a submitted ``state`` review (official, request fulfilled)."""
    if issue["state"] != "open" or pull["merged"]:
        raise unprocessable("can't submit review for a closed or merged PR")
    db = rc.forge.db
    official = is_official(rule_for(rc.forge, rc.id, pull["base_branch"]), user, access_mode(rc.forge, user, rc.repo))
    if state in ("APPROVED", "REQUEST_CHANGES") and official:
        db.run(
            "UPDATE reviews SET official = 0 WHERE pull_id = ? AND reviewer_id = ? AND id != ? "
            "AND state IN ('APPROVED', 'REQUEST_CHANGES')",
            (pull["id"], user["id"], review_id),
        )
    db.run(
        "DELETE FROM reviews WHERE pull_id = ? AND reviewer_id = ? AND state = 'REQUEST_REVIEW'",
        (pull["id"], user["id"]),
    )
    db.run(
        "UPDATE reviews SET state = ?, official = ?, updated = ? WHERE id = ?",
        (state, int(official and state in ("APPROVED", "REQUEST_CHANGES")), rc.forge.now(), review_id),
    )
    touch(rc.forge, issue["id"])


@router.get(BASE + "/reviews")
def list_reviews(owner: str, repo: str, index: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    pull, issue = get_pull(rc, index)
    rows = rc.forge.db.all("SELECT * FROM reviews WHERE pull_id = ? ORDER BY id", (pull["id"],))
    page = page_of(request)
    items = [review_json(rc.forge, r, _html(rc, issue)) for r in page.slice(rows)]
    return list_response(request, items, len(rows), link=False)


@router.post(BASE + "/reviews")
def create_review(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ)
    pull, issue = get_pull(rc, index)
    text = body.str("body")
    comments = body.list("comments") or []
    state = _review_state(body.str("event"), text, bool(comments), issue["poster_id"] == user["id"])
    commit_id = body.str("commit_id") or pull["head_sha"]
    with forge.db.tx():
        now = forge.now()
        review_id = forge.db.run(
            "INSERT INTO reviews (pull_id, reviewer_id, state, body, commit_id, stale, comments_count, "
            "created, updated) VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?)",
            (pull["id"], user["id"], text, commit_id, int(commit_id != pull["head_sha"]), len(comments), now, now),
        )
        if state != "PENDING":
            _submit(rc, pull, issue, user, review_id, state)
        review = _review(rc, pull, str(review_id))
        issue = reload_issue(forge, issue["id"])
    if state != "PENDING":
        fire_review(forge, rc.repo, pull, issue, review, user)
    return ok(review_json(forge, review, _html(rc, issue)))


@router.get(BASE + "/reviews/{review_id}")
def get_review(
    owner: str, repo: str, index: str, review_id: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    pull, issue = get_pull(rc, index)
    return ok(review_json(rc.forge, _review(rc, pull, review_id), _html(rc, issue)))


@router.post(BASE + "/reviews/{review_id}")
def submit_review(
    owner: str,
    repo: str,
    index: str,
    review_id: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ)
    pull, issue = get_pull(rc, index)
    review = _review(rc, pull, review_id)
    if review["reviewer_id"] != user["id"]:
        raise forbidden("reviewer is not the doer")
    if review["state"] != "PENDING":
        raise unprocessable("only a pending review can be submitted")
    text = body.str("body") or review["body"]
    state = _review_state(body.str("event"), text, review["comments_count"] > 0, issue["poster_id"] == user["id"])
    if state == "PENDING":
        raise unprocessable("review stays pending: give event APPROVED, REQUEST_CHANGES or COMMENT")
    with forge.db.tx():
        forge.db.run("UPDATE reviews SET body = ?, commit_id = ? WHERE id = ?", (text, pull["head_sha"], review["id"]))
        _submit(rc, pull, issue, user, review["id"], state)
        review = _review(rc, pull, review_id)
        issue = reload_issue(forge, issue["id"])
    fire_review(forge, rc.repo, pull, issue, review, user)
    return ok(review_json(forge, review, _html(rc, issue)))


@router.delete(BASE + "/reviews/{review_id}")
def delete_review(
    owner: str, repo: str, index: str, review_id: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ)
    pull, _ = get_pull(rc, index)
    review = _review(rc, pull, review_id)
    if review["reviewer_id"] != user["id"] and rc.mode < ADMIN:
        raise forbidden("reviewer is not the doer")
    forge.db.run("DELETE FROM reviews WHERE id = ?", (review["id"],))
    return no_content()


def _dismissal(
    request: Request, caller: Caller, owner: str, repo: str, index: str, review_id: str, dismiss: bool
) -> Response:
    forge = forge_of(request)
    require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ)
    if rc.mode < ADMIN:
        raise forbidden("Must be repo admin")
    pull, issue = get_pull(rc, index)
    review = _review(rc, pull, review_id)
    if review["state"] not in ("APPROVED", "REQUEST_CHANGES"):
        raise unprocessable("not need to dismiss this review because it's type is not Approve or change request")
    if issue["state"] != "open":
        raise unprocessable("not need to dismiss this review because the pr is closed")
    forge.db.run(
        "UPDATE reviews SET dismissed = ?, updated = ? WHERE id = ?", (int(dismiss), forge.now(), review["id"])
    )
    return ok(review_json(forge, _review(rc, pull, review_id), _html(rc, issue)))


@router.post(BASE + "/reviews/{review_id}/dismissals")
def dismiss_review(
    owner: str, repo: str, index: str, review_id: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    return _dismissal(request, caller, owner, repo, index, review_id, True)


@router.post(BASE + "/reviews/{review_id}/undismissals")
def undismiss_review(
    owner: str, repo: str, index: str, review_id: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    return _dismissal(request, caller, owner, repo, index, review_id, False)


def _requests(request: Request, caller: Caller, owner: str, repo: str, index: str, body: Body, add: bool) -> Response:
    forge = forge_of(request)
    user = require_user(caller)
    rc = load_repo(forge, caller, owner, repo, need=READ)
    pull, issue = get_pull(rc, index)
    if not rc.can_write() and issue["poster_id"] != user["id"]:
        raise forbidden("user should have a permission to write to a repo")
    reviewers = []
    for name in list[str](body.str_list("reviewers") or []):
        target = user_by_name(forge, name, orgs=False)
        if target is None:
            raise unprocessable(f"user does not exist [uid: 0, name: {name}]")
        if add and (target["id"] == issue["poster_id"] or access_mode(forge, target, rc.repo) < READ):
            raise unprocessable(f"poster of pr can't be reviewer [user: {name}]")
        reviewers.append(target)
    rows = []
    with forge.db.tx():
        now = forge.now()
        rule = rule_for(forge, rc.id, pull["base_branch"])
        for target in reviewers:
            forge.db.run(
                "DELETE FROM reviews WHERE pull_id = ? AND reviewer_id = ? AND state = 'REQUEST_REVIEW'",
                (pull["id"], target["id"]),
            )
            if add:
                official = is_official(rule, target, access_mode(forge, target, rc.repo))
                review_id = forge.db.run(
                    "INSERT INTO reviews (pull_id, reviewer_id, state, commit_id, official, created, updated) "
                    "VALUES (?, ?, 'REQUEST_REVIEW', ?, ?, ?, ?)",
                    (pull["id"], target["id"], pull["head_sha"], int(official), now, now),
                )
                rows.append(_review(rc, pull, str(review_id)))
    action = "review_requested" if add else "review_request_removed"
    for _ in reviewers:
        fire_pull(forge, rc.repo, pull, issue, action, user, kind="review_request")
    if not add:
        return no_content()
    return created([review_json(forge, r, _html(rc, issue)) for r in rows])


@router.post(BASE + "/requested_reviewers")
def request_reviewers(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    return _requests(request, caller, owner, repo, index, body, add=True)


@router.delete(BASE + "/requested_reviewers")
def unrequest_reviewers(
    owner: str,
    repo: str,
    index: str,
    request: Request,
    caller: Caller = Depends(caller_of),
    body: Body = Depends(json_body),
) -> Response:
    return _requests(request, caller, owner, repo, index, body, add=False)
