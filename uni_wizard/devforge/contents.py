"""File contents: the lease primitive (GITEA_FACTS §3.8). Real git blob SHA-1s, single-line base64.

Writes are compare-and-swap on the blob sha: a stale ``sha`` is 422 ``sha does not match [given: X,
expected: Y]``, creating over an existing path is 422 ``repository file already exists [path: P]``.
Writes are serialised (the database lock is held from the sha check to ``update-ref``), and the ref
update itself is a CAS on the old commit; ``Faults.contents_lost_race`` makes the next writes fail
with Gitea's 500 for a lost race.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import READ, WRITE, RepoCtx, load_repo
from .auth import Caller, caller_of, require_user
from .core import forge_of
from .db import Row, fmt_time
from .errors import ApiError, not_found, required, server_error, unprocessable
from .git import ZERO_SHA, GitError, GitRepo, Signature, TreeEntry
from .objects import VERIFICATION
from .protection import can_push, rule_for
from .refsync import sync_refs
from .web import Body, created, json_body, ok

__all__ = ["router"]

router = APIRouter()
BASE = "/repos/{owner}/{repo}"
MAX_BLOB = 10 * 1024 * 1024


@dataclass
class FileOp:
    operation: str  # create | update | delete | upload | rename
    path: str
    content: bytes | None = None
    sha: str = ""
    from_path: str = ""


def _clean_path(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." or p == ".git" for p in parts):
        raise unprocessable(f"path contains a malformed path component [path: {path}]")
    return "/".join(parts)


def _decode(content: str) -> bytes:
    try:
        return base64.b64decode(content.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise unprocessable(f"illegal base64 data: {exc}") from exc


def _signature(body: Body, key: str, date_key: str, user: Row, now: int) -> Signature:
    who = body.dict(key) or {}
    name = who.get("name") or user["full_name"] or user["login"]
    email = who.get("email") or user["email"]
    when = now
    dates = body.dict("dates") or {}
    if dates.get(date_key):
        try:
            when = int(datetime.fromisoformat(str(dates[date_key]).replace("Z", "+00:00")).timestamp())
        except ValueError as exc:
            raise unprocessable(f"invalid date: {dates[date_key]}") from exc
    return Signature(str(name), str(email), when)


def content_json(rc: RepoCtx, ref: str, commit: str, entry: TreeEntry, *, with_content: bool = True) -> dict[str, Any]:
    git = rc.git
    last = git.last_commit(commit, entry.path) or commit
    info = git.commit(last)
    kind = {"blob": "file", "tree": "dir", "commit": "submodule"}.get(entry.type, "file")
    if entry.mode == "120000":
        kind = "symlink"
    content: str | None = None
    encoding: str | None = None
    if kind == "file" and with_content and entry.size <= MAX_BLOB:
        content = base64.b64encode(git.blob(entry.sha)).decode()
        encoding = "base64"
    self_url = rc.api(f"/contents/{entry.path}?ref={ref}")
    html_url = rc.html(f"/src/branch/{ref}/{entry.path}")
    git_url = rc.api(f"/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}")
    return {
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "last_commit_sha": last,
        "last_commit_message": info.message,
        "last_author_date": fmt_time(info.author.when),
        "last_committer_date": fmt_time(info.committer.when),
        "type": kind,
        "size": entry.size if kind == "file" else 0,
        "encoding": encoding,
        "content": content,
        "target": git.blob(entry.sha).decode(errors="replace") if kind == "symlink" else None,
        "url": self_url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": rc.html(f"/raw/branch/{ref}/{entry.path}") if kind == "file" else None,
        "submodule_git_url": None,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def _ref_commit(rc: RepoCtx, ref: str | None) -> tuple[str, str]:
    ref = ref or rc.repo["default_branch"]
    commit = rc.git.resolve(ref)
    if commit is None:
        raise not_found(f"object does not exist [id: {ref}, rel_path: ]")
    return ref, commit


def _get(request: Request, caller: Caller, owner: str, repo: str, filepath: str) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    ref, commit = _ref_commit(rc, request.query_params.get("ref"))
    path = filepath.strip("/")
    entry = rc.git.entry(commit, path)
    if entry is None:
        raise not_found(f"object does not exist [id: , rel_path: {path}]")
    if entry.type == "tree":
        entries = rc.git.list_dir(commit, path)
        return ok([content_json(rc, ref, commit, e, with_content=False) for e in entries])
    return ok(content_json(rc, ref, commit, entry))


@router.get(BASE + "/contents")
def list_root(owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    return _get(request, caller, owner, repo, "")


@router.get(BASE + "/contents/{filepath:path}")
def get_contents(
    owner: str, repo: str, filepath: str, request: Request, caller: Caller = Depends(caller_of)
) -> Response:
    return _get(request, caller, owner, repo, filepath)


@router.get(BASE + "/raw/{filepath:path}")
def raw(owner: str, repo: str, filepath: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    rc = load_repo(forge_of(request), caller, owner, repo)
    _, commit = _ref_commit(rc, request.query_params.get("ref"))
    entry = rc.git.entry(commit, filepath.strip("/"))
    if entry is None or entry.type != "blob":
        raise not_found()
    data = rc.git.blob(entry.sha)
    try:
        data.decode()
        media = "text/plain; charset=utf-8"
    except UnicodeDecodeError:
        media = "application/octet-stream"
    return Response(content=data, media_type=media)


def _commit_json(rc: RepoCtx, sha: str) -> dict[str, Any]:
    info = rc.git.commit(sha)

    def who(sig: Signature) -> dict[str, Any]:
        return {"name": sig.name, "email": sig.email, "date": fmt_time(sig.when)}

    def meta(kind: str, ident: str) -> dict[str, Any]:
        return {"url": rc.api(f"/git/{kind}/{ident}"), "sha": ident, "created": fmt_time(info.committer.when)}

    return {
        "url": rc.api(f"/git/commits/{sha}"),
        "sha": sha,
        "created": fmt_time(info.committer.when),
        "html_url": rc.html(f"/commit/{sha}"),
        "author": who(info.author),
        "committer": who(info.committer),
        "parents": [meta("commits", p) for p in info.parents],
        "message": info.message,
        "tree": meta("trees", info.tree),
    }


def _check_tree_path(git: GitRepo, commit: str, path: str) -> None:
    """Gitea's ErrFilePathInvalid: no file where a directory is needed, no directory where a file goes."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        prefix = "/".join(parts[:depth])
        found = git.entry(commit, prefix)
        if found is None:
            return
        if found.type != "tree":
            raise unprocessable(f"a file exists where you're trying to create a subdirectory [path: {prefix}]")
    found = git.entry(commit, path)
    if found is not None and found.type == "tree":
        raise unprocessable(f"a directory exists where you're trying to create a file [path: {path}]")


