"""The in-memory forge behind ``FakeForge``: users, repositories and their objects, and the request gate.

Plain mutable records (``FUser``, ``FRepo``, ``FIssue``...) hold the state; ``ForgeState`` owns them with
the clock, the id counters, the recorded ``calls`` and the injected failures. ``FakeSession`` is what every
API mixin shares: who is calling, the repository lookups, the errors (built the way
``uni_wizard.forge.status.error_for_response`` builds them) and ``record``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http import HTTPStatus
from typing import Any, TypeVar, cast

from ..errors import ForgeError, ForgeUnavailable, NotFound, Unauthorized, Unprocessable

__all__ = [
    "FComment",
    "FCommit",
    "FIssue",
    "FLabel",
    "FPull",
    "FRepo",
    "FReview",
    "FRule",
    "FStatus",
    "FUser",
    "FakeSession",
    "ForgeState",
    "api",
    "blob_sha",
    "first_line",
    "moment",
    "seconds",
]

F = TypeVar("F", bound=Callable[..., Coroutine[Any, Any, Any]])


def blob_sha(data: bytes) -> str:
    """The git blob SHA-1 of ``data`` (what Gitea's contents API calls a file's ``sha``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped (how ``calls`` names a body)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def seconds(when: datetime) -> int:
    """``when`` as Unix seconds, as the client sends it (naive means UTC, fractions dropped)."""
    return int((when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp())


def moment(unix: int | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


@dataclass
class FUser:
    id: int
    login: str
    full_name: str = ""
    email: str = ""
    is_admin: bool = False

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "full_name": self.full_name, "email": self.email,
                "is_admin": self.is_admin}  # fmt: skip


@dataclass
class FLabel:
    id: int
    name: str
    color: str  # rrggbb, lower case, no '#'
    description: str = ""
    exclusive: bool = False
    is_archived: bool = False

    @property
    def scope(self) -> str:
        """The scope of an exclusive ``scope/value`` label (up to the last "/"), "" for others."""
        cut = self.name.rfind("/")
        return self.name[:cut] if self.exclusive and 0 < cut < len(self.name) - 1 else ""


@dataclass
class FComment:
    id: int
    poster: str
    body: str
    created: int
    updated: int


@dataclass
class FPull:
    id: int
    head_ref: str
    base_ref: str
    head_sha: str
    merged: bool = False
    merged_at: int | None = None
    merge_commit_sha: str | None = None
    held: bool = False  # Gitea's conflict check still running (or conflicts): mergeable is false
    reviews: list[FReview] = field(default_factory=list)


@dataclass
class FIssue:
    id: int
    number: int
    title: str
    body: str
    poster: str
    created: int
    updated: int
    state: str = "open"
    closed: int | None = None
    labels: list[int] = field(default_factory=list)  # label ids
    assignees: list[str] = field(default_factory=list)  # logins
    comments: list[FComment] = field(default_factory=list)
    pull: FPull | None = None


@dataclass
class FReview:
    id: int
    reviewer: str
    state: str
    body: str
    commit_id: str
    official: bool
    stale: bool = False
    dismissed: bool = False


@dataclass
class FStatus:
    id: int
    sha: str
    context: str
    state: str
    description: str = ""
    target_url: str = ""


@dataclass
class FCommit:
    sha: str
    parents: tuple[str, ...]
    tree: dict[str, bytes]  # the whole snapshot: path -> content
    message: str


@dataclass
class FRule:
    """A branch protection rule: the fields the fake's merge gates read."""

    name: str
    required_approvals: int = 0
    enable_approvals_whitelist: bool = False
    approvals_whitelist_username: tuple[str, ...] = ()
    block_on_rejected_reviews: bool = False
    block_on_outdated_branch: bool = False
    dismiss_stale_approvals: bool = False
    ignore_stale_approvals: bool = False
    enable_status_check: bool = False
    status_check_contexts: tuple[str, ...] = ()
    enable_push: bool = False  # False: no direct pushes (contents writes) to the branch at all

    def matches(self, branch: str) -> bool:
        return self.name == branch or fnmatchcase(branch, self.name)


@dataclass
class FRepo:
    id: int
    owner: str
    name: str
    default_branch: str = "main"
    private: bool = False
    admins: set[str] = field(default_factory=set)
    labels: dict[int, FLabel] = field(default_factory=dict)
    issues: dict[int, FIssue] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head commit sha
    commits: dict[str, FCommit] = field(default_factory=dict)
    statuses: list[FStatus] = field(default_factory=list)
    rules: list[FRule] = field(default_factory=list)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def rule_for(self, branch: str) -> FRule | None:
        """The rule protecting ``branch``: a plain name before a glob, as Gitea picks it."""
        plain = [r for r in self.rules if r.name == branch]
        return next(iter(plain or [r for r in self.rules if r.matches(branch)]), None)

    def resolve(self, ref: str) -> str | None:
        """A branch name, a full sha or a unique prefix of at least 4 hex digits, as a commit sha."""
        if ref in self.branches:
            return self.branches[ref]
        if ref in self.commits:
            return ref
        found = [sha for sha in self.commits if len(ref) >= 4 and sha.startswith(ref.lower())]
        return found[0] if len(found) == 1 else None

    def is_ancestor(self, old: str, new: str) -> bool:
        seen, todo = set(), [new]
        while todo:
            sha = todo.pop()
            if sha == old:
                return True
            if sha not in seen and sha in self.commits:
                seen.add(sha)
                todo.extend(self.commits[sha].parents)
        return False


class ForgeState:
    """Everything one fake forge holds, shared by the ``FakeForge`` views of each of its users."""

    def __init__(self, clock: Callable[[], float], root_url: str) -> None:
        self.clock = clock
        self.root_url = root_url.rstrip("/") + "/"
        self.users: dict[str, FUser] = {}  # by lower-case login
        self.tokens: dict[str, str] = {}  # token -> login
        self.repos: dict[str, FRepo] = {}  # by lower-case "owner/name"
        self.calls: list[str] = []
        self.failures: dict[str, list[ForgeError | ForgeUnavailable]] = {}
        self._ids: dict[str, Iterator[int]] = {}
        self._commits = itertools.count(1)

    def now(self) -> int:
        return int(self.clock())

    def next_id(self, kind: str) -> int:
        """The next id of ``kind`` (each kind its own space, as Gitea's tables)."""
        return next(self._ids.setdefault(kind, itertools.count(1)))

    def user(self, login: str) -> FUser | None:
        return self.users.get(login.lower())

    def commit(self, repo: FRepo, parents: tuple[str, ...], tree: dict[str, bytes], message: str) -> str:
        """A new commit (a synthetic, stable sha) with the whole ``tree``; its sha."""
        seed = f"{repo.full_name}\0{next(self._commits)}\0{','.join(parents)}\0{message}".encode()
        sha = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
        repo.commits[sha] = FCommit(sha, parents, dict(tree), message)
        return sha


def api(method: F) -> F:
    """Marks an API call: the caller's token is checked and an injected failure (``FakeForge.fail``) raised
    before the call runs."""

    @functools.wraps(method)
    async def gated(self: FakeSession, *args: Any, **kwargs: Any) -> Any:
        self._gate(method.__name__)
        return await method(self, *args, **kwargs)

    return cast(F, gated)


class FakeSession:
    """What every part of ``FakeForge`` shares: the state, the caller, lookups, errors and ``record``."""

    _state: ForgeState
    _login: str | None  # None: a token the forge does not know

    @property
    def base_url(self) -> str:
        return self._state.root_url + "api/v1"

    @property
    def calls(self) -> list[str]:
        """Every accepted write, as a readable line (see ``FakeForge``); ``calls.clear()`` resets it."""
        return self._state.calls

    def record(self, line: str) -> None:
        self._state.calls.append(line)

    def _gate(self, name: str) -> None:
        if self._login is None:
            raise self._error(Unauthorized, "GET", "/user", "invalid username, password or token")
        queued = self._state.failures.get(name)
        if queued:
            raise queued.pop(0)

    def _error(self, cls: type[ForgeError], method: str, path: str, message: str, status: int = 0) -> ForgeError:
        """``cls`` as the client raises it for this answer: status, message, URL and Gitea's body."""
        status = status or cls.status
        url = self.base_url + path
        detail = message or HTTPStatus(status).phrase
        error = cls(f"forge {method} {url}: HTTP {status}: {detail}", status=status, url=url,
                    body={"message": message, "url": self._state.root_url + "api/swagger"})  # fmt: skip
        error.message = message
        return error

    def _assignable(self, names: Sequence[str], method: str, path: str) -> list[str]:
        """The logins of ``names`` (in order, once each); 422 for one the forge does not know."""
        logins: list[str] = []
        for name in names:
            if not name:
                continue
            user = self._state.user(name)
            if user is None:
                raise self._error(Unprocessable, method, path, f"Assignee does not exist: [name: {name}]")
            if user.login not in logins:
                logins.append(user.login)
        return logins

    def _caller(self) -> FUser:
        user = self._state.user(self._login or "")
        assert user is not None  # _gate let the call in
        return user

    def _repo(self, owner: str, repo: str, method: str = "GET") -> FRepo:
        found = self._state.repos.get(f"{owner}/{repo}".lower())
        if found is None:
            raise self._error(NotFound, method, f"/repos/{owner}/{repo}", "not found")
        return found

    def _is_admin(self, repo: FRepo) -> bool:
        user = self._caller()
        return user.is_admin or user.login in repo.admins or user.login.lower() == repo.owner.lower()

    def _issue(self, repo: FRepo, index: int, method: str = "GET", cls: type[ForgeError] = NotFound) -> FIssue:
        found = repo.issues.get(index)
        if found is None:
            message = "not found" if cls is NotFound else ""
            raise self._error(cls, method, f"/repos/{repo.full_name}/issues/{index}", message)
        return found

    def _pull(self, repo: FRepo, index: int, method: str = "GET") -> tuple[FIssue, FPull]:
        issue = repo.issues.get(index)
        if issue is None or issue.pull is None:
            raise self._error(NotFound, method, f"/repos/{repo.full_name}/pulls/{index}", "not found")
        return issue, issue.pull
