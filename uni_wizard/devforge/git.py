"""Bare git repositories driven by git plumbing: argv lists, timeouts, a private index per write.

Commits are made without a worktree: ``read-tree`` the parent into a temporary ``GIT_INDEX_FILE``,
``hash-object -w`` + ``update-index --cacheinfo`` each change, ``write-tree``, ``commit-tree``, then
``update-ref`` with the old value (compare-and-swap). Merges use ``merge-tree --write-tree``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ZERO_SHA", "CommitInfo", "GitError", "GitRepo", "Signature", "TreeEntry", "blob_sha"]

ZERO_SHA = "0" * 40


class GitError(Exception):
    """A git command failed; ``stderr`` says why."""

    def __init__(self, args: list[str], code: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args[:3])}... exited {code}: {stderr.strip()}")
        self.code = code
        self.stderr = stderr


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    when: int  # Unix seconds
    offset: str = "+0000"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str  # blob | tree | commit
    sha: str
    path: str
    size: int


def blob_sha(data: bytes) -> str:
    """The git blob id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _parse_signature(text: str) -> Signature:
    # "Name <email> 1700000000 +0000"
    name, _, rest = text.partition(" <")
    email, _, when = rest.partition("> ")
    stamp, _, offset = when.partition(" ")
    return Signature(name=name, email=email, when=int(stamp or 0), offset=offset or "+0000")


def _git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C",
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }
    env.update(extra or {})
    return env


PRE_RECEIVE = """#!{python}
# devforge: refuse pushes to protected branches (the server passes the rules in the environment).
import json, os, re, subprocess, sys
rules = json.loads(os.environ.get("DEVFORGE_PUSH_RULES") or "[]")
zero = "0" * 40
for line in sys.stdin:
    old, new, ref = line.split()
    if not ref.startswith("refs/heads/"):
        continue
    branch = ref[len("refs/heads/"):]
    for rule in rules:
        if not re.match(rule["regex"], branch, re.DOTALL):
            continue
        if not rule["may_push"]:
            print("Gitea: Not allowed to push to protected branch " + branch, file=sys.stderr)
            sys.exit(1)
        if old != zero and new != zero and not rule["force"]:
            ok = subprocess.run(["git", "merge-base", "--is-ancestor", old, new]).returncode == 0
            if not ok:
                print("Gitea: Not allowed to force-push to protected branch " + branch, file=sys.stderr)
                sys.exit(1)
        if new == zero:
            print("Gitea: Not allowed to delete protected branch " + branch, file=sys.stderr)
            sys.exit(1)
        break
"""


