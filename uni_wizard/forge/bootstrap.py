"""``uni-wizard forge bootstrap``: create a whole mesh layout through the Gitea API, on any Gitea.

Users and their tokens, an organisation, repositories with collaborators, labels, branch
protection and webhooks are created only through the public API, as an operator would, so the
same layout file works against a real Gitea and the devforge. Running it again changes nothing
that is already there (it is idempotent): every step looks before it creates.

Secrets go to ``secrets_dir`` (mode 0600): ``<user>.password`` and ``<user>.token`` for every
house user (and the owner, when bootstrap creates the owner's account), and ``webhook.secret``. They are
never printed.

The owner (``owner:``, a login; ``load_layout(path, owner=login)`` or ``MeshLayout.with_owner`` set it) is a
user like the houses; ``{owner}`` anywhere in the layout stands for its login, so the shipped layout makes the
owner a repository admin and puts it on the approvals and merge whitelists beside Timmy: the owner's
approval is official (GITEA_FACTS §4), and counts.

The site admin signs in with a password (``admin``) or a token (``admin_token``: Gitea creates users with
either; each user's own token is still made with that user's password). A repository may belong to a user
instead of the organisation (``owner``: created with that user's token) and may be seeded with ``files``,
written to its default branch while it has no branch protection yet (bootstrap protects it afterwards).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import read_secret_file
from ..configfile import load_model
from ..errors import ConfigError, NotFound
from .client import GiteaClient
from .models import BranchProtection

__all__ = ["OWNER", "BootstrapReport", "MeshLayout", "bootstrap", "load_layout"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserSpec(_Strict):
    name: str = Field(description="Login of the house user.")
    email: str = Field(description="E-mail address (Gitea requires one).")


class LabelSpec(_Strict):
    name: str
    color: str
    description: str = ""
    exclusive: bool = False


class ProtectionSpec(_Strict):
    rule_name: str = Field(description="Branch glob, e.g. main.")
    required_approvals: int = 0
    approvals_whitelist: tuple[str, ...] = ()
    status_check_contexts: tuple[str, ...] = ()
    merge_whitelist: tuple[str, ...] = ()
    dismiss_stale_approvals: bool = False
    block_on_rejected_reviews: bool = True


class HookSpec(_Strict):
    url: str = Field(description="Where the forge delivers (the daemon's /hooks/gitea).")
    events: tuple[str, ...] = ("issues", "issue_comment", "pull_request", "pull_request_review", "status", "push")


class RepoSpec(_Strict):
    name: str
    owner: str | None = Field(
        None, description="The user owning it (created with that user's token); default: the organisation."
    )
    description: str = ""
    private: bool = False
    default_branch: str = "main"
    collaborators: dict[str, Literal["read", "write", "admin"]] = Field(default_factory=dict)
    labels: tuple[LabelSpec, ...] = ()
    protection: tuple[ProtectionSpec, ...] = ()
    hooks: tuple[HookSpec, ...] = ()
    files: dict[str, str] = Field(
        default_factory=dict, description="path -> text, seeded on the default branch before it is protected."
    )


OWNER = "{owner}"
"""Stands for the owner's login anywhere in a layout (a collaborator, a whitelist, a repository's owner)."""


class MeshLayout(_Strict):
    org: str = Field(description="Organisation owning the repositories.")
    owner: UserSpec | None = Field(
        None,
        description="The human owner: a login, or {name, email}. Created like a house user when missing (password "
        "and token in the secrets directory); `{owner}` anywhere in the layout stands for its login, so the "
        "shipped layout whitelists the owner's approvals and merges beside Timmy's.",
    )
    users: tuple[UserSpec, ...] = ()
    repos: tuple[RepoSpec, ...] = ()

    @field_validator("owner", mode="before")
    @classmethod
    def _login_alone(cls, value: Any) -> Any:
        return {"name": value, "email": f"{value}@mesh.invalid"} if isinstance(value, str) else value

    def with_owner(self, login: str, email: str | None = None) -> MeshLayout:
        """This layout for the owner ``login`` (what ``uni-wizard init`` passes)."""
        owner = UserSpec(name=login, email=email or f"{login}@mesh.invalid")
        return self.model_copy(update={"owner": owner})

    def resolved(self) -> MeshLayout:
        """This layout with every ``{owner}`` replaced by the owner's login; ``ConfigError`` naming ``owner``
        when the layout uses it without naming the owner."""
        data = self.model_dump()
        login = self.owner.name if self.owner is not None else None

        def swap(value: Any) -> Any:
            if isinstance(value, dict):
                return {swap(k): swap(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [swap(v) for v in value]
            if value == OWNER:
                if login is None:
                    raise ConfigError(f"the layout uses {OWNER} but names no owner: set `owner: <login>`", key="owner")
                return login
            return value

        return MeshLayout.model_validate(swap(data))


def load_layout(path: Path, *, owner: str | None = None) -> MeshLayout:
    """The layout in ``path``; ``owner``: the owner's login, instead of the file's ``owner``."""
    layout = load_model(MeshLayout, path, kind="a layout file")
    return layout if owner is None else layout.with_owner(owner)


@dataclass
class BootstrapReport:
    """What each step did, per thing: ``created``; ``exists``; ``unchanged (...)`` (seed files of a repository
    that is protected already); or ``exists, differs: ...`` when something is there with other settings than the
    layout's, which bootstrap reports and leaves for the operator (it never rewrites what a person may have
    changed; a collaborator's permission included)."""

    steps: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, outcome: str) -> None:
        self.steps.append((what, outcome))

    @property
    def created(self) -> int:
        return sum(1 for _, outcome in self.steps if outcome == "created")


