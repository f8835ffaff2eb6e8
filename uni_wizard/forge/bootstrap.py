"""``uni-wizard forge bootstrap``: create a whole mesh layout through the Gitea API, on any Gitea.

Users and their tokens, an organisation, repositories with collaborators, labels, branch
protection and webhooks are created only through the public API, as an operator would, so the
same layout file works against a real Gitea and the devforge. Running it again changes nothing
that is already there (it is idempotent): every step looks before it creates.

Secrets go to ``secrets_dir`` (mode 0600): ``<user>.password`` and ``<user>.token`` for every
house user, and ``webhook.secret``. They are never printed.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, NotFound
from ..policy.loader import read_yaml, validation_error
from .client import GiteaClient

__all__ = ["BootstrapReport", "MeshLayout", "bootstrap", "load_layout"]


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
    description: str = ""
    private: bool = False
    default_branch: str = "main"
    collaborators: dict[str, Literal["read", "write", "admin"]] = Field(default_factory=dict)
    labels: tuple[LabelSpec, ...] = ()
    protection: tuple[ProtectionSpec, ...] = ()
    hooks: tuple[HookSpec, ...] = ()


class MeshLayout(_Strict):
    org: str = Field(description="Organisation owning the repositories.")
    users: tuple[UserSpec, ...] = ()
    repos: tuple[RepoSpec, ...] = ()


def load_layout(path: Path) -> MeshLayout:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a layout file must be a mapping of keys", source=str(path))
    try:
        return MeshLayout.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None


@dataclass
class BootstrapReport:
    """What each step did, per thing: ``created``; ``exists``; ``ensured`` (an idempotent write such as a
    collaborator); or ``exists, differs: ...`` when something is there with other settings than the layout's,
    which bootstrap reports and leaves for the operator (it never rewrites what a person may have changed)."""

    steps: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, outcome: str) -> None:
        self.steps.append((what, outcome))

    @property
    def created(self) -> int:
        return sum(1 for _, outcome in self.steps if outcome == "created")


def _secret_file(path: Path, make: bool = True) -> str | None:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
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
    admin: tuple[str, str],
    secrets_dir: Path,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BootstrapReport:
    """Create ``layout`` on the forge at ``url`` as the site admin ``admin`` (user, password)."""
    report = BootstrapReport()
    async with GiteaClient(url, username=admin[0], password=admin[1], transport=transport) as forge:
        await forge.me()  # fail early and clearly on a wrong admin password
        for user in layout.users:
            await _ensure_user(forge, user, secrets_dir, report)
        for user in layout.users:
            await _ensure_token(url, user.name, secrets_dir, transport, report)
        await _ensure_org(forge, layout.org, report)
        for repo in layout.repos:
            await _ensure_repo(forge, layout.org, repo, secrets_dir, report)
    return report


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


async def _ensure_org(forge: GiteaClient, org: str, report: BootstrapReport) -> None:
    try:
        await forge.get_user(org)  # organisations are users too
        report.add(f"org {org}", "exists")
    except NotFound:
        await forge.create_org(org)
        report.add(f"org {org}", "created")


async def _ensure_repo(
    forge: GiteaClient, org: str, repo: RepoSpec, secrets_dir: Path, report: BootstrapReport
) -> None:
    where = f"{org}/{repo.name}"
    try:
        await forge.get_repo(org, repo.name)
        report.add(f"repo {where}", "exists")
    except NotFound:
        await forge.create_repo(
            repo.name,
            org=org,
            description=repo.description,
            private=repo.private,
            auto_init=True,
            default_branch=repo.default_branch,
        )
        report.add(f"repo {where}", "created")
    for user, permission in repo.collaborators.items():
        await forge.add_collaborator(org, repo.name, user, permission)  # PUT: idempotent
        report.add(f"collaborator {user} on {where} ({permission})", "ensured")
    existing_labels = {label.name for label in await forge.list_labels(org, repo.name)}
    for label in repo.labels:
        await forge.ensure_label(
            org, repo.name, label.name, label.color, description=label.description, exclusive=label.exclusive
        )
        report.add(f"label {label.name} on {where}", "exists" if label.name in existing_labels else "created")
    rules = {p.rule_name: p for p in await forge.list_branch_protections(org, repo.name)}
    for rule in repo.protection:
        if rule.rule_name in rules:
            have = rules[rule.rule_name].required_approvals
            differs = f", differs: required_approvals {have} (layout {rule.required_approvals})"
            report.add(
                f"protection {rule.rule_name} on {where}",
                "exists" + (differs if have != rule.required_approvals else ""),
            )
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
    if repo.hooks:
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
                events = sorted(hooks[hook.url].events)
                differs = f", differs: events {events}" if events != sorted(hook.events) else ""
                report.add(f"hook {hook.url} on {where}", "exists" + differs)
                continue
            await forge.create_hook(org, repo.name, hook.url, secret, events=hook.events)
            report.add(f"hook {hook.url} on {where}", "created")