def change_files(rc: RepoCtx, user: Row, body: Body, ops: list[FileOp]) -> tuple[str, str]:
    """Check and commit ``ops``; returns (target branch, new commit). Holds the write lock throughout."""
    forge, git = rc.forge, rc.git
    branch = body.str("branch") or rc.repo["default_branch"]
    target = body.str("new_branch") or branch
    with forge.db.tx():
        empty = not git.refs()
        parent = None if empty else git.branch_sha(branch)
        if parent is None and not empty:
            raise not_found(f"branch does not exist [repo_id: {rc.id} name: {branch}]")
        old_target = parent
        if target != branch:
            existing = git.branch_sha(target)
            if existing is not None and not body.bool("force_push"):
                raise unprocessable(f"branch already exists [name: {target}]")
            old_target = existing or ZERO_SHA
        if not can_push(rule_for(forge, rc.id, target), user, rc.mode):
            if rc.mode < WRITE:
                raise ApiError(403, "user should have a permission to write to the target branch")
            raise ApiError(403, f"Not allowed to push to protected branch {target}")
        changes: dict[str, bytes | None] = {}
        for op in ops:
            entry = git.entry(parent, op.from_path or op.path) if parent else None
            if parent and op.operation != "delete":
                _check_tree_path(git, parent, op.path)
            if op.operation in ("create", "upload") and not op.sha:
                if entry is not None:
                    raise unprocessable(f"repository file already exists [path: {op.path}]")
            else:
                if entry is None or entry.type != "blob":
                    raise not_found(f"object does not exist [id: , rel_path: {op.from_path or op.path}]")
                if op.sha and op.sha != entry.sha:
                    raise unprocessable(f"sha does not match [given: {op.sha}, expected: {entry.sha}]")
                if op.operation == "delete" and not op.sha:
                    raise required("SHA")
            if op.from_path and op.from_path != op.path:
                changes[op.from_path] = None
            if op.operation == "delete":
                changes[op.path] = None
            elif op.content is not None:
                changes[op.path] = op.content
            else:  # a rename without new content keeps the old bytes
                changes[op.path] = git.blob(entry.sha) if entry is not None else b""
        if forge.faults.take_lost_race():
            raise server_error()  # as if another writer moved the branch between the check and the push
        now = forge.now()
        author = _signature(body, "author", "author", user, now)
        committer = _signature(body, "committer", "committer", user, now) if body.dict("committer") else author
        verb = {"create": "Add", "upload": "Add", "delete": "Delete"}
        message = body.str("message") or ", ".join(f"{verb.get(o.operation, 'Update')} {o.path}" for o in ops)
        try:
            tree = git.write_tree(parent, changes)
        except GitError as exc:
            raise unprocessable(exc.stderr.strip() or str(exc)) from exc
        commit = git.commit_tree(tree, [parent] if parent else [], message.rstrip("\n") + "\n", author, committer)
        if not git.update_ref(f"refs/heads/{target}", commit, old_target or ZERO_SHA):
            raise server_error()  # the real lost race: the branch moved under us
    sync_refs(forge, rc.repo, user)
    return target, commit