class GitRepo:
    def __init__(self, path: Path, *, timeout: float = 120.0) -> None:
        self.path = path
        self.timeout = timeout

    def run(self, args: list[str], *, data: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
        argv = ["git", f"--git-dir={self.path}", *args]
        proc = subprocess.run(
            argv, input=data, capture_output=True, env=_git_env(env), timeout=self.timeout, check=False
        )
        if proc.returncode != 0:
            raise GitError(args, proc.returncode, proc.stderr.decode(errors="replace"))
        return proc.stdout

    def text(self, args: list[str], *, env: dict[str, str] | None = None) -> str:
        return self.run(args, env=env).decode(errors="replace").strip()

    def ok(self, args: list[str]) -> bool:
        try:
            self.run(args)
        except GitError:
            return False
        return True

    # -- repository life -------------------------------------------------------------------------------

    def init(self, default_branch: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(self.path)],
            capture_output=True,
            env=_git_env(),
            timeout=self.timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise GitError(["init"], proc.returncode, proc.stderr.decode(errors="replace"))
        self.run(["config", "http.receivepack", "true"])
        self.run(["config", "uploadpack.allowAnySHA1InWant", "true"])
        self.ensure_hooks()

    def ensure_hooks(self) -> None:
        """(Re)write the pre-receive hook for this interpreter (the venv may have moved since ``init``)."""
        hook = self.path / "hooks" / "pre-receive"
        text = PRE_RECEIVE.replace("{python}", sys.executable)
        if not hook.exists() or hook.read_text() != text:
            hook.parent.mkdir(parents=True, exist_ok=True)
            hook.write_text(text)
            hook.chmod(0o755)

    def set_head(self, branch: str) -> None:
        self.run(["symbolic-ref", "HEAD", f"refs/heads/{branch}"])

    # -- reading ---------------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """The commit a branch, tag or sha names; ``None`` when it names none."""
        if not ref or ref.startswith("-"):
            return None
        try:
            return self.text(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"]) or None
        except GitError:
            return None

    def branch_sha(self, branch: str) -> str | None:
        return self.refs("refs/heads/").get(branch)

    def refs(self, prefix: str = "refs/heads/") -> dict[str, str]:
        out = self.text(["for-each-ref", "--format=%(objectname) %(refname)", prefix])
        result: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition(" ")
            result[ref[len(prefix) :]] = sha
        return result

    def commit(self, sha: str) -> CommitInfo:
        raw = self.run(["cat-file", "commit", sha]).decode(errors="replace")
        head, _, message = raw.partition("\n\n")
        tree, parents = "", []
        author = committer = Signature("", "", 0)
        for line in head.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = _parse_signature(value)
            elif key == "committer":
                committer = _parse_signature(value)
        return CommitInfo(sha, tree, tuple(parents), author, committer, message)

    def _ls(self, treeish: str, path: str | None) -> list[TreeEntry]:
        args = ["ls-tree", "-z", "-l", "--end-of-options", treeish]
        if path is not None:
            args += ["--", path]
        entries = []
        for item in self.run(args).split(b"\0"):
            if not item:
                continue
            meta, _, name = item.partition(b"\t")
            mode, kind, sha, size = meta.split()
            entries.append(
                TreeEntry(mode.decode(), kind.decode(), sha.decode(), name.decode(errors="replace"), _int(size))
            )
        return entries

    def entry(self, commit: str, path: str) -> TreeEntry | None:
        path = path.strip("/")
        if not path:
            return TreeEntry("040000", "tree", self.text(["rev-parse", f"{commit}^{{tree}}"]), "", 0)
        return next((e for e in self._ls(commit, path) if e.path == path), None)

    def list_dir(self, commit: str, path: str) -> list[TreeEntry]:
        path = path.strip("/")
        treeish = f"{commit}:{path}" if path else f"{commit}^{{tree}}"
        prefix = f"{path}/" if path else ""
        return [TreeEntry(e.mode, e.type, e.sha, prefix + e.path, e.size) for e in self._ls(treeish, None)]

    def blob(self, sha: str) -> bytes:
        return self.run(["cat-file", "blob", sha])

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            return self.text(["merge-base", a, b]) or None
        except GitError:
            return None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.ok(["merge-base", "--is-ancestor", ancestor, descendant])

    def last_commit(self, ref: str, path: str) -> str | None:
        out = self.text(["log", "-1", "--format=%H", ref, "--", path] if path else ["log", "-1", "--format=%H", ref])
        return out or None

    def rev_list(self, spec: list[str], limit: int = 20) -> list[str]:
        return self.text(["rev-list", f"--max-count={limit}", *spec]).split()

    def changed_files(self, base: str, head: str) -> list[dict[str, object]]:
        """Files changed from ``base`` to ``head``: filename, status, additions, deletions."""
        statuses: dict[str, str] = {}
        parts = self.run(["diff", "--no-renames", "--name-status", "-z", base, head]).split(b"\0")
        for code, raw_name in zip(parts[0::2], parts[1::2], strict=False):
            if code:
                statuses[raw_name.decode(errors="replace")] = code.decode()[:1]
        names = {"A": "added", "D": "deleted", "M": "changed"}
        files: list[dict[str, object]] = []
        for item in self.run(["diff", "--no-renames", "--numstat", "-z", base, head]).split(b"\0"):
            if not item:
                continue
            added, deleted, name = item.decode(errors="replace").split("\t", 2)
            files.append(
                {
                    "filename": name,
                    "status": names.get(statuses.get(name, "M"), "changed"),
                    "additions": _int(added.encode()),
                    "deletions": _int(deleted.encode()),
                }
            )
        return files

    # -- writing ---------------------------------------------------------------------------------------

    def hash_blob(self, data: bytes) -> str:
        return self.text_input(["hash-object", "-w", "--stdin"], data)

    def text_input(self, args: list[str], data: bytes) -> str:
        return self.run(args, data=data).decode().strip()

    def write_tree(self, parent: str | None, changes: dict[str, bytes | None]) -> str:
        """The tree of ``parent`` with ``changes`` applied (``None`` deletes the path)."""
        with tempfile.TemporaryDirectory(prefix="devforge-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.run(["read-tree", parent] if parent else ["read-tree", "--empty"], env=env)
            lines = []
            for path, data in changes.items():
                if data is None:  # mode 0 removes the entry
                    lines.append(f"0 {ZERO_SHA}\t{path}")
                else:
                    lines.append(f"100644 {self.hash_blob(data)}\t{path}")
            self.run(["update-index", "-z", "--index-info"], data="\0".join(lines).encode() + b"\0", env=env)
            return self.text(["write-tree"], env=env)

    def commit_tree(self, tree: str, parents: list[str], message: str, author: Signature, committer: Signature) -> str:
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": f"@{author.when} {author.offset}",
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": f"@{committer.when} {committer.offset}",
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.run(args, data=message.encode(), env=env).decode().strip()

    def update_ref(self, ref: str, new: str, old: str | None) -> bool:
        """Point ``ref`` at ``new`` if it still holds ``old`` (``ZERO_SHA``: must not exist yet)."""
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        return self.ok(args)

    def delete_ref(self, ref: str, old: str | None = None) -> bool:
        return self.ok(["update-ref", "-d", ref] + ([old] if old else []))

    def merge_tree(self, ours: str, theirs: str) -> tuple[str | None, list[str]]:
        """``(tree, [])`` for a clean merge of two commits; ``(None, conflicted paths)`` otherwise."""
        argv = ["git", f"--git-dir={self.path}", "merge-tree", "--write-tree", "--name-only", "--no-messages"]
        proc = subprocess.run(
            [*argv, ours, theirs], capture_output=True, env=_git_env(), timeout=self.timeout, check=False
        )
        lines = proc.stdout.decode(errors="replace").splitlines()
        if proc.returncode == 0 and lines:
            return lines[0].strip(), []
        if proc.returncode == 1:
            return None, [line for line in lines[1:] if line.strip()]
        raise GitError(["merge-tree"], proc.returncode, proc.stderr.decode(errors="replace"))


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0