def _secret_file(path: Path, make: bool = True) -> str | None:
    """The secret in ``path`` (unreadable, not UTF-8 or empty: ``ConfigError``), made when missing and ``make``."""
    if path.exists():
        return read_secret_file(path, source=str(path.parent), key=path.name)
    if not make:
        return None
    value = secrets.token_urlsafe(24)
    _write_secret(path, value)
    return value


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")


async def bootstrap(
    layout: MeshLayout,
    *,
    url: str,
    admin: tuple[str, str] | None = None,
    admin_token: str | None = None,
    secrets_dir: Path,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BootstrapReport:
    """Create ``layout`` on the forge at ``url`` as the site admin: ``admin`` (user, password) or ``admin_token``."""
    report = BootstrapReport()
    layout = layout.resolved()
    if admin_token is None and admin is None:
        raise ConfigError("bootstrap needs the site admin: a USER:PASSWORD or a token")
    login, password = admin if admin_token is None and admin is not None else (None, None)
    async with GiteaClient(url, admin_token, username=login, password=password, transport=transport) as forge:
        await forge.me()  # fail early and clearly on a wrong admin password
        for user in layout.users:
            await _ensure_user(forge, user, secrets_dir, report)
        for user in layout.users:
            await _ensure_token(url, user.name, secrets_dir, transport, report)
        if layout.owner is not None:
            await _ensure_owner(forge, url, layout.owner, secrets_dir, transport, report)
        await _ensure_org(forge, layout.org, report)
        for repo in layout.repos:
            where = _Where(repo.owner or layout.org, repo.name, url, secrets_dir, transport)
            await _ensure_repo(forge, where, repo, report)
    return report


@dataclass(frozen=True)
class _Where:
    """A repository of the layout: its owner and name, and how to act as its owner (a user's repository)."""

    owner: str
    name: str
    url: str
    secrets_dir: Path
    transport: httpx.AsyncBaseTransport | None

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    def as_owner(self) -> GiteaClient:
        """A client acting as the owning user, with its token from the secrets directory."""
        token_file = self.secrets_dir / f"{self.owner}.token"
        token = _secret_file(token_file, make=False)
        if token is None:
            raise ConfigError(
                f"the repository {self} belongs to the user {self.owner}, whose token is not in {token_file}",
                source=str(self.secrets_dir),
            )
        return GiteaClient(self.url, token, transport=self.transport)


async def _ensure_user(forge: GiteaClient, user: UserSpec, secrets_dir: Path, report: BootstrapReport) -> None:
    try:
        await forge.get_user(user.name)
    except NotFound:
        password = _secret_file(secrets_dir / f"{user.name}.password")
        assert password is not None
        await forge.create_user(user.name, user.email, password)
        report.add(f"user {user.name}", "created")
        return
    report.add(f"user {user.name}", "exists")


async def _ensure_token(
    url: str, name: str, secrets_dir: Path, transport: httpx.AsyncBaseTransport | None, report: BootstrapReport
) -> None:
    token_file = secrets_dir / f"{name}.token"
    if token_file.exists():
        report.add(f"token {name}", "exists")
        return
    password = _secret_file(secrets_dir / f"{name}.password", make=False)
    if password is None:
        raise ConfigError(
            f"user {name} exists but its password is not in {secrets_dir}; create a token for it by hand "
            f"and save it as {token_file}",
            source=str(secrets_dir),
        )
    async with GiteaClient(url, username=name, password=password, transport=transport) as as_user:
        token = await as_user.create_token(name, f"uni-wizard-{secrets.token_hex(4)}")
    _write_secret(token_file, token.sha1)
    report.add(f"token {name}", "created")


async def _ensure_owner(
    forge: GiteaClient,
    url: str,
    owner: UserSpec,
    secrets_dir: Path,
    transport: httpx.AsyncBaseTransport | None,
    report: BootstrapReport,
) -> None:
    """The owner's user, made like a house user when missing; an owner who had an account before keeps it as it
    is (no token is made without its password in the secrets directory)."""
    await _ensure_user(forge, owner, secrets_dir, report)
    if (secrets_dir / f"{owner.name}.token").exists() or (secrets_dir / f"{owner.name}.password").exists():
        await _ensure_token(url, owner.name, secrets_dir, transport, report)
    else:
        report.add(f"token {owner.name}", "exists (the owner's own account: no token made)")


async def _ensure_org(forge: GiteaClient, org: str, report: BootstrapReport) -> None:
    try:
        await forge.get_user(org)  # organisations are users too
        report.add(f"org {org}", "exists")
    except NotFound:
        await forge.create_org(org)
        report.add(f"org {org}", "created")


async def _ensure_repo(forge: GiteaClient, where: _Where, repo: RepoSpec, report: BootstrapReport) -> None:
    """The repository, its collaborators, labels, seed files, branch protections and webhooks: created when
    missing, reported as they are otherwise."""
    owner = where.owner
    try:
        await forge.get_repo(owner, repo.name)
        report.add(f"repo {where}", "exists")
    except NotFound:
        async with contextlib.AsyncExitStack() as stack:
            creator = forge if repo.owner is None else await stack.enter_async_context(where.as_owner())
            await creator.create_repo(
                repo.name,
                org=None if repo.owner else owner,
                description=repo.description,
                private=repo.private,
                auto_init=not repo.files,  # seeded: its files make the first commit (and the README, if any)
                default_branch=repo.default_branch,
            )
        report.add(f"repo {where}", "created")
    collaborators = {user.login for user in await forge.list_collaborators(owner, repo.name)}
    for user, permission in repo.collaborators.items():
        if user in collaborators:  # a permission changed since is a person's decision: left as it is
            report.add(f"collaborator {user} on {where}", "exists")
            continue
        await forge.add_collaborator(owner, repo.name, user, permission)
        report.add(f"collaborator {user} on {where} ({permission})", "created")
    existing_labels = {label.name for label in await forge.list_labels(owner, repo.name)}
    for label in repo.labels:
        await forge.ensure_label(
            owner, repo.name, label.name, label.color, description=label.description, exclusive=label.exclusive
        )
        report.add(f"label {label.name} on {where}", "exists" if label.name in existing_labels else "created")
    rules = {p.rule_name: p for p in await forge.list_branch_protections(owner, repo.name)}
    if repo.files:
        await _ensure_files(forge, where, repo, protected=bool(rules), report=report)
    await _ensure_protections(forge, where, repo, rules, report)
    if repo.hooks:
        await _ensure_hooks(forge, owner, repo, where.secrets_dir, report)


async def _ensure_files(
    forge: GiteaClient, where: _Where, repo: RepoSpec, *, protected: bool, report: BootstrapReport
) -> None:
    """Each seed file missing from the default branch, committed (as the owning user for a user's repository).
    A protected repository is left as it is: its files change through pull requests."""
    if protected:
        report.add(f"seed files of {where}", "unchanged (the repository is protected)")
        return
    async with contextlib.AsyncExitStack() as stack:
        writer = forge if repo.owner is None else await stack.enter_async_context(where.as_owner())
        for path, text in repo.files.items():
            try:
                await forge.get_contents(where.owner, repo.name, path, ref=repo.default_branch)
                report.add(f"file {path} in {where}", "exists")
            except NotFound:
                await writer.create_file(where.owner, repo.name, path, text.encode(), f"Add {path}")
                report.add(f"file {path} in {where}", "created")


def _protection_differs(have: BranchProtection, rule: ProtectionSpec) -> str:
    """``, differs: ...`` naming what an existing rule has other than the layout's, or nothing."""
    differs = []
    if have.required_approvals != rule.required_approvals:
        differs.append(f"required_approvals {have.required_approvals} (layout {rule.required_approvals})")
    missing = sorted(set(rule.approvals_whitelist) - set(have.approvals_whitelist_username))
    if missing:
        differs.append(f"approvals whitelist lacks {', '.join(missing)}")
    return f", differs: {'; '.join(differs)}" if differs else ""


async def _ensure_protections(
    forge: GiteaClient, where: _Where, repo: RepoSpec, rules: dict[str, BranchProtection], report: BootstrapReport
) -> None:
    org = where.owner
    for rule in repo.protection:
        if rule.rule_name in rules:
            differs = _protection_differs(rules[rule.rule_name], rule)
            report.add(f"protection {rule.rule_name} on {where}", "exists" + differs)
            continue
        await forge.create_branch_protection(
            org,
            repo.name,
            rule.rule_name,
            required_approvals=rule.required_approvals,
            enable_approvals_whitelist=bool(rule.approvals_whitelist),
            approvals_whitelist_username=rule.approvals_whitelist,
            enable_status_check=bool(rule.status_check_contexts),
            status_check_contexts=rule.status_check_contexts,
            enable_merge_whitelist=bool(rule.merge_whitelist),
            merge_whitelist_usernames=rule.merge_whitelist,
            dismiss_stale_approvals=rule.dismiss_stale_approvals,
            block_on_rejected_reviews=rule.block_on_rejected_reviews,
        )
        report.add(f"protection {rule.rule_name} on {where}", "created")


async def _ensure_hooks(
    forge: GiteaClient, org: str, repo: RepoSpec, secrets_dir: Path, report: BootstrapReport
) -> None:
    where = f"{org}/{repo.name}"
    hooks = {hook.url: hook for hook in await forge.list_hooks(org, repo.name)}
    secret_file = secrets_dir / "webhook.secret"
    if hooks and not secret_file.exists():
        # the forge never shows a hook's secret: a new one would make every delivery fail with 401
        raise ConfigError(
            f"hooks exist on {where} but {secret_file} is missing; restore it, or delete the hooks so "
            "bootstrap can create them with a new secret",
            source=str(secrets_dir),
        )
    secret = _secret_file(secret_file)
    assert secret is not None
    for hook in repo.hooks:
        if hook.url in hooks:
            # the forge lists the sub-events an event stands for too (issues: issue_assign, issue_label, ...)
            missing = sorted(set(hook.events) - set(hooks[hook.url].events))
            differs = f", differs: it does not deliver {', '.join(missing)}" if missing else ""
            report.add(f"hook {hook.url} on {where}", "exists" + differs)
            continue
        await forge.create_hook(org, repo.name, hook.url, secret, events=hook.events)
        report.add(f"hook {hook.url} on {where}", "created")
