"""``FakeForge``'s pull requests and merges (GITEA_FACTS §3.5, §4, §5).

The merge gates run in the devforge's order: closed → 404; merged, work in progress, held ("Please try again
later"), status checks, approvals, requested changes, outdated branch, merge style → 405; ``head_commit_id``
not the head → 409 "head out of date".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Literal

from ..errors import Conflict, ForgeError, NotAllowed, NotFound, Unprocessable
from ..forge.models import PullRequest
from ..forge.pulls import MergeStyle
from ._fake_issues import new_issue
from ._fake_models import pull_model
from ._fake_reviews import combined_state, latest_statuses
from ._fake_state import FakeSession, FIssue, ForgeState, FPull, FRepo, api

__all__ = ["FakePulls", "move_branch"]

ALLOWED_STYLES = {"merge": True, "rebase": False, "rebase-merge": False, "squash": True,
                  "fast-forward-only": True, "manually-merged": False}  # fmt: skip  # the devforge's defaults
CLOSING = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b", re.IGNORECASE)
_ORDER: dict[str, tuple[str, bool]] = {"oldest": ("created", False), "recentupdate": ("updated", True),
                                       "leastupdate": ("updated", False), "recentclose": ("closed", True)}  # fmt: skip


def move_branch(state: ForgeState, repo: FRepo, branch: str, sha: str) -> None:
    """Point ``branch`` at ``sha``; the open PRs whose head it is follow, their older reviews turn stale (and
    their approvals are dismissed when the base's rule says ``dismiss_stale_approvals``)."""
    repo.branches[branch] = sha
    for issue in repo.issues.values():
        pull = issue.pull
        if pull is None or pull.merged or issue.state != "open" or pull.head_ref != branch or pull.head_sha == sha:
            continue
        pull.head_sha = sha
        rule = repo.rule_for(pull.base_ref)
        for review in pull.reviews:
            if review.commit_id != sha:
                review.stale = True
                review.dismissed = review.dismissed or bool(
                    rule and rule.dismiss_stale_approvals and review.state == "APPROVED"
                )
        issue.updated = state.now()


def _checks_pass(repo: FRepo, sha: str, contexts: Sequence[str]) -> bool:
    latest = latest_statuses(repo, sha)
    if not contexts:
        return not latest or combined_state([s.state for s in latest]) == "success"
    states = []
    for pattern in contexts:
        matched = [s.state for s in latest if fnmatchcase(s.context, pattern)]
        states.append(combined_state(matched) if matched else "pending")
    return combined_state(states) == "success"


def _merged_tree(repo: FRepo, base: str, head: str) -> dict[str, bytes]:
    """The base's files with the head's changes since their merge base applied (no conflicts in the fake)."""
    todo, seen, fork = [head], set(), ""
    while todo and not fork:
        sha = todo.pop(0)
        if sha in seen or sha not in repo.commits:
            continue
        seen.add(sha)
        fork = sha if repo.is_ancestor(sha, base) else ""
        todo.extend(repo.commits[sha].parents)
    old = repo.commits[fork].tree if fork else {}
    new, tree = repo.commits[head].tree, dict(repo.commits[base].tree)
    for path in set(old) | set(new):
        if old.get(path) != new.get(path):
            if path in new:
                tree[path] = new[path]
            else:
                tree.pop(path, None)
    return tree


class FakePulls(FakeSession):
    """Pull-request operations of ``FakeForge``, with ``GiteaClient``'s signatures."""

    @api
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
        found = self._repo(owner, repo)
        if poster and self._state.user(poster) is None:
            path = f"/repos/{found.full_name}/pulls"
            raise self._error(ForgeError, "GET", path, f"user does not exist [uid: 0, name: {poster}]", status=400)
        kept = [
            issue
            for issue in found.issues.values()
            if issue.pull is not None and state in ("all", issue.state)
            and (not labels or any(i in issue.labels for i in labels))
            and (not poster or issue.poster.lower() == poster.lower())
        ]  # fmt: skip
        field, newest_first = _ORDER.get(sort or "", ("created", True))
        kept.sort(key=lambda x: (getattr(x, field) or 0, x.id), reverse=newest_first)
        kept = kept if limit is None else kept[: max(limit, 0)]
        return [pull_model(self._state, found, issue) for issue in kept]

    @api
    async def get_pull(self, owner: str, repo: str, index: int) -> PullRequest:
        found = self._repo(owner, repo)
        return pull_model(self._state, found, self._pull(found, index)[0])

    @api
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
        found = self._repo(owner, repo, "POST")
        path, head = f"/repos/{found.full_name}/pulls", head.split(":", 1)[-1]
        for field, value in (("Head", head), ("Base", base), ("Title", title)):
            if not value:
                raise self._error(Unprocessable, "POST", path, f"[{field}]: Required")
        missing = next((b for b in (base, head) if b not in found.branches), None)
        if missing is not None:
            raise self._error(Unprocessable, "POST", path, f"branch does not exist [name: {missing}]")
        if head == base:
            raise self._error(Unprocessable, "POST", path, "There are no changes between the head and the base")
        users = self._assignable(assignees, "POST", path)
        self._refuse_duplicate(found, head, base, path)
        chosen = [found.labels[i] for i in dict.fromkeys(labels) if i in found.labels]
        issue = new_issue(self._state, found, title, body, self._caller().login, labels=chosen, assignees=users,
                          pull=True)  # fmt: skip
        issue.pull = FPull(self._state.next_id("pull"), head, base, found.branches[head])
        self.record(f"{found.full_name}!{issue.number}:create:{title}")
        return pull_model(self._state, found, issue)

    def _refuse_duplicate(self, repo: FRepo, head: str, base: str, path: str) -> None:
        for issue in repo.issues.values():
            pull = issue.pull
            if pull is not None and issue.state == "open" and (pull.head_ref, pull.base_ref) == (head, base):
                raise self._error(Conflict, "POST", path,
                    f"pull request already exists for these targets [id: {pull.id}, issue_id: {issue.number}, "
                    f"head_repo_id: {repo.id}, base_repo_id: {repo.id}, head_branch: {head}, base_branch: {base}]",
                )  # fmt: skip

    # Merging --------------------------------------------------------------------------------------

    @api
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
        """Merge if every gate passes (module docstring); recorded as ``merge:<head_commit_id[:12]>``."""
        found = self._repo(owner, repo, "POST")
        issue, pull = self._pull(found, index, "POST")
        path = f"/repos/{found.full_name}/pulls/{index}/merge"
        if style not in ALLOWED_STYLES:
            raise self._error(Unprocessable, "POST", path, "[Do]: In" if style else "[Do]: Required")
        self._check_mergeable(found, issue, pull, style, head_commit_id, path)
        merge_sha = self._do_merge(found, issue, pull, style, (title, message), path)
        now = self._state.now()
        pull.merged, pull.merged_at, pull.merge_commit_sha = True, now, merge_sha
        issue.state, issue.closed, issue.updated = "closed", now, now
        for number in sorted({int(n) for n in CLOSING.findall(f"{issue.title}\n{issue.body}")}):
            target = found.issues.get(number)
            if target is not None and target.pull is None and target.state == "open":
                target.state, target.closed, target.updated = "closed", now, now
        if delete_branch:
            self._delete_head(found, pull)
        suffix = "" if style == "merge" else f":{style}"
        self.record(f"{found.full_name}!{index}:merge:{head_commit_id[:12]}{suffix}")

    def _check_mergeable(
        self, repo: FRepo, issue: FIssue, pull: FPull, style: str, head_commit_id: str, path: str
    ) -> None:
        if issue.state == "closed" and not pull.merged:
            raise self._error(NotFound, "POST", path, "not found")
        refusal = "The PR is already merged" if pull.merged else None
        if refusal is None and style != "manually-merged":
            refusal = self._gates(repo, issue, pull)
        if refusal is None and not ALLOWED_STYLES[style]:
            refusal = f"{style} is not allowed an allowed merge style for this repository"
        if refusal is not None:
            raise self._error(NotAllowed, "POST", path, refusal)
        if head_commit_id and head_commit_id != pull.head_sha:
            raise self._error(Conflict, "POST", path, "head out of date")

    def _gates(self, repo: FRepo, issue: FIssue, pull: FPull) -> str | None:
        """Why the merge is refused with 405 (None: it is not): Gitea's checks, in its order."""
        if issue.title.upper().startswith(("WIP:", "[WIP]")):
            return "Work in progress PRs cannot be merged"
        if pull.held:
            return "Please try again later"
        rule = repo.rule_for(pull.base_ref)
        if rule is None:
            return None
        if rule.enable_status_check and not _checks_pass(repo, pull.head_sha, rule.status_check_contexts):
            return "Not all required status checks successful"
        approvals = [r for r in pull.reviews if r.state == "APPROVED" and r.official and not r.dismissed
                     and not (rule.ignore_stale_approvals and r.stale)]  # fmt: skip
        if len(approvals) < rule.required_approvals:
            return "Does not have enough approvals"
        if rule.block_on_rejected_reviews and any(
            r.state == "REQUEST_CHANGES" and r.official and not r.dismissed for r in pull.reviews
        ):
            return "There are requested changes"
        base = repo.branches.get(pull.base_ref)
        if rule.block_on_outdated_branch and base and not repo.is_ancestor(base, pull.head_sha):
            return "The head branch is behind the base branch"
        return None

    def _do_merge(
        self, repo: FRepo, issue: FIssue, pull: FPull, style: str, text: tuple[str | None, str | None], path: str
    ) -> str:
        base = repo.branches.get(pull.base_ref)
        if base is None:
            raise self._error(NotFound, "POST", path, "not found")
        if style == "fast-forward-only":
            if not repo.is_ancestor(base, pull.head_sha):
                raise self._error(Conflict, "POST", path, "merge is not fast-forward")
            new = pull.head_sha
        else:
            title, message = text
            squash = style == "squash"
            default = (f"{issue.title} (#{issue.number})" if squash else f"Merge pull request '{issue.title}' "
                       f"(#{issue.number}) from {pull.head_ref} into {pull.base_ref}")  # fmt: skip
            words = (title or default) + (f"\n\n{message}" if message else "")
            parents = (base,) if squash else (base, pull.head_sha)
            new = self._state.commit(repo, parents, _merged_tree(repo, base, pull.head_sha), words)
        move_branch(self._state, repo, pull.base_ref, new)
        return new

    def _delete_head(self, repo: FRepo, pull: FPull) -> None:
        branch = pull.head_ref
        if branch == repo.default_branch or repo.rule_for(branch) is not None:
            return
        if any(i.pull is not None and i.state == "open" and branch in (i.pull.head_ref, i.pull.base_ref)
               for i in repo.issues.values()):  # fmt: skip
            return
        repo.branches.pop(branch, None)

    @api
    async def is_merged(self, owner: str, repo: str, index: int) -> bool:
        found = self._repo(owner, repo)
        return self._pull(found, index)[1].merged
