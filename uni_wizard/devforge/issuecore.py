"""Issue helpers shared by the issue, label, comment and pull routers: lookup, ``updated_at`` bumps,
label colour rules, scoped exclusive labels, label references (ids or names, never mixed), assignees.
"""

from __future__ import annotations

import re
from typing import Any

from .access import WRITE, RepoCtx, access_mode, user_by_name
from .core import Forge
from .db import Row
from .errors import bad_request, not_found, unprocessable

__all__ = [
    "exclusive_scope",
    "get_issue",
    "issue_labels_set",
    "label_ids",
    "normalize_color",
    "resolve_assignees",
    "resolve_label_refs",
    "set_assignees",
    "touch",
]

_COLOR = re.compile(r"^#?(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def normalize_color(color: str) -> str:
    """``#rrggbb``, ``rrggbb``, ``#rgb`` or ``rgb`` (any case) → ``#rrggbb``; 422 otherwise."""
    color = color.strip()
    if not _COLOR.match(color):
        raise unprocessable(f"invalid color: {color}")
    hexpart = color.lstrip("#").lower()
    if len(hexpart) == 3:
        hexpart = "".join(ch * 2 for ch in hexpart)
    return "#" + hexpart


def exclusive_scope(label: Row) -> str:
    """The scope of an exclusive ``scope/value`` label (up to the last "/"), "" for others."""
    if not label["exclusive"]:
        return ""
    name: str = label["name"]
    cut = name.rfind("/")
    if cut <= 0 or cut == len(name) - 1:
        return ""
    return name[:cut]


def get_issue(rc: RepoCtx, index: str | int) -> Row:
    try:
        number = int(index)
    except (TypeError, ValueError):
        raise not_found() from None
    row = rc.forge.db.one("SELECT * FROM issues WHERE repo_id = ? AND number = ?", (rc.id, number))
    if row is None:
        raise not_found()
    return row


def reload_issue(forge: Forge, issue_id: int) -> Row:
    row = forge.db.one("SELECT * FROM issues WHERE id = ?", (issue_id,))
    if row is None:
        raise not_found()
    return row


def touch(forge: Forge, issue_id: int) -> None:
    """Bump the issue's ``updated_at`` (polling with ``since`` depends on it)."""
    forge.db.run("UPDATE issues SET updated = ? WHERE id = ?", (forge.now(), issue_id))


def resolve_label_refs(rc: RepoCtx, items: list[Any] | None) -> list[Row]:
    """Label rows for a list of ids or of names (mixing them → 400); unknown ones are dropped."""
    ids: list[int] = []
    names: list[str] = []
    for item in items or []:
        if isinstance(item, bool):
            raise bad_request("a label must be an integer or a string")
        if isinstance(item, int | float):
            ids.append(int(item))
        elif isinstance(item, str):
            names.append(item)
        else:
            raise bad_request("a label must be an integer or a string")
    if ids and names:
        raise bad_request("labels should be an array of strings or integers")
    rows: list[Row] = []
    if names:
        for name in names:
            rows += rc.forge.db.all("SELECT * FROM labels WHERE repo_id = ? AND name = ? ORDER BY id", (rc.id, name))
    for label_id in ids:
        row = rc.forge.db.one("SELECT * FROM labels WHERE repo_id = ? AND id = ?", (rc.id, label_id))
        if row is not None:
            rows.append(row)
    seen: set[int] = set()
    unique = []
    for row in rows:
        if row["id"] not in seen:
            seen.add(row["id"])
            unique.append(row)
    return unique


def label_ids(items: list[Any] | None) -> list[int]:
    """The ``labels`` of an issue or PR create/edit: ids only (Go decodes them into ``[]int64``)."""
    ids = []
    for item in items or []:
        if isinstance(item, bool) or not isinstance(item, int):
            raise unprocessable(f"[Labels]: json: cannot unmarshal {type(item).__name__} into Go value of type int64")
        ids.append(item)
    return ids


def _drop_duplicate_scopes(labels: list[Row]) -> list[Row]:
    """Of several labels in one exclusive scope keep the last (Gitea's RemoveDuplicateExclusiveLabels)."""
    kept: list[Row] = []
    used: set[str] = set()
    for label in reversed(labels):
        scope = exclusive_scope(label)
        if scope and scope in used:
            continue
        if scope:
            used.add(scope)
        kept.append(label)
    kept.reverse()
    return kept


def issue_labels_set(forge: Forge, issue_id: int, labels: list[Row], *, replace: bool) -> tuple[bool, bool]:
    """Add (or with ``replace`` set exactly) ``labels``; returns (changed, now_empty).

    Adding an exclusive scoped label removes the issue's other labels of the same scope.
    """
    current = {r["label_id"] for r in forge.db.all("SELECT label_id FROM issue_labels WHERE issue_id = ?", (issue_id,))}
    labels = _drop_duplicate_scopes(labels)
    wanted = {row["id"] for row in labels}
    changed = False
    if replace:
        for label_id in current - wanted:
            forge.db.run("DELETE FROM issue_labels WHERE issue_id = ? AND label_id = ?", (issue_id, label_id))
            changed = True
    for label in labels:
        scope = exclusive_scope(label)
        if scope:
            siblings = forge.db.all(
                "SELECT l.* FROM labels l JOIN issue_labels il ON il.label_id = l.id "
                "WHERE il.issue_id = ? AND l.id != ?",
                (issue_id, label["id"]),
            )
            for sibling in siblings:
                if exclusive_scope(sibling) == scope:
                    forge.db.run(
                        "DELETE FROM issue_labels WHERE issue_id = ? AND label_id = ?", (issue_id, sibling["id"])
                    )
                    changed = True
        inserted = forge.db.changes(
            "INSERT OR IGNORE INTO issue_labels (issue_id, label_id) VALUES (?, ?)", (issue_id, label["id"])
        )
        changed = changed or bool(inserted)
    empty = not forge.db.one("SELECT 1 FROM issue_labels WHERE issue_id = ?", (issue_id,))
    if changed:
        touch(forge, issue_id)
    return changed, empty


def resolve_assignees(rc: RepoCtx, names: list[str]) -> list[Row]:
    """Users for assignee names; 422 for an unknown user or one without write access."""
    users: list[Row] = []
    for name in names:
        if not name:
            continue
        user = user_by_name(rc.forge, name, orgs=False)
        if user is None:
            raise unprocessable(f"Assignee does not exist: [name: {name}]")
        if access_mode(rc.forge, user, rc.repo) < WRITE:
            raise unprocessable(
                f"user doesn't have access to repo [user_id: {user['id']}, repo_name: {rc.repo['name']}]"
            )
        if all(u["id"] != user["id"] for u in users):
            users.append(user)
    return users


def set_assignees(forge: Forge, issue_id: int, users: list[Row]) -> tuple[list[Row], list[Row]]:
    """Make ``users`` the assignees; returns (added, removed) users."""
    current = forge.db.all(
        "SELECT u.* FROM users u JOIN issue_assignees a ON a.user_id = u.id WHERE a.issue_id = ?", (issue_id,)
    )
    wanted = {u["id"] for u in users}
    have = {u["id"] for u in current}
    removed = [u for u in current if u["id"] not in wanted]
    added = [u for u in users if u["id"] not in have]
    for user in removed:
        forge.db.run("DELETE FROM issue_assignees WHERE issue_id = ? AND user_id = ?", (issue_id, user["id"]))
    for user in added:
        forge.db.run("INSERT INTO issue_assignees (issue_id, user_id) VALUES (?, ?)", (issue_id, user["id"]))
    if added or removed:
        touch(forge, issue_id)
    return added, removed
