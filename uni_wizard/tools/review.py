"""Review tools: approve a pull request at one commit, and merge it only if its head is still that commit.

Both are in group ``review`` and require a flag of the house's policy (``requires_rule``:
``rules.may_approve``, ``rules.may_merge``): ``decide()`` denies a house without it before the
forge is asked, even where an allow pattern such as ``*`` matches the tool. They talk to the forge
through ``GiteaClient`` as ``gitea.py``'s tools do (``ToolEnv.gitea_url``, the house's token).

A merge the forge refuses for a reason the reviewer acts on is a result, not an error:
``{"merged": false, "status": 405 | 409, "message": ...}`` (405: a merge gate such as missing
approvals or checks; 409: the head moved since ``head_commit_id``, or a conflict found while merging).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ..errors import Conflict, NotAllowed, ToolCallError
from ..reporef import RepoRef
from .env import ToolEnv
from .gitea import _check_number, _forge
from .spec import Risk, tool

__all__ = ["gitea_approve_pr", "gitea_merge_pr"]

_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def _check_sha(value: str, what: str) -> str:
    if not _SHA_RE.fullmatch(value):
        raise ToolCallError(f"{what} must be a full commit sha (40 or 64 lower-case hex digits), not {value!r}")
    return value


@tool(group="review", mutates=True, idempotent=False, risk=Risk.HIGH, requires_rule="may_approve")
async def gitea_approve_pr(env: ToolEnv, repo: str, number: int, commit_id: str, body: str = "") -> dict[str, Any]:
    """Approve a pull request at one commit: an APPROVED review bound to commit_id.

    Args:
        repo: The repository as "owner/name".
        number: The pull request number.
        commit_id: The full sha of the head commit that was reviewed; the approval counts only while it is the head.
        body: The review text (Markdown): what was checked.
    """
    owner, name = RepoRef.parse(repo, error=ToolCallError)
    _check_number(number)
    _check_sha(commit_id, "commit_id")
    async with _forge(env, f"POST review on pull request {number}") as forge:
        review = await forge.create_review(owner, name, number, "APPROVED", body, commit_id=commit_id)
    return {
        "id": review.id,
        "state": review.state,
        "commit_id": review.commit_id,
        "official": review.official,
        "stale": review.stale,
        "user": review.user.login if review.user else None,
    }


@tool(group="review", mutates=True, idempotent=False, risk=Risk.HIGH, timeout=120, requires_rule="may_merge")
async def gitea_merge_pr(
    env: ToolEnv,
    repo: str,
    number: int,
    head_commit_id: str,
    style: Literal["merge", "rebase", "rebase-merge", "squash", "fast-forward-only"] = "merge",
) -> dict[str, Any]:
    """Merge a pull request only if its head is still head_commit_id; a refusal (405, 409) is a result.

    Args:
        repo: The repository as "owner/name".
        number: The pull request number.
        head_commit_id: The full sha that was reviewed, tested and approved; a moved head makes the forge answer 409.
        style: How to merge: "merge", "rebase", "rebase-merge", "squash" or "fast-forward-only".
    """
    owner, name = RepoRef.parse(repo, error=ToolCallError)
    _check_number(number)
    _check_sha(head_commit_id, "head_commit_id")
    async with _forge(env, f"POST merge of pull request {number}") as forge:
        try:
            await forge.merge_pull(owner, name, number, head_commit_id=head_commit_id, style=style)
        except (NotAllowed, Conflict) as exc:
            return {"merged": False, "status": exc.status, "message": exc.message, "head_commit_id": head_commit_id}
        pull = await forge.get_pull(owner, name, number)
    return {
        "merged": True,
        "status": 200,
        "message": "",
        "head_commit_id": head_commit_id,
        "merge_commit_sha": pull.merge_commit_sha,
    }
