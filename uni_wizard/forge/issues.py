"""Labels, issues, issue labels and assignees, and comments (GITEA_FACTS §3.2-§3.4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from ..errors import ToolCallError
from .http import ForgeSession
from .models import Comment, Issue, Label
from .pagination import MAX_LIMIT, paginate

__all__ = ["IssuesAPI", "rfc3339"]

_REPO = "/repos/{owner}/{repo}"
_ISSUE = _REPO + "/issues/{index}"


def rfc3339(moment: datetime) -> str:
    """``moment`` as Gitea's query parameters want it: RFC 3339, whole seconds, UTC (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _color(value: str) -> str:
    """A label colour as Gitea returns it: lower-case ``rrggbb`` without ``#`` (``#rgb`` expanded)."""
    text = value.strip().lstrip("#").lower()
    return "".join(c * 2 for c in text) if len(text) == 3 else text


def _label_refs(labels: Sequence[int] | Sequence[str]) -> list[int] | list[str]:
    """Label ids or label names, never both (Gitea answers 400 to a mix)."""
    items: list[object] = list(labels)
    ids = [x for x in items if isinstance(x, int) and not isinstance(x, bool)]
    names = [x for x in items if isinstance(x, str)]
    if len(ids) == len(items):
        return ids
    if len(names) == len(items):
        return names
    raise ToolCallError("labels must be all ids or all names, not a mix")