def _write(
    request: Request, caller: Caller, owner: str, repo: str, ops: list[FileOp], body: Body
) -> tuple[RepoCtx, str, str]:
    user = require_user(caller)
    rc = load_repo(forge_of(request), caller, owner, repo, need=READ, mutates=True)
    if rc.mode < WRITE:
        raise ApiError(403, "user should have a permission to write to the target branch")
    branch, commit = change_files(rc, user, body, ops)
    return rc, branch, commit


def _file_response(rc: RepoCtx, branch: str, commit: str, path: str | None) -> dict[str, Any]:
    content = None
    if path is not None:
        entry = rc.git.entry(commit, path)
        content = content_json(rc, branch, commit, entry) if entry else None
    return {"content": content, "commit": _commit_json(rc, commit), "verification": VERIFICATION}


def _single(body: Body, filepath: str, operation: str) -> FileOp:
    path = _clean_path(filepath)
    if operation == "delete":
        if not body.str("sha"):
            raise required("SHA")
        return FileOp("delete", path, sha=body.str("sha"))
    if body.get("content") is None:
        raise required("Content")
    content = _decode(body.str("content"))
    from_path = _clean_path(body.str("from_path")) if body.str("from_path") else ""
    return FileOp(operation, path, content, body.str("sha"), from_path)


@router.post(BASE + "/contents/{filepath:path}")
def create_file(
    owner: str, repo: str, filepath: str, request: Request,
    caller: Caller = Depends(caller_of), body: Body = Depends(json_body),
) -> Response:  # fmt: skip
    op = _single(body, filepath, "create")
    op.sha = ""
    rc, branch, commit = _write(request, caller, owner, repo, [op], body)
    return created(_file_response(rc, branch, commit, op.path))


@router.put(BASE + "/contents/{filepath:path}")
def update_file(
    owner: str, repo: str, filepath: str, request: Request,
    caller: Caller = Depends(caller_of), body: Body = Depends(json_body),
) -> Response:  # fmt: skip
    op = _single(body, filepath, "update" if body.str("sha") else "create")
    rc, branch, commit = _write(request, caller, owner, repo, [op], body)
    return ok(_file_response(rc, branch, commit, op.path), 200 if op.operation == "update" else 201)


@router.delete(BASE + "/contents/{filepath:path}")
def delete_file(
    owner: str, repo: str, filepath: str, request: Request,
    caller: Caller = Depends(caller_of), body: Body = Depends(json_body),
) -> Response:  # fmt: skip
    op = _single(body, filepath, "delete")
    rc, branch, commit = _write(request, caller, owner, repo, [op], body)
    return ok(_file_response(rc, branch, commit, None))


@router.post(BASE + "/contents")
def change_many(
    owner: str, repo: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    files = body.list("files")
    if not files:
        raise required("Files")
    ops = []
    for item in files:
        if not isinstance(item, dict):
            raise unprocessable("[Files]: invalid entry")
        f = Body(item)
        operation = f.str("operation")
        if operation not in ("create", "update", "upload", "rename", "delete"):
            raise unprocessable(f"[Operation]: In (got {operation!r})")
        path = _clean_path(f.str("path"))
        content = _decode(f.str("content")) if f.get("content") is not None else None
        if operation in ("create", "upload", "update") and content is None:
            raise required("Content")
        from_path = _clean_path(f.str("from_path")) if f.str("from_path") else ""
        if operation == "rename" and content is None and from_path:
            op = FileOp("update", path, None, f.str("sha"), from_path)
            ops.append(op)
            continue
        ops.append(FileOp(operation, path, content, f.str("sha"), from_path))
    rc, branch, commit = _write(request, caller, owner, repo, ops, body)
    entries = [rc.git.entry(commit, op.path) for op in ops if op.operation != "delete"]
    return created({
        "files": [content_json(rc, branch, commit, e) for e in entries if e is not None],
        "commit": _commit_json(rc, commit),
        "verification": VERIFICATION,
    })  # fmt: skip
