"""Repository permissions and the per-request repository context.

Access modes as Gitea's: none < read < write < admin < owner. Site admins and owners (the owning user,
or an owner of the owning organisation) are owners; collaborators get what they were given; anyone may
read a public repository. A private repository the caller cannot read is a 404, never a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .auth import Caller, require_scope
from .core import Forge
from .db import Row
from .errors import forbidden, locked, not_found, unauthorized
from .git import GitRepo

__all__ = [
    "ADMIN",
    "MODE_NAMES",
    "NONE",
    "OWNER",
    "READ",
    "WRITE",
    "RepoCtx",
    "access_mode",
    "load_repo",
    "user_by_name",
]

NONE, READ, WRITE, ADMIN, OWNER = 0, 1, 2, 3, 4
MODE_NAMES = {NONE: "none", READ: "read", WRITE: "write", ADMIN: "admin", OWNER: "owner"}
MODE_BY_NAME = {name: mode for mode, name in MODE_NAMES.items()}


def user_by_name(forge: Forge, name: str, *, orgs: bool = True) -> Row | None:
    if orgs:
        return forge.db.one("SELECT * FROM users WHERE lower_login = ?", (name.lower(),))
    return forge.db.one("SELECT * FROM users WHERE lower_login = ? AND is_org = 0", (name.lower(),))


def access_mode(forge: Forge, user: Row | None, repo: Row) -> int:
    public = READ if not repo["private"] else NONE
    if user is None:
        return public
    if user["is_admin"] or repo["owner_id"] == user["id"]:
        return OWNER
    if forge.db.one("SELECT 1 FROM org_owners WHERE org_id = ? AND user_id = ?", (repo["owner_id"], user["id"])):
        return OWNER
    row = forge.db.one("SELECT mode FROM collaborators WHERE repo_id = ? AND user_id = ?", (repo["id"], user["id"]))
    return max(public, int(row["mode"]) if row else NONE)


@dataclass
class RepoCtx:
    forge: Forge
    caller: Caller
    repo: Row
    owner: Row
    mode: int

    @property
    def id(self) -> int:
        return int(self.repo["id"])

    @property
    def full_name(self) -> str:
        return f"{self.owner['login']}/{self.repo['name']}"

    @cached_property
    def git(self) -> GitRepo:
        return GitRepo(self.forge.repo_dir(self.owner["login"], self.repo["name"]), timeout=self.forge.git_timeout)

    def api(self, path: str = "") -> str:
        return self.forge.api_url(f"repos/{self.full_name}{path}")

    def html(self, path: str = "") -> str:
        return self.forge.html_url(f"{self.full_name}{path}")

    def reload(self) -> Row:
        row = self.forge.db.one("SELECT * FROM repos WHERE id = ?", (self.id,))
        if row is None:
            raise not_found()
        self.repo = row
        return row

    def can_write(self) -> bool:
        return self.mode >= WRITE

    def require(self, mode: int, message: str = "", *, bodiless: bool = False) -> None:
        if self.mode < mode:
            raise forbidden(message or _default_message(mode), bodiless=bodiless)


def _default_message(mode: int) -> str:
    if mode >= ADMIN:
        return "user should be an owner or a site admin"
    return "user should have a permission to write to a repo"


def load_repo(
    forge: Forge,
    caller: Caller,
    owner: str,
    name: str,
    *,
    need: int = READ,
    area: str = "repository",
    message: str = "",
    bodiless: bool = False,
    allow_archived: bool = False,
    mutates: bool | None = None,
) -> RepoCtx:
    """The repository ``owner/name`` as the caller may see it.

    Order as in Gitea's middleware: token required (401) for writes, token scope (403), repository
    lookup and visibility (404), permission (403), archived (423). ``mutates`` (default: ``need`` is
    write) refuses an archived repository even for calls a reader may make (a comment, a new issue).
    """
    writing = need >= WRITE
    if writing and caller.user is None:
        raise unauthorized("token is required")
    require_scope(caller, area, write=writing)
    owner_row = user_by_name(forge, owner)
    if owner_row is None:
        raise not_found()
    repo = forge.db.one("SELECT * FROM repos WHERE owner_id = ? AND lower_name = ?", (owner_row["id"], name.lower()))
    if repo is None:
        raise not_found()
    mode = access_mode(forge, caller.user, repo)
    if mode < READ:
        raise not_found()
    ctx = RepoCtx(forge, caller, repo, owner_row, mode)
    if mode < need:
        raise forbidden(message or _default_message(need), bodiless=bodiless)
    if (writing if mutates is None else mutates) and repo["archived"] and not allow_archived:
        raise locked()
    return ctx
