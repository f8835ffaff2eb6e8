"""Pull requests, reviews, merges and commit statuses (GITEA_FACTS §3.5, §3.6, §3.9, §5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ..errors import NotFound
from .http import ForgeSession
from .models import CombinedStatus, CommitStatus, PullRequest, Review

__all__ = ["MergeStyle", "PullsAPI", "ReviewEvent", "StatusState"]

_REPO = "/repos/{owner}/{repo}"
_PULL = _REPO + "/pulls/{index}"

MergeStyle = Literal["merge", "rebase", "rebase-merge", "squash", "fast-forward-only", "manually-merged"]
ReviewEvent = Literal["APPROVED", "REQUEST_CHANGES", "COMMENT"]
StatusState = Literal["pending", "success", "error", "failure", "warning", "skipped"]


class PullsAPI(ForgeSession):
    """Pull-request operations of ``GiteaClient``. A PR's ``index`` is its issue number."""

    async def list_pulls(
        self,
        owner: str,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = "open",
        labels: Sequence[int] = (),
        sort: str | None = None,
        poster: str | None = None,
        limit: int | None = None,
    ) -> list[PullRequest]:
        """Pull requests, newest first, every page followed (at most ``limit``; None: all).

        ``state`` is always sent (Gitea returns every state without it). ``labels`` are
        label *ids* with OR semantics; a PR matching two appears once here (de-duplicated).
        """
        params: dict[str, Any] = {"state": state}
        if labels:
            params["labels"] = [int(label) for label in labels]  # repeated: labels=3&labels=5
        if sort:
            params["sort"] = sort
        if poster:
            params["poster"] = poster
        raw = await self._list(_REPO + "/pulls", path={"owner": owner, "repo": repo}, params=params, limit=limit)
        seen: set[int] = set()
        pulls: list[PullRequest] = []
        for item in raw:
            pull = PullRequest.model_validate(item)
            if pull.id not in seen:
                seen.add(pull.id)
                pulls.append(pull)
        return pulls

    async def get_pull(self, owner: str, repo: str, index: int) -> PullRequest:
        """One PR. ``mergeable`` is false while Gitea's conflict check runs: poll before merging."""
        data = await self._json("GET", _PULL, path={"owner": owner, "repo": repo, "index": index})
        return PullRequest.model_validate(data)

    async def create_pull(
        self,
        owner: str,
        repo: str,
        *,
        head: str,
        base: str,
        title: str,
        body: str = "",
        labels: Sequence[int] = (),
        assignees: Sequence[str] = (),
    ) -> PullRequest:
        """Open a PR from ``head`` (a branch, or ``owner:branch``) into ``base``; ``labels`` are ids.
        409 ``Conflict`` when one exists for these branches; 422 when there is nothing to merge."""
        payload: dict[str, Any] = {"head": head, "base": base, "title": title, "body": body}
        if labels:
            payload["labels"] = list(labels)
        if assignees:
            payload["assignees"] = list(assignees)
        data = await self._json("POST", _REPO + "/pulls", path={"owner": owner, "repo": repo}, json=payload)
        return PullRequest.model_validate(data)

    async def merge_pull(
        self,
        owner: str,
        repo: str,
        index: int,
        *,
        head_commit_id: str,
        style: MergeStyle = "merge",
        title: str | None = None,
        message: str | None = None,
        delete_branch: bool = False,
    ) -> None:
        """Merge a PR if its head is still ``head_commit_id`` (the sha reviewed and tested).

        Sends the 1.23 field names (``"Do"``, ``MergeTitleField``...). Never retried.
        405 ``NotAllowed`` for a merge gate (approvals, checks, "try again later", already
        merged); 409 ``Conflict`` for "head out of date" or a conflict found while merging.
        """
        payload: dict[str, Any] = {
            "Do": style,
            "head_commit_id": head_commit_id,
            "delete_branch_after_merge": delete_branch,
        }
        if title is not None:
            payload["MergeTitleField"] = title
        if message is not None:
            payload["MergeMessageField"] = message
        await self._request("POST", _PULL + "/merge", path={"owner": owner, "repo": repo, "index": index}, json=payload)

    async def is_merged(self, owner: str, repo: str, index: int) -> bool:
        """Whether the PR is merged (Gitea: 204 merged, 404 not)."""
        try:
            await self._request("GET", _PULL + "/merge", path={"owner": owner, "repo": repo, "index": index})
        except NotFound:
            return False
        return True

    async def list_reviews(self, owner: str, repo: str, index: int) -> list[Review]:
        """Every review of a PR (requested reviewers appear as ``REQUEST_REVIEW`` entries)."""
        raw = await self._list(_PULL + "/reviews", path={"owner": owner, "repo": repo, "index": index})
        return [Review.model_validate(item) for item in raw]

    async def create_review(
        self, owner: str, repo: str, index: int, event: ReviewEvent, body: str = "", *, commit_id: str | None = None
    ) -> Review:
        """Submit a review bound to ``commit_id`` (the forge's current head when None).

        REQUEST_CHANGES needs a body; approving one's own PR is refused (422). Gitea answers 200.
        """
        payload: dict[str, Any] = {"event": event, "body": body}
        if commit_id:
            payload["commit_id"] = commit_id
        data = await self._json(
            "POST", _PULL + "/reviews", path={"owner": owner, "repo": repo, "index": index}, json=payload
        )
        return Review.model_validate(data)

    async def dismiss_review(self, owner: str, repo: str, index: int, review_id: int, message: str) -> Review:
        """Dismiss a review (repository admins only): a dismissed approval no longer counts and dismissed
        requested changes no longer block. 422 for a review that is neither approval nor requested changes."""
        data = await self._json(
            "POST",
            _PULL + "/reviews/{review_id}/dismissals",
            path={"owner": owner, "repo": repo, "index": index, "review_id": review_id},
            json={"message": message, "priors": False},
        )
        return Review.model_validate(data)

    # Commit statuses ------------------------------------------------------------------------------

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
        payload = {"state": state, "context": context, "description": description, "target_url": target_url}
        data = await self._json(
            "POST", _REPO + "/statuses/{sha}", path={"owner": owner, "repo": repo, "sha": sha}, json=payload
        )
        return CommitStatus.model_validate(data)

    async def list_statuses(self, owner: str, repo: str, sha: str) -> list[CommitStatus]:
        """Every status of a commit, history included (newest first)."""
        raw = await self._list(_REPO + "/statuses/{sha}", path={"owner": owner, "repo": repo, "sha": sha})
        return [CommitStatus.model_validate(item) for item in raw]

    async def combined_status(self, owner: str, repo: str, ref: str) -> CombinedStatus:
        """The latest status per context of ``ref`` (branch, tag or sha) and their combined ``state``."""
        data = await self._json("GET", _REPO + "/commits/{ref}/status", path={"owner": owner, "repo": repo, "ref": ref})
        return CombinedStatus.model_validate(data)
