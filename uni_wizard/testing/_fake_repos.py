"""``FakeForge``'s repositories, branches, file contents (the lease primitive) and branch protection.

Contents writes are compare-and-swap on the git blob sha, as Gitea's (GITEA_FACTS §3.8): a stale ``sha`` is
``ShaMismatch`` (422 "sha does not match [given: X, expected: Y]"), a create over an existing file
``FileExists`` (422 "repository file already exists [path: P]"), a missing file or branch ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Conflict, FileExists, Forbidden, ForgeError, NotFound, ShaMismatch, Unprocessable
from ..forge.models import Branch, BranchProtection, FileChange, FileContent, Repository
from ._fake_models import branch_model, repo_model
from ._fake_pulls import move_branch
from ._fake_state import FakeSession, FRepo, FRule, api, blob_sha

__all__ = ["FakeRepos", "last_commit"]

_WRITE_VERBS = {"create": "Add", "update": "Update", "delete": "Delete"}


def last_commit(repo: FRepo, sha: str, path: str) -> str:
    """The newest commit (following first parents from ``sha``) that changed ``path``."""
    commit = repo.commits[sha]
    while commit.parents and repo.commits[commit.parents[0]].tree.get(path) == commit.tree.get(path):
        commit = repo.commits[commit.parents[0]]
    return commit.sha


class FakeRepos(FakeSession):
    """Repository operations of ``FakeForge``, with ``GiteaClient``'s signatures."""

    @api
    async def get_repo(self, owner: str, repo: str) -> Repository:
        found = self._repo(owner, repo)
        return repo_model(self._state, found, admin=self._is_admin(found))

    # Branches -------------------------------------------------------------------------------------

    @api
    async def list_branches(self, owner: str, repo: str) -> list[Branch]:
        found = self._repo(owner, repo)
        self._not_empty(found, "GET", "/branches")
        return [branch_model(found, name) for name in sorted(found.branches)]

    @api
    async def get_branch(self, owner: str, repo: str, branch: str) -> Branch:
        found = self._repo(owner, repo)
        self._not_empty(found, "GET", f"/branches/{branch}")
        if branch not in found.branches:
            raise self._error(NotFound, "GET", f"/repos/{found.full_name}/branches/{branch}", "not found")
        return branch_model(found, branch)

    @api
    async def create_branch(self, owner: str, repo: str, new: str, old_ref: str) -> Branch:
        found = self._repo(owner, repo, "POST")
        path = f"/repos/{found.full_name}/branches"
        self._not_empty(found, "POST", "/branches")
        sha = found.resolve(old_ref or found.default_branch)
        if sha is None:
            raise self._error(NotFound, "POST", path, "The old branch does not exist")
        if new in found.branches:
            raise self._error(Conflict, "POST", path, "The branch with the same name already exists.")
        move_branch(self._state, found, new, sha)
        self.record(f"{found.full_name}@{new}:create-branch:{old_ref}")
        return branch_model(found, new)

    @api
    async def delete_branch(self, owner: str, repo: str, branch: str) -> None:
        found = self._repo(owner, repo, "DELETE")
        path = f"/repos/{found.full_name}/branches/{branch}"
        self._not_empty(found, "DELETE", f"/branches/{branch}")
        if branch not in found.branches:
            raise self._error(NotFound, "DELETE", path, "Branch doesn't exists.")
        targets = {i.pull.base_ref for i in found.issues.values() if i.pull is not None and i.state == "open"}
        if branch == found.default_branch or branch in targets:
            raise self._error(Forbidden, "DELETE", path, "can not delete default or pull request target branch")
        if found.rule_for(branch) is not None:
            raise self._error(Forbidden, "DELETE", path, "branch protected")
        del found.branches[branch]
        self.record(f"{found.full_name}@{branch}:delete-branch")

    def _not_empty(self, repo: FRepo, method: str, route: str) -> None:
        if not repo.branches:
            raise self._error(NotFound, method, f"/repos/{repo.full_name}{route}", "Git Repository is empty.")

    # Contents (the lease primitive) ---------------------------------------------------------------

    @api
    async def get_contents(self, owner: str, repo: str, path: str, *, ref: str | None = None) -> FileContent:
        found = self._repo(owner, repo)
        wanted = ref or found.default_branch
        sha = found.resolve(wanted)
        if sha is None:
            route = f"/repos/{found.full_name}/contents/{path}"
            raise self._error(NotFound, "GET", route, f"object does not exist [id: {wanted}, rel_path: ]")
        clean, tree = path.strip("/"), found.commits[sha].tree
        if clean in tree:
            data = tree[clean]
            return FileContent(path=clean, sha=blob_sha(data), size=len(data), content=data,
                               last_commit_sha=last_commit(found, sha, clean))  # fmt: skip
        if not clean or any(name.startswith(clean + "/") for name in tree):
            raise ForgeError(f"forge contents {path!r}: a directory, not a file", status=200)
        route = f"/repos/{found.full_name}/contents/{path}"
        raise self._error(NotFound, "GET", route, f"object does not exist [id: , rel_path: {clean}]")

    @api
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
        """``FileExists`` when the file is there already (for a lease: someone else holds it)."""
        return self._write(owner, repo, "POST", path, content, "", message, (branch, new_branch))

    @api
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
        """Compare-and-swap: ``ShaMismatch`` when the file's blob is no longer ``sha``."""
        return self._write(owner, repo, "PUT", path, content, sha, message, (branch, None))

    @api
    async def delete_file(
        self, owner: str, repo: str, path: str, sha: str, message: str, *, branch: str | None = None
    ) -> FileChange:
        return self._write(owner, repo, "DELETE", path, None, sha, message, (branch, None))

    def _write(
        self, owner: str, repo: str, method: str, path: str, content: bytes | None, sha: str, message: str,
        branches: tuple[str | None, str | None],
    ) -> FileChange:  # fmt: skip
        """One contents write, checked in the devforge's order, then committed; what Gitea answers."""
        found = self._repo(owner, repo, method)
        route = f"/repos/{found.full_name}/contents/{path}"
        clean = self._clean(path, method, route)
        operation = "delete" if content is None else ("update" if sha else "create")
        branch = branches[0] or found.default_branch
        target = branches[1] or branch
        parent = self._parent(found, branch, target, method, route)
        tree = dict(found.commits[parent].tree) if parent else {}
        self._check_file(tree, clean, operation, sha, method, route)
        if content is None:
            del tree[clean]
        else:
            tree[clean] = content
        words = message or f"{_WRITE_VERBS[operation]} {clean}"
        commit = self._state.commit(found, (parent,) if parent else (), tree, words)
        move_branch(self._state, found, target, commit)
        self.record(f"{found.full_name}@{target}:{operation}-file:{clean}")
        return FileChange(path=clean if content is not None else "",
                          sha=blob_sha(content) if content is not None else None, commit_sha=commit)  # fmt: skip

    def _clean(self, path: str, method: str, route: str) -> str:
        parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or any(p in ("..", ".git") for p in parts):
            raise self._error(Unprocessable, method, route, f"path contains a malformed path component [path: {path}]")
        return "/".join(parts)

    def _parent(self, repo: FRepo, branch: str, target: str, method: str, route: str) -> str | None:
        """The commit the write builds on (None in an empty repository), after Gitea's branch checks."""
        if not repo.branches:
            return None
        parent = repo.branches.get(branch)
        if parent is None:
            message = f"branch does not exist [repo_id: {repo.id} name: {branch}]"
            raise self._error(NotFound, method, route, message)
        if target != branch and target in repo.branches:
            raise self._error(Unprocessable, method, route, f"branch already exists [name: {target}]")
        rule = repo.rule_for(target)
        if rule is not None and not rule.enable_push:
            raise self._error(Forbidden, method, route, f"Not allowed to push to protected branch {target}")
        return parent

    def _check_file(self, tree: dict[str, bytes], path: str, operation: str, sha: str, method: str, route: str) -> None:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in tree:
                message = f"a file exists where you're trying to create a subdirectory [path: {prefix}]"
                raise self._error(Unprocessable, method, route, message)
        if any(name.startswith(path + "/") for name in tree):
            message = f"a directory exists where you're trying to create a file [path: {path}]"
            raise self._error(Unprocessable, method, route, message)
        if operation == "create":
            if path in tree:
                raise self._error(FileExists, method, route, f"repository file already exists [path: {path}]")
            return
        if path not in tree:
            raise self._error(NotFound, method, route, f"object does not exist [id: , rel_path: {path}]")
        if sha != blob_sha(tree[path]):
            message = f"sha does not match [given: {sha}, expected: {blob_sha(tree[path])}]"
            raise self._error(ShaMismatch, method, route, message)

    # Branch protection ----------------------------------------------------------------------------

    @api
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
        """A rule for the merge gates and contents writes. Read by the fake: approvals (and their whitelist),
        requested changes, outdated branch, stale approvals, status checks and ``enable_push`` (all or nobody);
        the other fields are accepted and ignored."""
        found = self._repo(owner, repo, "POST")
        path = f"/repos/{found.full_name}/branch_protections"
        if not self._is_admin(found):
            raise self._error(Forbidden, "POST", path, "user should be an owner or a site admin")
        if any(rule.name == rule_name for rule in found.rules):
            raise self._error(Forbidden, "POST", path, "Branch protection already exist")
        if not any(c in rule_name for c in "*?[") and rule_name not in found.branches:
            raise self._error(NotFound, "POST", path, "Branch does not exist")
        whitelist = tuple(approvals_whitelist_username)
        rule = FRule(rule_name, required_approvals, enable_approvals_whitelist, whitelist, block_on_rejected_reviews,
                     block_on_outdated_branch, dismiss_stale_approvals, ignore_stale_approvals, enable_status_check,
                     tuple(status_check_contexts), enable_push)  # fmt: skip
        found.rules.append(rule)
        self.record(f"{found.full_name}:protect:{rule_name}")
        return BranchProtection(
            rule_name=rule_name, required_approvals=required_approvals,
            enable_approvals_whitelist=enable_approvals_whitelist,
            approvals_whitelist_username=list(approvals_whitelist_username),
            block_on_rejected_reviews=block_on_rejected_reviews, block_on_outdated_branch=block_on_outdated_branch,
            dismiss_stale_approvals=dismiss_stale_approvals, ignore_stale_approvals=ignore_stale_approvals,
            enable_status_check=enable_status_check, status_check_contexts=list(status_check_contexts),
            enable_push=enable_push,
        )  # fmt: skip
