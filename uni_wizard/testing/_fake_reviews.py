"""``FakeForge``'s reviews (bound to a commit; GITEA_FACTS §3.6, §4) and commit statuses (§3.9)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import Forbidden, ForgeError, NotFound, ServerError, Unprocessable
from ..forge.models import CombinedStatus, CommitStatus, Review
from ..forge.pulls import ReviewEvent, StatusState
from ._fake_models import review_model, status_model
from ._fake_state import FakeSession, FRepo, FReview, FStatus, api

__all__ = ["FakeReviews", "combined_state", "latest_statuses"]

STATES = ("pending", "success", "error", "failure", "warning", "skipped")


def combined_state(states: Sequence[str]) -> str:
    """Gitea's combination: any error/failure/warning → failure; all success/skipped → success; else pending."""
    if any(s in ("error", "failure", "warning") for s in states):
        return "failure"
    return "success" if states and all(s in ("success", "skipped") for s in states) else "pending"


def latest_statuses(repo: FRepo, sha: str) -> list[FStatus]:
    """The newest status of each context of ``sha``, by context."""
    latest: dict[str, FStatus] = {}
    for status in repo.statuses:
        if status.sha == sha:
            latest[status.context] = status
    return [latest[context] for context in sorted(latest)]


class FakeReviews(FakeSession):
    """Review and commit-status operations of ``FakeForge``, with ``GiteaClient``'s signatures."""

    # Reviews --------------------------------------------------------------------------------------

    @api
    async def list_reviews(self, owner: str, repo: str, index: int) -> list[Review]:
        found = self._repo(owner, repo)
        return [review_model(self._state, r) for r in self._pull(found, index)[1].reviews]

    @api
    async def create_review(
        self, owner: str, repo: str, index: int, event: ReviewEvent, body: str = "", *, commit_id: str | None = None
    ) -> Review:
        """Bound to ``commit_id`` (default: the head); an older commit makes it stale at once."""
        found = self._repo(owner, repo, "POST")
        issue, pull = self._pull(found, index, "POST")
        path = f"/repos/{found.full_name}/pulls/{index}/reviews"
        login = self._caller().login
        state = self._review_state(event, body, issue.poster == login, path)
        if state != "PENDING" and (issue.state != "open" or pull.merged):
            raise self._error(Unprocessable, "POST", path, "can't submit review for a closed or merged PR")
        rule = found.rule_for(pull.base_ref)
        listed = (
            rule is None
            or not rule.enable_approvals_whitelist
            or login.lower() in (name.lower() for name in rule.approvals_whitelist_username)
        )  # official: on the approvals whitelist when the rule has one; otherwise any writer (every user here)
        official = state in ("APPROVED", "REQUEST_CHANGES") and listed
        for older in pull.reviews:
            if official and older.reviewer == login and older.state in ("APPROVED", "REQUEST_CHANGES"):
                older.official = False
        sha = commit_id or pull.head_sha
        review = FReview(self._state.next_id("review"), login, state, body, sha, official, stale=sha != pull.head_sha)
        pull.reviews.append(review)
        if state != "PENDING":
            issue.updated = self._state.now()
        self.record(f"{found.full_name}!{index}:review:{state}:{sha[:12]}")
        return review_model(self._state, review)

    def _review_state(self, event: str, body: str, is_poster: bool, path: str) -> str:
        state = event.strip().upper()
        state = state if state in ("APPROVED", "REQUEST_CHANGES", "COMMENT") else "PENDING"
        refusal = {
            "APPROVED": "approve your own pull is not allowed" if is_poster else None,
            "REQUEST_CHANGES": "reject your own pull is not allowed" if is_poster else (
                None if body.strip() else "review event REQUEST_CHANGES requires a body"),
            "COMMENT": None if body.strip() else "review event COMMENT requires a body or a comment",
        }.get(state)  # fmt: skip
        if refusal is not None:
            raise self._error(Unprocessable, "POST", path, refusal)
        return state

    @api
    async def dismiss_review(self, owner: str, repo: str, index: int, review_id: int, message: str) -> Review:
        found = self._repo(owner, repo, "POST")
        path = f"/repos/{found.full_name}/pulls/{index}/reviews/{review_id}/dismissals"
        if not self._is_admin(found):
            raise self._error(Forbidden, "POST", path, "Must be repo admin")
        issue, pull = self._pull(found, index, "POST")
        review = next((r for r in pull.reviews if r.id == review_id), None)
        if review is None:
            raise self._error(NotFound, "POST", path, "not found")
        if review.state not in ("APPROVED", "REQUEST_CHANGES"):
            message = "not need to dismiss this review because it's type is not Approve or change request"
            raise self._error(Unprocessable, "POST", path, message)
        if issue.state != "open":
            raise self._error(Unprocessable, "POST", path, "not need to dismiss this review because the pr is closed")
        review.dismissed = True
        self.record(f"{found.full_name}!{index}:dismiss-review:{review.reviewer}")
        return review_model(self._state, review)

    # Commit statuses ------------------------------------------------------------------------------

    @api
    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        *,
        description: str = "",
        target_url: str = "",
    ) -> CommitStatus:
        """On a commit the repository has (a sha, a unique prefix, a branch); an unknown one is a 500, as in Gitea."""
        found = self._repo(owner, repo, "POST")
        path = f"/repos/{found.full_name}/statuses/{sha}"
        if state not in STATES:
            raise self._error(ForgeError, "POST", path, f"invalid commit status state: {state!r}", status=400)
        commit = found.resolve(sha) if len(sha) >= 4 else None
        if commit is None:
            raise self._error(ServerError, "POST", path, "")
        status = FStatus(self._state.next_id("status"), commit, context or "default", state, description, target_url)
        found.statuses.append(status)
        self.record(f"{found.full_name}@{commit[:12]}:status:{status.context}={state}")
        return status_model(status)

    @api
    async def list_statuses(self, owner: str, repo: str, sha: str) -> list[CommitStatus]:
        found = self._repo(owner, repo)
        commit = found.resolve(sha) or sha
        return [status_model(s) for s in sorted(found.statuses, key=lambda s: s.id, reverse=True) if s.sha == commit]

    @api
    async def combined_status(self, owner: str, repo: str, ref: str) -> CombinedStatus:
        found = self._repo(owner, repo)
        sha = found.resolve(ref)
        if sha is None:
            raise self._error(NotFound, "GET", f"/repos/{found.full_name}/commits/{ref}/status", "not found")
        latest = latest_statuses(found, sha)
        data: dict[str, Any] = {"state": combined_state([s.state for s in latest]), "sha": sha,
                                "total_count": len(latest), "statuses": [status_model(s) for s in latest]}  # fmt: skip
        return CombinedStatus.model_validate(data)
