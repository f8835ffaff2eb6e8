"""``FakeForge``'s labels: the repository's, and those of one issue (GITEA_FACTS §3.2, §3.4).

As in Gitea: names are not unique, colours come back lower-case without ``#``, an issue's labels are given as
ids or as names (never mixed), unknown ones are ignored, and an exclusive ``scope/value`` label evicts the
others of its scope.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import NotFound, ToolCallError, Unprocessable
from ..forge.models import Label
from ._fake_models import issue_labels, label_model
from ._fake_state import FakeSession, FIssue, FLabel, ForgeState, FRepo, api

__all__ = ["FakeLabels", "set_labels"]

_HEX6 = re.compile(r"^[0-9a-f]{6}$")


def _drop_duplicate_scopes(labels: list[FLabel]) -> list[FLabel]:
    """Of several labels of one exclusive scope keep the last (Gitea's RemoveDuplicateExclusiveLabels)."""
    kept: list[FLabel] = []
    used: set[str] = set()
    for label in reversed(labels):
        if label.scope and label.scope in used:
            continue
        used.add(label.scope)
        kept.append(label)
    return kept[::-1]


def set_labels(state: ForgeState, repo: FRepo, issue: FIssue, labels: list[FLabel], *, replace: bool) -> bool:
    """Add ``labels`` (with ``replace``: set exactly them); an exclusive ``scope/value`` label evicts the others
    of its scope. Whether anything changed (then ``updated_at`` moves)."""
    before = sorted(issue.labels)
    labels = _drop_duplicate_scopes(labels)
    if replace:
        issue.labels = [i for i in issue.labels if i in {label.id for label in labels}]
    for label in labels:
        if label.scope:
            issue.labels = [i for i in issue.labels if i == label.id or _scope(repo, i) != label.scope]
        if label.id not in issue.labels:
            issue.labels.append(label.id)
    changed = sorted(issue.labels) != before
    if changed:
        issue.updated = state.now()
    return changed


def _scope(repo: FRepo, label_id: int) -> str:
    label = repo.labels.get(label_id)
    return label.scope if label is not None else ""


class FakeLabels(FakeSession):
    """Label operations of ``FakeForge``, with ``GiteaClient``'s signatures."""

    # Labels ---------------------------------------------------------------------------------------

    @api
    async def list_labels(self, owner: str, repo: str) -> list[Label]:
        found = self._repo(owner, repo)
        return [label_model(label) for label in sorted(found.labels.values(), key=lambda x: (x.name, x.id))]

    @api
    async def create_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = "", exclusive: bool = False
    ) -> Label:
        found = self._repo(owner, repo, "POST")
        path = f"/repos/{found.full_name}/labels"
        if not name:
            raise self._error(Unprocessable, "POST", path, "[Name]: Required")
        label = FLabel(self._state.next_id("label"), name, self._color(color, path), description, exclusive)
        found.labels[label.id] = label
        self.record(f"{found.full_name}:create-label:{name}")
        return label_model(label)

    @api
    async def edit_label(self, owner: str, repo: str, label_id: int, **changes: Any) -> Label:
        found = self._repo(owner, repo, "PATCH")
        path = f"/repos/{found.full_name}/labels/{label_id}"
        label = found.labels.get(label_id)
        if label is None:
            raise self._error(NotFound, "PATCH", path, "not found")
        color = self._color(str(changes["color"]), path, "PATCH") if "color" in changes else label.color
        label.name = str(changes.get("name") or label.name)
        label.color = color
        label.description = str(changes.get("description", label.description))
        label.exclusive = bool(changes.get("exclusive", label.exclusive))
        label.is_archived = bool(changes.get("is_archived", label.is_archived))
        self.record(f"{found.full_name}:edit-label:{label.name}")
        return label_model(label)

    async def ensure_label(
        self, owner: str, repo: str, name: str, color: str, *, description: str = "", exclusive: bool = False
    ) -> Label:
        """As ``GiteaClient.ensure_label``: lists, then creates the label or edits what differs."""
        same = sorted((x for x in await self.list_labels(owner, repo) if x.name == name), key=lambda x: x.id)
        if not same:
            return await self.create_label(owner, repo, name, color, description=description, exclusive=exclusive)
        wanted = {"color": _client_color(color), "description": description, "exclusive": exclusive}
        current = {"color": _client_color(same[0].color), "description": same[0].description,
                   "exclusive": same[0].exclusive}  # fmt: skip
        changes = {key: value for key, value in wanted.items() if current[key] != value}
        return await self.edit_label(owner, repo, same[0].id, **changes) if changes else same[0]

    def _color(self, value: str, path: str, method: str = "POST") -> str:
        text = _client_color(value)
        if not text:
            raise self._error(Unprocessable, method, path, "[Color]: Required")
        if not _HEX6.match(text):
            raise self._error(Unprocessable, method, path, f"invalid color: {text}")
        return text

    # Issue labels ---------------------------------------------------------------------------------

    @api
    async def add_labels(self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]) -> list[Label]:
        """Unknown labels are ignored (and not recorded); an exclusive label evicts its scope's others."""
        found, issue, chosen = self._labels_call(owner, repo, index, labels, "POST")
        set_labels(self._state, found, issue, chosen, replace=False)
        for label in chosen:
            self.record(f"{found.full_name}#{index}:+label:{label.name}")
        return issue_labels(found, issue)

    @api
    async def replace_labels(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str]
    ) -> list[Label]:
        found, issue, chosen = self._labels_call(owner, repo, index, labels, "PUT")
        set_labels(self._state, found, issue, chosen, replace=True)
        self.record(f"{found.full_name}#{index}:labels:{','.join(sorted(label.name for label in chosen))}")
        return issue_labels(found, issue)

    @api
    async def remove_label(self, owner: str, repo: str, index: int, label_id: int) -> None:
        found = self._repo(owner, repo, "DELETE")
        issue = self._issue(found, index, "DELETE")
        label = next((r.labels[label_id] for r in self._state.repos.values() if label_id in r.labels), None)
        if label is None:
            path = f"/repos/{found.full_name}/issues/{index}/labels/{label_id}"
            raise self._error(Unprocessable, "DELETE", path, f"label does not exist [label_id: {label_id}]")
        if label_id in issue.labels:
            issue.labels.remove(label_id)
            issue.updated = self._state.now()
        self.record(f"{found.full_name}#{index}:-label:{label.name}")

    @api
    async def clear_labels(self, owner: str, repo: str, index: int) -> None:
        found = self._repo(owner, repo, "DELETE")
        issue = self._issue(found, index, "DELETE")
        if issue.labels:
            issue.labels, issue.updated = [], self._state.now()
        self.record(f"{found.full_name}#{index}:labels:")

    def _labels_call(
        self, owner: str, repo: str, index: int, labels: Sequence[int] | Sequence[str], method: str
    ) -> tuple[FRepo, FIssue, list[FLabel]]:
        items: list[object] = list(labels)
        ids = [x for x in items if isinstance(x, int) and not isinstance(x, bool)]
        names = [x for x in items if isinstance(x, str)]
        if len(ids) != len(items) and len(names) != len(items):
            raise ToolCallError("labels must be all ids or all names, not a mix")
        found = self._repo(owner, repo, method)
        issue = self._issue(found, index, method)
        by_name = [label for name in names for label in sorted(found.labels.values(), key=lambda x: x.id)
                   if label.name == name]  # fmt: skip
        chosen = by_name + [found.labels[i] for i in ids if i in found.labels]
        return found, issue, list({label.id: label for label in chosen}.values())


def _client_color(value: str) -> str:
    """What ``GiteaClient`` sends for a colour: lower-case ``rrggbb`` without ``#`` (``#rgb`` expanded)."""
    text = value.strip().lstrip("#").lower()
    return "".join(c * 2 for c in text) if len(text) == 3 else text
