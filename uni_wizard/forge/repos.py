"""Repositories, branches, file contents, webhooks and branch protection (GITEA_FACTS §3.1, §3.7-§3.11)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import ForgeError
from .http import ForgeSession
from .models import Branch, BranchProtection, FileChange, FileContent, Hook, Organization, Repository, User

__all__ = ["MESH_EVENTS", "ReposAPI"]

_REPO = "/repos/{owner}/{repo}"
_CONTENTS = _REPO + "/contents/{filepath}"

MESH_EVENTS = ("issues", "issue_comment", "pull_request", "pull_request_review", "status", "push")
"""The webhook events the mesh subscribes to (an empty list would mean ``push`` only)."""


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


class ReposAPI(ForgeSession):
    """Repository operations of ``GiteaClient``."""

    async def create_repo(
        self,
        name: str,
        *,
        org: str | None = None,
        description: str = "",
        private: bool = False,
        auto_init: bool = False,
        default_branch: str = "main",
    ) -> Repository:
        """Create a repository for the account (or in ``org``). Without ``auto_init`` it is
        ``empty`` and has no branches until the contents API makes the first commit."""
        payload = {
            "name": name,
            "description": description,
            "private": private,
            "auto_init": auto_init,
            "default_branch": default_branch,
        }
        if org is None:
            data = await self._json("POST", "/user/repos", json=payload)
        else:
            data = await self._json("POST", "/orgs/{org}/repos", path={"org": org}, json=payload)
        return Repository.model_validate(data)

    async def create_org(
        self, name: str, *, full_name: str = "", visibility: Literal["public", "limited", "private"] = "public"
    ) -> Organization:
        payload = {"username": name, "full_name": full_name, "visibility": visibility}
        return Organization.model_validate(await self._json("POST", "/orgs", json=payload))

    async def get_repo(self, owner: str, repo: str) -> Repository:
        return Repository.model_validate(await self._json("GET", _REPO, path={"owner": owner, "repo": repo}))

    async def add_collaborator(
        self, owner: str, repo: str, username: str, permission: Literal["read", "write", "admin"] = "write"
    ) -> None:
        path = {"owner": owner, "repo": repo, "collaborator": username}
        await self._request("PUT", _REPO + "/collaborators/{collaborator}", path=path, json={"permission": permission})

    async def list_collaborators(self, owner: str, repo: str) -> list[User]:
        """The repository's collaborators (not its owner, nor the organisation's members)."""
        raw = await self._list(_REPO + "/collaborators", path={"owner": owner, "repo": repo})
        return [User.model_validate(item) for item in raw]

    # Branches -------------------------------------------------------------------------------------

    async def list_branches(self, owner: str, repo: str) -> list[Branch]:
        raw = await self._list(_REPO + "/branches", path={"owner": owner, "repo": repo})
        return [Branch.model_validate(item) for item in raw]

    async def get_branch(self, owner: str, repo: str, branch: str) -> Branch:
        path = {"owner": owner, "repo": repo, "branch": branch}
        return Branch.model_validate(await self._json("GET", _REPO + "/branches/{branch}", path=path))

    async def create_branch(self, owner: str, repo: str, new: str, old_ref: str) -> Branch:
        """Create branch ``new`` at ``old_ref`` (a branch, tag or sha). 409 if it exists."""
        payload = {"new_branch_name": new, "old_ref_name": old_ref}
        data = await self._json("POST", _REPO + "/branches", path={"owner": owner, "repo": repo}, json=payload)
        return Branch.model_validate(data)

    async def delete_branch(self, owner: str, repo: str, branch: str) -> None:
        """Delete a branch; 403 for the default branch, a PR target or a protected branch."""
        await self._request(
            "DELETE", _REPO + "/branches/{branch}", path={"owner": owner, "repo": repo, "branch": branch}
        )

    # Contents (the lease primitive) ---------------------------------------------------------------

    async def get_contents(self, owner: str, repo: str, path: str, *, ref: str | None = None) -> FileContent:
        """One file with its blob ``sha`` (to send back with ``update_file``) and decoded content."""
        params = {"ref": ref} if ref else None
        data = await self._json("GET", _CONTENTS, path={"owner": owner, "repo": repo, "filepath": path}, params=params)
        if not isinstance(data, dict):
            raise ForgeError(f"forge contents {path!r}: a directory, not a file", status=200)
        return FileContent.model_validate(data)

    async def create_file(
        self,
        owner: str,
        repo: str,
        path: str,
        content: bytes,
        message: str,
        *,
        branch: str | None = None,
        new_branch: str | None = None,
    ) -> FileChange:
        """Create a file with POST (1.23-compatible). ``FileExists`` (422) if it is there already:
        for a lease, that means someone else holds it."""
        payload: dict[str, Any] = {"content": _b64(content), "message": message}
        if branch:
            payload["branch"] = branch
        if new_branch:
            payload["new_branch"] = new_branch
        data = await self._json("POST", _CONTENTS, path={"owner": owner, "repo": repo, "filepath": path}, json=payload)
        return FileChange.model_validate(data)

    async def update_file(
        self,
        owner: str,
        repo: str,
        path: str,
        content: bytes,
        sha: str,
        message: str,
        *,
        branch: str | None = None,
    ) -> FileChange:
        """Replace a file if its blob is still ``sha`` (compare-and-swap). ``ShaMismatch`` (422)
        means it changed since it was read: re-read, then decide. Never retried."""
        payload: dict[str, Any] = {"content": _b64(content), "sha": sha, "message": message}
        if branch:
            payload["branch"] = branch
        data = await self._json("PUT", _CONTENTS, path={"owner": owner, "repo": repo, "filepath": path}, json=payload)
        return FileChange.model_validate(data)

    async def delete_file(
        self, owner: str, repo: str, path: str, sha: str, message: str, *, branch: str | None = None
    ) -> FileChange:
        """Delete a file if its blob is still ``sha``; the change has ``sha=None``."""
        payload: dict[str, Any] = {"sha": sha, "message": message}
        if branch:
            payload["branch"] = branch
        data = await self._json(
            "DELETE", _CONTENTS, path={"owner": owner, "repo": repo, "filepath": path}, json=payload
        )
        return FileChange.model_validate(data or {})

    # Webhooks -------------------------------------------------------------------------------------

    async def list_hooks(self, owner: str, repo: str) -> list[Hook]:
        raw = await self._list(_REPO + "/hooks", path={"owner": owner, "repo": repo})
        return [Hook.model_validate(item) for item in raw]

    async def create_hook(
        self,
        owner: str,
        repo: str,
        url: str,
        secret: str,
        *,
        events: Sequence[str] = MESH_EVENTS,
        active: bool = True,
        content_type: Literal["json", "form"] = "json",
        branch_filter: str | None = None,
    ) -> Hook:
        """Add a Gitea webhook posting to ``url``, signed with ``secret`` (never echoed back).
        ``active`` is sent explicitly: Gitea's default is false."""
        payload: dict[str, Any] = {
            "type": "gitea",
            "config": {"url": url, "content_type": content_type, "secret": secret},
            "events": list(events),
            "active": active,
        }
        if branch_filter:
            payload["branch_filter"] = branch_filter
        data = await self._json("POST", _REPO + "/hooks", path={"owner": owner, "repo": repo}, json=payload)
        return Hook.model_validate(data)

    async def delete_hook(self, owner: str, repo: str, hook_id: int) -> None:
        await self._request("DELETE", _REPO + "/hooks/{id}", path={"owner": owner, "repo": repo, "id": hook_id})

    # Branch protection ----------------------------------------------------------------------------

    async def list_branch_protections(self, owner: str, repo: str) -> list[BranchProtection]:
        data = await self._json("GET", _REPO + "/branch_protections", path={"owner": owner, "repo": repo})
        return [BranchProtection.model_validate(item) for item in data or []]

    async def create_branch_protection(
        self,
        owner: str,
        repo: str,
        rule_name: str,
        *,
        required_approvals: int = 0,
        enable_approvals_whitelist: bool = False,
        approvals_whitelist_username: Sequence[str] = (),
        approvals_whitelist_teams: Sequence[str] = (),
        block_on_rejected_reviews: bool = False,
        block_on_official_review_requests: bool = False,
        block_on_outdated_branch: bool = False,
        dismiss_stale_approvals: bool = False,
        ignore_stale_approvals: bool = False,
        enable_status_check: bool = False,
        status_check_contexts: Sequence[str] = (),
        enable_push: bool = False,
        enable_push_whitelist: bool = False,
        push_whitelist_usernames: Sequence[str] = (),
        enable_merge_whitelist: bool = False,
        merge_whitelist_usernames: Sequence[str] = (),
        protected_file_patterns: str = "",
        unprotected_file_patterns: str = "",
        require_signed_commits: bool = False,
        block_admin_merge_override: bool = False,
        priority: int | None = None,
    ) -> BranchProtection:
        """Protect the branches matching ``rule_name`` (a glob); the fields of Gitea's
        ``CreateBranchProtectionOption`` (1.23 subset), with Gitea's defaults."""
        payload: dict[str, Any] = {
            "rule_name": rule_name,
            "required_approvals": required_approvals,
            "enable_approvals_whitelist": enable_approvals_whitelist,
            "approvals_whitelist_username": list(approvals_whitelist_username),
            "approvals_whitelist_teams": list(approvals_whitelist_teams),
            "block_on_rejected_reviews": block_on_rejected_reviews,
            "block_on_official_review_requests": block_on_official_review_requests,
            "block_on_outdated_branch": block_on_outdated_branch,
            "dismiss_stale_approvals": dismiss_stale_approvals,
            "ignore_stale_approvals": ignore_stale_approvals,
            "enable_status_check": enable_status_check,
            "status_check_contexts": list(status_check_contexts),
            "enable_push": enable_push,
            "enable_push_whitelist": enable_push_whitelist,
            "push_whitelist_usernames": list(push_whitelist_usernames),
            "enable_merge_whitelist": enable_merge_whitelist,
            "merge_whitelist_usernames": list(merge_whitelist_usernames),
            "protected_file_patterns": protected_file_patterns,
            "unprotected_file_patterns": unprotected_file_patterns,
            "require_signed_commits": require_signed_commits,
            "block_admin_merge_override": block_admin_merge_override,
        }
        if priority is not None:
            payload["priority"] = priority
        data = await self._json(
            "POST", _REPO + "/branch_protections", path={"owner": owner, "repo": repo}, json=payload
        )
        return BranchProtection.model_validate(data)
