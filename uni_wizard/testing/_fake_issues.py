"""``FakeForge``'s issues, assignees and comments (GITEA_FACTS §3.3-§3.4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Literal

from ..errors import NotFound, PreconditionFailed, ServerError, Unprocessable
from ..forge.models import Comment, Issue
from ._fake_labels import set_labels
from ._fake_models import comment_model, issue_model
from ._fake_state import FakeSession, FComment, FIssue, FLabel, ForgeState, FRepo, api, first_line, seconds

__all__ = ["FakeIssues", "new_issue"]


def new_issue(
    state: ForgeState, repo: FRepo, title: str, body: str, poster: str, *, labels: Sequence[FLabel] = (),
    assignees: Sequence[str] = (), pull: bool = False,
) -> FIssue:  # fmt: skip
    """An issue with the repository's next number (shared with pull requests)."""
    now = state.now()
    issue = FIssue(state.next_id("pull-issue" if pull else "issue"), repo.next_number, title, body, poster, now, now)
    repo.next_number += 1
    repo.issues[issue.number] = issue
    set_labels(state, repo, issue, list(labels), replace=True)
    issue.assignees = list(assignees)
    issue.updated = now
    return issue


class FakeIssues(FakeSession):
    """Issue operations of ``FakeForge``, with ``GiteaClient``'s signatures."""

    # Issues ---------------------------------------------------------------------------------------

    @api
    async def list_issues(
        self,
        owner: str,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = "open",
        type: Literal["issues", "pulls"] | None = None,
        labels: Sequence[str] = (),
        since: datetime | None = None,
        before: datetime | None = None,
        assigned_by: str | None = None,
        created_by: str | None = None,
        limit: int | None = None,
    ) -> list[Issue]:
        """Newest first; Gitea's filters (see ``GiteaClient.list_issues``), at most ``limit``."""
        found = self._repo(owner, repo)
        for login in (assigned_by, created_by):
            if login and self._state.user(login) is None:
                path = f"/repos/{found.full_name}/issues"
                raise self._error(NotFound, "GET", path, f"user does not exist [uid: 0, name: {login}]")
        wanted = [label.id for label in found.labels.values() if label.name in labels]
        window = (seconds(since) if since else None, seconds(before) if before else None)
        kept = [
            issue
            for issue in found.issues.values()
            if _in_state(issue, state) and _of_type(issue, type) and all(i in issue.labels for i in wanted)
            and _in_window(issue.updated, window) and _by(issue.assignees, assigned_by)
            and _by([issue.poster], created_by)
        ]  # fmt: skip
        kept.sort(key=lambda x: (x.created, x.id), reverse=True)
        return [issue_model(self._state, found, issue) for issue in _cap(kept, limit)]

    async def iter_issues(
        self,
        owner: str,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = "open",
        type: Literal["issues", "pulls"] | None = None,
        labels: Sequence[str] = (),
        since: datetime | None = None,
        before: datetime | None = None,
        assigned_by: str | None = None,
        created_by: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Issue]:
        found = await self.list_issues(
            owner, repo, state=state, type=type, labels=labels, since=since, before=before,
            assigned_by=assigned_by, created_by=created_by, limit=limit,
        )  # fmt: skip
        for issue in found:
            yield issue

    @api
    async def get_issue(self, owner: str, repo: str, index: int) -> Issue:
        found = self._repo(owner, repo)
        return issue_model(self._state, found, self._issue(found, index))

    @api
    async def create_issue(
        self,
        owner: str,
        repo: str,
        title: str,
        body: str = "",
        *,
        labels: Sequence[int] = (),
        assignees: Sequence[str] = (),
    ) -> Issue:
        found = self._repo(owner, repo, "POST")
        path = f"/repos/{found.full_name}/issues"
        if not title:
            raise self._error(Unprocessable, "POST", path, "[Title]: Required")
        users = self._assignable(assignees, "POST", path)
        chosen = [found.labels[i] for i in dict.fromkeys(labels) if i in found.labels]
        issue = new_issue(self._state, found, title, body, self._caller().login, labels=chosen, assignees=users)
        self.record(f"{found.full_name}#{issue.number}:create:{title}")
        return issue_model(self._state, found, issue)

    @api
    async def edit_issue(
        self,
        owner: str,
        repo: str,
        index: int,
        *,
        state: Literal["open", "closed"] | None = None,
        title: str | None = None,
        body: str | None = None,
        assignees: Sequence[str] | None = None,
    ) -> Issue:
        """Checked first, then applied: a refused edit changes nothing (412 state, 422 title or assignee)."""
        found = self._repo(owner, repo, "PATCH")
        issue = self._issue(found, index, "PATCH")
        path = f"/repos/{found.full_name}/issues/{index}"
        self._check_state(issue, state, path)
        users = None if assignees is None else self._assignable(assignees, "PATCH", path)
        if title is not None and title != issue.title and not title.strip():
            raise self._error(Unprocessable, "PATCH", path, "[Title]: Required")
        now, ref = self._state.now(), f"{found.full_name}#{index}"
        for field, value in (("title", title), ("body", body)):
            if value is not None:
                if value != getattr(issue, field):
                    setattr(issue, field, value)
                    issue.updated = now
                self.record(f"{ref}:{field}:{value if field == 'title' else first_line(value)}")
        if users is not None:
            if users != issue.assignees:
                issue.assignees, issue.updated = users, now
            self.record(f"{ref}:assignees:{','.join(users)}")
        if state is not None:
            if state != issue.state:
                issue.state, issue.closed, issue.updated = state, now if state == "closed" else None, now
            self.record(f"{ref}:{'close' if state == 'closed' else 'reopen'}")
        return issue_model(self._state, found, issue)

    def _check_state(self, issue: FIssue, state: str | None, path: str) -> None:
        if state is None:
            return
        if issue.pull is not None and issue.pull.merged:
            message = "cannot change state of this pull request, it was already merged"
            raise self._error(PreconditionFailed, "PATCH", path, message)
        if state not in ("open", "closed"):
            raise self._error(PreconditionFailed, "PATCH", path, f"unknown state: {state}")

    # Assignees ------------------------------------------------------------------------------------

    @api
    async def add_assignees(self, owner: str, repo: str, index: int, usernames: Sequence[str]) -> Issue:
        found = self._repo(owner, repo, "POST")
        issue = self._issue(found, index, "POST")
        logins = self._assignable(usernames, "POST", f"/repos/{found.full_name}/issues/{index}/assignees")
        added = [login for login in logins if login not in issue.assignees]
        if added:
            issue.assignees, issue.updated = issue.assignees + added, self._state.now()
        self._record_each(f"{found.full_name}#{index}:+assignee:", logins)
        return issue_model(self._state, found, issue)

    @api
    async def remove_assignees(self, owner: str, repo: str, index: int, usernames: Sequence[str]) -> Issue:
        found = self._repo(owner, repo, "DELETE")
        issue = self._issue(found, index, "DELETE")
        logins = [user.login for name in usernames if (user := self._state.user(name)) is not None]
        kept = [login for login in issue.assignees if login not in logins]
        if kept != issue.assignees:
            issue.assignees, issue.updated = kept, self._state.now()
        self._record_each(f"{found.full_name}#{index}:-assignee:", logins)
        return issue_model(self._state, found, issue)

    def _record_each(self, prefix: str, names: Sequence[str]) -> None:
        for name in names:
            self.record(prefix + name)

    # Comments -------------------------------------------------------------------------------------

    @api
    async def list_comments(
        self, owner: str, repo: str, index: int, *, since: datetime | None = None, before: datetime | None = None
    ) -> list[Comment]:
        """Oldest first, not paginated; a missing issue is a 500, as in Gitea (the handler does not check)."""
        found = self._repo(owner, repo)
        issue = self._issue(found, index, cls=ServerError)
        window = (seconds(since) if since else None, seconds(before) if before else None)
        kept = [c for c in issue.comments if _in_window(c.updated, window)]
        return [comment_model(self._state, found, issue, c) for c in sorted(kept, key=lambda c: (c.created, c.id))]

    @api
    async def create_comment(self, owner: str, repo: str, index: int, body: str) -> Comment:
        found = self._repo(owner, repo, "POST")
        issue = self._issue(found, index, "POST")
        if not body:
            raise self._error(Unprocessable, "POST", f"/repos/{found.full_name}/issues/{index}/comments",
                              "[Body]: Required")  # fmt: skip
        now = self._state.now()
        comment = FComment(self._state.next_id("comment"), self._caller().login, body, now, now)
        issue.comments.append(comment)
        issue.updated = now
        self.record(f"{found.full_name}#{index}:comment:{first_line(body)}")
        return comment_model(self._state, found, issue, comment)

    @api
    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> Comment:
        found = self._repo(owner, repo, "PATCH")
        path = f"/repos/{found.full_name}/issues/comments/{comment_id}"
        where = next(((i, c) for i in found.issues.values() for c in i.comments if c.id == comment_id), None)
        if where is None:
            raise self._error(NotFound, "PATCH", path, "not found")
        if not body:
            raise self._error(Unprocessable, "PATCH", path, "[Body]: Required")
        issue, comment = where
        comment.body, comment.updated = body, self._state.now()
        issue.updated = comment.updated
        self.record(f"{found.full_name}#{issue.number}:edit-comment:{first_line(body)}")
        return comment_model(self._state, found, issue, comment)


def _in_state(issue: FIssue, state: str) -> bool:
    return state == "all" or issue.state == (state if state in ("open", "closed") else "open")


def _of_type(issue: FIssue, kind: str | None) -> bool:
    return kind not in ("issues", "pulls") or (kind == "pulls") == (issue.pull is not None)


def _in_window(updated: int, window: tuple[int | None, int | None]) -> bool:
    since, before = window
    return (since is None or updated >= since) and (before is None or updated <= before)


def _by(logins: Sequence[str], wanted: str | None) -> bool:
    return not wanted or wanted.lower() in (login.lower() for login in logins)


def _cap(items: list[FIssue], limit: int | None) -> list[FIssue]:
    return items if limit is None else items[: max(limit, 0)]