class IssuesAPI(ForgeSession):
    """Issue operations of ``GiteaClient``. ``index`` is the per-repository issue (or PR) number."""

    # Labels ---------------------------------------------------------------------------------------

    async def list_labels(self, owner: str, repo: str) -> list[Label]:
        raw = await self._list(_REPO + "/labels", path={"owner": owner, "repo": repo})
        return [Label.model_validate(item) for item in raw]

    async def create_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = "", exclusive: bool = False
    ) -> Label:
        """Create a label. Gitea allows two labels of one name: prefer ``ensure_label``."""
        body = {"name": name, "color": _color(color), "description": description, "exclusive": exclusive}
        data = await self._json("POST", _REPO + "/labels", path={"owner": owner, "repo": repo}, json=body)
        return Label.model_validate(data)

    async def edit_label(self, owner: str, repo: str, label_id: int, **changes: Any) -> Label:
        """Change a label's ``name``, ``color``, ``description``, ``exclusive`` or ``is_archived``."""
        if "color" in changes:
            changes["color"] = _color(str(changes["color"]))
        path = {"owner": owner, "repo": repo, "id": label_id}
        return Label.model_validate(await self._json("PATCH", _REPO + "/labels/{id}", path=path, json=changes))

    async def ensure_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = "", exclusive: bool = False
    ) -> Label:
        """The label called ``name``, created if missing, updated if its colour, description or
        ``exclusive`` differ. Lists first: Gitea does not refuse a second label of the same name."""
        wanted = {"color": _color(color), "description": description, "exclusive": exclusive}
        same = sorted(
            (label for label in await self.list_labels(owner, repo) if label.name == name), key=lambda x: x.id
        )
        if not same:
            return await self.create_label(owner, repo, name, color, description=description, exclusive=exclusive)
        label = same[0]
        current = {"color": _color(label.color), "description": label.description, "exclusive": label.exclusive}
        changes = {key: value for key, value in wanted.items() if current[key] != value}
        return await self.edit_label(owner, repo, label.id, **changes) if changes else label

    # Issues ---------------------------------------------------------------------------------------

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
        """Issues newest first, every page followed (at most ``limit``; None: all).

        ``type=None`` includes pull requests, as Gitea does. ``labels`` are names, all
        required; Gitea silently drops unknown names (all unknown: no filter at all), so
        callers that must be exact check ``Issue.label_names`` too. ``since`` is inclusive:
        see ``dedupe_since``. ``assigned_by`` is the assignee's username.
        """
        found = self.iter_issues(
            owner, repo, state=state, type=type, labels=labels, since=since, before=before,
            assigned_by=assigned_by, created_by=created_by, limit=limit,
        )  # fmt: skip
        return [issue async for issue in found]

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
        """``list_issues`` one issue at a time, pages fetched as they are needed (a long listing lets its
        caller do other work between pages, such as renewing a lease)."""
        params: dict[str, Any] = {"state": state}
        optional = {
            "type": type,
            "labels": ",".join(labels) if labels else None,
            "since": rfc3339(since) if since else None,
            "before": rfc3339(before) if before else None,
            "assigned_by": assigned_by,
            "created_by": created_by,
        }
        params.update({key: value for key, value in optional.items() if value is not None})
        path = {"owner": owner, "repo": repo}

        async def fetch(query: Mapping[str, Any]) -> httpx.Response:
            return await self._request("GET", _REPO + "/issues", path=path, params=query)

        page_size = MAX_LIMIT if limit is None else min(max(limit, 1), MAX_LIMIT)
        async for item in paginate(fetch, params, limit=page_size, max_items=limit):
            yield Issue.model_validate(item)

    async def get_issue(self, owner: str, repo: str, index: int) -> Issue:
        """One issue; works for a pull request's number too (``is_pull``)."""
        data = await self._json("GET", _ISSUE, path={"owner": owner, "repo": repo, "index": index})
        return Issue.model_validate(data)

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
        """Open an issue; ``labels`` are label ids. Labels and assignees are silently
        dropped by the forge when the account may not write them."""
        payload: dict[str, Any] = {"title": title, "body": body, "labels": list(labels)}
        if assignees:
            payload["assignees"] = list(assignees)
        data = await self._json("POST", _REPO + "/issues", path={"owner": owner, "repo": repo}, json=payload)
        return Issue.model_validate(data)

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
        """Change an issue (or PR): only the arguments given are sent. ``assignees``
        replaces the whole set (``[]`` clears it). Gitea answers 201 here."""
        fields = {"state": state, "title": title, "body": body}
        payload: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
        if assignees is not None:
            payload["assignees"] = list(assignees)
        data = await self._json("PATCH", _ISSUE, path={"owner": owner, "repo": repo, "index": index}, json=payload)
        return Issue.model_validate(data)

    # Issue labels ---------------------------------------------------------------------------------

    async def add_labels(self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]) -> list[Label]:
        """Add labels (all ids or all names); returns every label now on the issue.
        Unknown ones are ignored by the forge; an exclusive label evicts its scope's others."""
        path = {"owner": owner, "repo": repo, "index": index}
        data = await self._json("POST", _ISSUE + "/labels", path=path, json={"labels": _label_refs(labels)})
        return [Label.model_validate(item) for item in data or []]

    async def replace_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]:
        path = {"owner": owner, "repo": repo, "index": index}
        data = await self._json("PUT", _ISSUE + "/labels", path=path, json={"labels": _label_refs(labels)})
        return [Label.model_validate(item) for item in data or []]

    async def remove_label(self, owner: str, repo: str, index: int, label_id: int) -> None:
        path = {"owner": owner, "repo": repo, "index": index, "id": label_id}
        await self._request("DELETE", _ISSUE + "/labels/{id}", path=path)

    async def clear_labels(self, owner: str, repo: str, index: int) -> None:
        await self._request("DELETE", _ISSUE + "/labels", path={"owner": owner, "repo": repo, "index": index})

    # Assignees ------------------------------------------------------------------------------------

    async def add_assignees(self, owner: str, repo: str, index: int, usernames: Sequence[str]) -> Issue:
        """Add assignees (users with write access). Uses ``/assignees`` where the forge has it,
        else reads the issue and sends the union with ``edit_issue`` (1.23)."""
        if await self.supports("issue_assignees"):
            path = {"owner": owner, "repo": repo, "index": index}
            data = await self._json("POST", _ISSUE + "/assignees", path=path, json={"assignees": list(usernames)})
            return Issue.model_validate(data)
        current = [user.login for user in (await self.get_issue(owner, repo, index)).assignees]
        wanted = current + [name for name in usernames if name not in current]
        return await self.edit_issue(owner, repo, index, assignees=wanted)

    async def remove_assignees(self, owner: str, repo: str, index: int, usernames: Sequence[str]) -> Issue:
        """Remove assignees; like ``add_assignees``, falls back to ``edit_issue`` on 1.23."""
        if await self.supports("issue_assignees"):
            path = {"owner": owner, "repo": repo, "index": index}
            data = await self._json("DELETE", _ISSUE + "/assignees", path=path, json={"assignees": list(usernames)})
            return Issue.model_validate(data)
        current = [user.login for user in (await self.get_issue(owner, repo, index)).assignees]
        return await self.edit_issue(owner, repo, index, assignees=[n for n in current if n not in usernames])

    # Comments -------------------------------------------------------------------------------------

    async def list_comments(
        self, owner: str, repo: str, index: int, *, since: datetime | None = None, before: datetime | None = None
    ) -> list[Comment]:
        """Every plain comment of an issue, oldest first (this list is not paginated by Gitea)."""
        params = {key: rfc3339(value) for key, value in (("since", since), ("before", before)) if value}
        path = {"owner": owner, "repo": repo, "index": index}
        data = await self._json("GET", _ISSUE + "/comments", path=path, params=params)
        return [Comment.model_validate(item) for item in data or []]

    async def create_comment(self, owner: str, repo: str, index: int, body: str) -> Comment:
        path = {"owner": owner, "repo": repo, "index": index}
        return Comment.model_validate(await self._json("POST", _ISSUE + "/comments", path=path, json={"body": body}))

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> Comment:
        """Replace a comment's text (Gitea may answer 204: the comment is then read back)."""
        route = _REPO + "/issues/comments/{id}"
        path = {"owner": owner, "repo": repo, "id": comment_id}
        data = await self._json("PATCH", route, path=path, json={"body": body})
        if data is None:
            data = await self._json("GET", route, path=path)
        return Comment.model_validate(data)
