"""The forge layout of an owner's mesh: the shipped ``configs/forge-layout.example.yaml`` made the owner's.

Its users, plus the owner; its mesh repository; its work repository renamed to ``--repo`` (the owner's by
default, seeded with the shipped template: a small Python project with tests); on both, the approvals
whitelist holds the owner beside the layout's approvers (timmy), and the hooks point at the dispatcher's
daemon.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from ..configfile import PACKAGE_DIR, shipped
from ..errors import ConfigError
from ..forge.bootstrap import OWNER, HookSpec, MeshLayout, ProtectionSpec, RepoSpec, load_layout
from ..reporef import RepoRef
from .paths import DEVFORGE_ADMIN

__all__ = ["WORK_REPO", "check_login", "mesh_repos", "owner_layout", "template_dir", "template_files"]

WORK_REPO = "work"
"""The name of the work repository in the shipped layout, and of the owner's by default."""
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_SKIPPED = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def template_dir() -> Path:
    """The work repository's template: inside the wheel, or the repository's ``templates/work``."""
    for candidate in (PACKAGE_DIR / "_defaults" / "templates" / "work", PACKAGE_DIR.parent / "templates" / "work"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("the work repository's template is missing from this installation (templates/work)")


def template_files(root: Path | None = None) -> dict[str, str]:
    """Every file of the template as ``relative/path -> text``, sorted (caches left out)."""
    root = root or template_dir()
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not _SKIPPED & set(relative.parts) and path.suffix != ".pyc":
            files[relative.as_posix()] = path.read_text(encoding="utf-8")
    return files


def check_login(login: str, layout: MeshLayout, *, option: str = "--owner") -> str:
    """``login`` as the owner's forge login: a valid name, none of the houses', the organisation's or the
    devforge admin's."""
    if not _LOGIN.match(login):
        raise ConfigError(f"{login!r} is not a forge login (letters, digits, '-', '_', '.')", source=option)
    taken = {u.name.lower() for u in layout.users} | {layout.org.lower(), DEVFORGE_ADMIN}
    if login.lower() in taken:
        raise ConfigError(f"{login!r} is a house's, the organisation's or the forge admin's name", source=option)
    return login


def _repo(spec: RepoSpec, *, hook_url: str, name: str | None = None, owned: bool = False) -> RepoSpec:
    """``spec`` with the owner among its approvers, its hooks delivering at ``hook_url``; ``owned``: the owner's
    own repository (the owner is no collaborator of it)."""
    protection = tuple(
        rule.model_copy(update={"approvals_whitelist": (*dict.fromkeys((*rule.approvals_whitelist, OWNER)),)})
        for rule in spec.protection
    )
    hooks = tuple(HookSpec(url=hook_url, events=hook.events) for hook in spec.hooks[:1]) or (HookSpec(url=hook_url),)
    collaborators = {user: p for user, p in spec.collaborators.items() if not (owned and user == OWNER)}
    update = {"name": name or spec.name, "protection": protection, "hooks": hooks, "collaborators": collaborators}
    return spec.model_copy(update=update)


def owner_layout(owner: str, work: RepoRef, hook_url: str, files: dict[str, str]) -> MeshLayout:
    """The shipped layout for ``owner``, with ``work`` as the work repository (seeded with ``files``)."""
    base = load_layout(shipped("forge-layout.example.yaml"), owner=owner)
    check_login(owner, base)
    mesh = [r for r in base.repos if r.name != WORK_REPO]
    template = next((r for r in base.repos if r.name == WORK_REPO), None) or _default_work(base)
    if work.owner not in (owner, base.org):
        raise ConfigError(f"the work repository belongs to the owner ({owner}) or to {base.org}", source="--repo")
    if work.owner == base.org and any(r.name == work.name for r in mesh):
        raise ConfigError(f"{work} is the mesh's own repository: choose another", source="--repo")
    repos = [_repo(r, hook_url=hook_url) for r in mesh]
    owned = work.owner == owner
    work_spec = _repo(template, hook_url=hook_url, name=work.name, owned=owned)
    update = {"owner": OWNER if owned else None, "files": files, "description": "the owner's work"}
    return base.model_copy(update={"repos": (*repos, work_spec.model_copy(update=update))})


def mesh_repos() -> list[str]:
    """owner/name of the mesh's own repositories (the shipped layout's, but the work repository)."""
    base = load_layout(shipped("forge-layout.example.yaml"))
    return [f"{base.org}/{r.name}" for r in base.repos if r.name != WORK_REPO]


def _default_work(base: MeshLayout) -> RepoSpec:
    """A work repository like the mesh's own, when the shipped layout has none."""
    houses: dict[str, Literal["read", "write", "admin"]] = {
        u.name: ("admin" if u.name == "timmy" else "write") for u in base.users
    }
    labels = base.repos[0].labels if base.repos else ()
    rule = ProtectionSpec(
        rule_name="main",
        required_approvals=1,
        approvals_whitelist=("timmy",),
        merge_whitelist=("timmy",),
        status_check_contexts=("uni-wizard/proof",),
        dismiss_stale_approvals=True,
    )
    return RepoSpec(name=WORK_REPO, collaborators=houses, labels=labels, protection=(rule,))
