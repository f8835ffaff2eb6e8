"""After anything moves a branch (a push over HTTP, a contents write, a merge, a branch create or delete):
diff the refs against the last snapshot, update the PRs that depend on them, then fire the webhooks.

For each open PR whose head branch moved: the head sha, ``refs/pull/<n>/head``, the merge base and the
conflict state are updated, older reviews become ``stale`` (approvals are dismissed when the base's rule
says ``dismiss_stale_approvals``), ``mergeable`` reads false for ``Faults.mergeable_delay`` seconds, and
``pull_request`` / ``synchronized`` (event type ``pull_request_sync``) fires. Every moved ref fires ``push``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import Forge
from .db import Row
from .events import fire_pull, fire_push
from .git import ZERO_SHA, GitError, GitRepo
from .protection import rule_for

__all__ = ["RefChange", "refresh_pull", "sync_refs"]


@dataclass(frozen=True)
class RefChange:
    ref: str
    old: str
    new: str


def _current_refs(git: GitRepo) -> dict[str, str]:
    refs = {f"refs/heads/{name}": sha for name, sha in git.refs("refs/heads/").items()}
    refs.update({f"refs/tags/{name}": sha for name, sha in git.refs("refs/tags/").items()})
    return refs


def refresh_pull(forge: Forge, git: GitRepo, pull: Row, head: str | None = None) -> None:
    """Recompute merge base and conflicts of an open PR (and its head when ``head`` is given)."""
    head = head or pull["head_sha"]
    base_sha = git.branch_sha(pull["base_branch"])
    merge_base = git.merge_base(base_sha, head) if base_sha else None
    conflicted = True
    if base_sha:
        try:
            tree, _ = git.merge_tree(base_sha, head)
            conflicted = tree is None
        except GitError:
            conflicted = True
    forge.db.run(
        "UPDATE pulls SET head_sha = ?, merge_base = ?, conflicted = ?, checking_until = ? WHERE id = ?",
        (head, merge_base or "", int(conflicted), forge.clock() + forge.faults.mergeable_delay, pull["id"]),
    )


def sync_refs(forge: Forge, repo: Row, pusher: Row | None, *, fire: bool = True) -> list[RefChange]:
    git = forge.git_for(repo)
    synced: list[tuple[int, str, str]] = []  # (pull id, before, after)
    with forge.db.tx():
        current = _current_refs(git)
        snapshot = {
            r["ref"]: r["sha"]
            for r in forge.db.all("SELECT ref, sha FROM ref_snapshot WHERE repo_id = ?", (repo["id"],))
        }
        changes = [
            RefChange(ref, snapshot.get(ref, ZERO_SHA), current.get(ref, ZERO_SHA))
            for ref in sorted(set(current) | set(snapshot))
            if snapshot.get(ref) != current.get(ref)
        ]
        if not changes:
            return []
        for change in changes:
            if change.new == ZERO_SHA:
                forge.db.run("DELETE FROM ref_snapshot WHERE repo_id = ? AND ref = ?", (repo["id"], change.ref))
            else:
                forge.db.run(
                    "INSERT INTO ref_snapshot (repo_id, ref, sha) VALUES (?, ?, ?) "
                    "ON CONFLICT (repo_id, ref) DO UPDATE SET sha = excluded.sha",
                    (repo["id"], change.ref, change.new),
                )
        _fix_default_branch(forge, git, repo, changes, had_branches=any(r.startswith("refs/heads/") for r in snapshot))
        now = forge.now()
        for change in changes:
            if not change.ref.startswith("refs/heads/"):
                continue
            branch = change.ref.removeprefix("refs/heads/")
            open_pulls = forge.db.all(
                "SELECT p.*, i.number AS number, i.id AS issue_row FROM pulls p JOIN issues i ON i.id = p.issue_id "
                "WHERE i.repo_id = ? AND i.state = 'open' AND p.merged = 0 "
                "AND (p.head_branch = ? OR p.base_branch = ?)",
                (repo["id"], branch, branch),
            )
            for pull in open_pulls:
                if pull["head_branch"] == branch and change.new != ZERO_SHA and pull["head_sha"] != change.new:
                    refresh_pull(forge, git, pull, change.new)
                    git.update_ref(f"refs/pull/{pull['number']}/head", change.new, None)
                    forge.db.run(
                        "UPDATE reviews SET stale = 1 WHERE pull_id = ? AND commit_id != ?", (pull["id"], change.new)
                    )
                    rule = rule_for(forge, repo["id"], pull["base_branch"])
                    if rule is not None and rule["dismiss_stale_approvals"]:
                        forge.db.run(
                            "UPDATE reviews SET dismissed = 1 WHERE pull_id = ? AND state = 'APPROVED' "
                            "AND commit_id != ?",
                            (pull["id"], change.new),
                        )
                    forge.db.run("UPDATE issues SET updated = ? WHERE id = ?", (now, pull["issue_row"]))
                    synced.append((pull["id"], pull["head_sha"], change.new))
                elif pull["base_branch"] == branch and change.new != ZERO_SHA:
                    refresh_pull(forge, git, pull)
    if fire and pusher is not None:
        _fire(forge, repo, git, changes, synced, pusher)
    return changes


def _fix_default_branch(forge: Forge, git: GitRepo, repo: Row, changes: list[RefChange], *, had_branches: bool) -> None:
    """The first push into an empty repository makes its branch the default when the default is missing."""
    if had_branches:
        return
    branches = git.refs("refs/heads/")
    if not branches or repo["default_branch"] in branches:
        return
    pushed = [c.ref.removeprefix("refs/heads/") for c in changes if c.ref.startswith("refs/heads/")]
    first = pushed[0] if pushed else sorted(branches)[0]
    forge.db.run("UPDATE repos SET default_branch = ? WHERE id = ?", (first, repo["id"]))
    git.set_head(first)


def _commits(git: GitRepo, change: RefChange) -> list[str]:
    if change.new == ZERO_SHA:
        return []
    try:
        if change.old != ZERO_SHA:
            return git.rev_list([change.new, f"^{change.old}"])
        others = [f"^{sha}" for name, sha in git.refs("refs/heads/").items() if f"refs/heads/{name}" != change.ref]
        return git.rev_list([change.new, *others])
    except GitError:
        return [change.new]


def _fire(
    forge: Forge,
    repo: Row,
    git: GitRepo,
    changes: list[RefChange],
    synced: list[tuple[int, str, str]],
    pusher: Row,
) -> None:
    fresh = forge.db.one("SELECT * FROM repos WHERE id = ?", (repo["id"],)) or repo
    for change in changes:
        fire_push(forge, fresh, change.ref, change.old, change.new, _commits(git, change), pusher)
    for pull_id, before, after in synced:
        pull = forge.db.one("SELECT * FROM pulls WHERE id = ?", (pull_id,))
        issue = forge.db.one("SELECT * FROM issues WHERE id = ?", (pull["issue_id"],)) if pull else None
        if pull is None or issue is None:
            continue
        fire_pull(
            forge,
            fresh,
            pull,
            issue,
            "synchronized",
            pusher,
            event_type="pull_request_sync",
            extra={"before": before, "after": after},
        )
