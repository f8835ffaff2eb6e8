"""``FakeForge``'s seeding helpers: the world a test starts from. They write no ``calls`` (the code under test
does), and repositories are named ``"owner/name"``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..forge.models import Comment, Issue, Label, PullRequest, Repository, User
from ._fake_issues import new_issue
from ._fake_models import comment_model, issue_model, label_model, pull_model, repo_model
from ._fake_pulls import move_branch
from ._fake_state import FakeSession, FComment, FLabel, FPull, FRepo, FRule, FUser

__all__ = ["FakeSeeding", "Files"]

Files = Mapping[str, bytes | str | None]
"""Files of a commit: path -> content (``str`` is UTF-8; None deletes the file)."""


class FakeSeeding(FakeSession):
    """``add_user``, ``add_repo``, ``add_label``, ``add_issue``, ``add_comment``, ``add_pull``, ``push``,
    ``protect`` and ``hold``."""

    def add_user(
        self, login: str, *, token: str | None = None, admin: bool = False, full_name: str = "", email: str = ""
    ) -> User:
        """A forge account (every account may write every repository); ``token`` logs in as it (``with_token``).
        An account that exists already is kept (``admin=True`` makes it a site admin)."""
        user = self._state.user(login)
        if user is None:
            user = FUser(self._state.next_id("user"), login, full_name, email or f"{login}@forge.invalid", admin)
            self._state.users[login.lower()] = user
        user.is_admin = user.is_admin or admin
        if token is not None:
            self._state.tokens[token] = user.login
        return User.model_validate(user.json())

    def add_repo(
        self, full_name: str, *, default_branch: str = "main", files: Files | None = None, empty: bool = False,
        private: bool = False, admins: Sequence[str] = (),
    ) -> Repository:  # fmt: skip
        """A repository with one commit of ``files`` (default: a README) on ``default_branch``; ``empty``: no
        commit, no branch. ``admins`` (and the owner, and site admins) may dismiss reviews and protect branches."""
        owner, _, name = full_name.partition("/")
        repo = FRepo(self._state.next_id("repo"), owner, name, default_branch, private, set(admins))
        self._state.repos[full_name.lower()] = repo
        if not empty:
            self.push(full_name, default_branch, files if files is not None else {"README.md": f"# {name}\n"})
        return repo_model(self._state, repo, admin=True)

    def add_label(
        self, full_name: str, name: str, color: str = "ededed", *, exclusive: bool = False, description: str = ""
    ) -> Label:
        """A label (an ``exclusive`` ``scope/value`` one evicts the others of its scope from an issue)."""
        label = FLabel(self._state.next_id("label"), name, color.lstrip("#").lower(), description, exclusive)
        self._seeded(full_name).labels[label.id] = label
        return label_model(label)

    def add_issue(
        self, full_name: str, title: str, body: str = "", *, labels: Sequence[str] = (),
        assignees: Sequence[str] = (), user: str | None = None, state: str = "open",
    ) -> Issue:  # fmt: skip
        """An issue with the next number; ``labels`` are names (a missing one is added, not exclusive),
        ``user`` its author (default: the fake's own user)."""
        repo = self._seeded(full_name)
        issue = new_issue(self._state, repo, title, body, self._poster(user), labels=self._labels(repo, labels),
                          assignees=[self._known(login) for login in assignees])  # fmt: skip
        if state == "closed":
            issue.state, issue.closed = "closed", issue.updated
        return issue_model(self._state, repo, issue)

    def add_comment(self, full_name: str, number: int, body: str, *, user: str | None = None) -> Comment:
        repo = self._seeded(full_name)
        issue = repo.issues[number]
        now = self._state.now()
        comment = FComment(self._state.next_id("comment"), self._poster(user), body, now, now)
        issue.comments.append(comment)
        issue.updated = now
        return comment_model(self._state, repo, issue, comment)

    def add_pull(
        self, full_name: str, title: str, *, head: str, base: str | None = None, body: str = "",
        files: Files | None = None, labels: Sequence[str] = (), user: str | None = None,
    ) -> PullRequest:  # fmt: skip
        """A pull request from ``head`` into ``base`` (default: the default branch). A missing ``head`` is made
        from the base with one commit of ``files`` (default: ``<head>.txt``); given ``files`` on an existing
        head are pushed to it."""
        repo = self._seeded(full_name)
        base = base or repo.default_branch
        if head not in repo.branches or files is not None:
            start = head if head in repo.branches else base
            self.push(full_name, head, files if files is not None else {f"{head}.txt": "a change\n"}, start=start)
        issue = new_issue(self._state, repo, title, body, self._poster(user), labels=self._labels(repo, labels),
                          pull=True)  # fmt: skip
        issue.pull = FPull(self._state.next_id("pull"), head, base, repo.branches[head])
        return pull_model(self._state, repo, issue)

    def push(self, full_name: str, branch: str, files: Files, *, message: str = "", start: str | None = None) -> str:
        """A commit of ``files`` on ``branch`` (made from ``start``, default the default branch, when missing),
        as a ``git push`` would: the PRs whose head it is follow, their older reviews turn stale. Its sha."""
        repo = self._seeded(full_name)
        parent = repo.branches.get(branch) or repo.branches.get(start or repo.default_branch)
        tree = dict(repo.commits[parent].tree) if parent else {}
        for path, content in files.items():
            if content is None:
                tree.pop(path, None)
            else:
                tree[path] = content.encode() if isinstance(content, str) else content
        words = message or f"Update {', '.join(sorted(files))}"
        sha = self._state.commit(repo, (parent,) if parent else (), tree, words)
        move_branch(self._state, repo, branch, sha)
        return sha

    def protect(
        self, full_name: str, branch: str = "main", *, required_approvals: int = 0, status_checks: Sequence[str] = (),
        approvers: Sequence[str] = (), block_on_rejected_reviews: bool = False, dismiss_stale_approvals: bool = False,
        ignore_stale_approvals: bool = False, block_on_outdated_branch: bool = False, enable_push: bool = False,
    ) -> None:  # fmt: skip
        """Protect ``branch``: the merge gates read this rule (``status_checks``: required contexts, globs;
        ``approvers``: the approvals whitelist). Without ``enable_push`` no contents write may go to it."""
        rule = FRule(branch, required_approvals, bool(approvers), tuple(approvers), block_on_rejected_reviews,
                     block_on_outdated_branch, dismiss_stale_approvals, ignore_stale_approvals,
                     bool(status_checks), tuple(status_checks), enable_push)  # fmt: skip
        self._seeded(full_name).rules.append(rule)

    def hold(self, full_name: str, number: int, held: bool = True) -> None:
        """Make PR ``number`` unmergeable (``mergeable: false``, a merge refused with 405 "Please try again
        later"), as while Gitea's conflict check runs or after it found conflicts; ``held=False`` releases it."""
        pull = self._seeded(full_name).issues[number].pull
        assert pull is not None, f"{full_name}#{number} is not a pull request"
        pull.held = held

    def _seeded(self, full_name: str) -> FRepo:
        repo = self._state.repos.get(full_name.lower())
        if repo is None:
            raise LookupError(f"no repository {full_name!r} in the fake forge: add_repo() it first")
        return repo

    def _known(self, login: str) -> str:
        user = self._state.user(login)
        return user.login if user is not None else self.add_user(login).login

    def _poster(self, login: str | None) -> str:
        return self._known(login) if login else self._caller().login

    def _labels(self, repo: FRepo, names: Sequence[str]) -> list[FLabel]:
        chosen = []
        for name in names:
            label = next((x for x in repo.labels.values() if x.name == name), None)
            if label is None:
                label = FLabel(self._state.next_id("label"), name, "ededed")
                repo.labels[label.id] = label
            chosen.append(label)
        return chosen
