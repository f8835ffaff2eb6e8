"""What every role is built from the same way: its house, its forge token and client, its repositories and
poll interval, the house's Harness. Configuration errors name the key to fix and where it was set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..forge.client import GiteaClient
from ..harness.core import Harness
from ..harness.runtime import Runtime
from ..policy.model import Mode
from .configs import Configs

__all__ = [
    "HarnessFactory",
    "blame",
    "house_harness",
    "role_forge",
    "role_house",
    "role_poll_seconds",
    "role_token",
    "watched_repos",
]


HarnessFactory = Callable[[str], Harness]
"""``task`` -> a Harness of one house for that task."""


def blame(settings: Settings, key: str) -> str:
    """Where to fix ``key``: where its value came from, or, for a default, where the roles were set."""
    origin = settings.origin(key)
    return settings.origin("roles") if origin == "default" else origin


def role_house(settings: Settings, runtime: Runtime, role: str, house: str | None, *, rule: str) -> str:
    """``house``, checked: set, known, and allowed by its policy's ``rules.<rule>``."""
    source = blame(settings, "house")
    if not house:
        raise ConfigError(f"the {role} role needs `house`: the house it acts as", source=source, key="house")
    if house not in runtime.houses:
        known = ", ".join(sorted(runtime.houses))
        raise ConfigError(f"no house {house!r} in {settings.houses_dir} (known: {known})", source=source, key="house")
    if not getattr(runtime.houses[house].rules, rule):
        raise ConfigError(f"house {house!r} may not act as the {role} (rules.{rule})", source=source, key="house")
    return house


def _forge_settings(settings: Settings, role: str, house: str) -> tuple[str, str]:
    """``gitea_url`` and the forge token, both set, or a ``ConfigError`` naming the one missing."""
    url, token = settings.gitea_url, settings.secret("gitea_token")
    if not url or not token:
        key = "gitea_url" if not url else "gitea_token"
        raise ConfigError(
            f"the {role} needs gitea_url and gitea_token (the token of {house}'s forge user)",
            source=blame(settings, key),
            key=key,
        )
    return url, token


def role_token(settings: Settings, role: str, house: str) -> str:
    """The forge token the ``role`` acts with (``house``'s forge user's), checked with ``gitea_url``."""
    return _forge_settings(settings, role, house)[1]


def role_forge(
    settings: Settings,
    runtime: Runtime,
    role: str,
    house: str,
    *,
    closing: contextlib.AsyncExitStack | None = None,
    **options: Any,
) -> GiteaClient:
    """A forge client acting as ``house``'s forge user, counted in the runtime's metrics; ``options`` are the
    client's (``timeout``, ``retries``, ``breaker``...). It closes with ``closing``; without one, the caller
    closes it."""
    url, token = _forge_settings(settings, role, house)
    client = GiteaClient(url, token, registry=runtime.metrics.registry, **options)
    if closing is not None:
        closing.push_async_callback(client.aclose)
    return client


def watched_repos(
    configs: Configs, role: str, own: tuple[str, ...] | None, *, source: str, key: str
) -> tuple[str, ...]:
    """The repositories ``role`` watches: its ``own`` (set at ``source``:``key``), or when unset (None, or empty
    for a setting that has no "unset") the dispatcher's ``dispatcher.repos``; none is a ``ConfigError``
    naming the key that left it empty."""
    if own is None:
        repos = configs.triage.dispatcher.repos
        source, key = str(configs.triage_path), "dispatcher.repos"
    else:
        repos = own
    if not repos:
        raise ConfigError(f"the {role} watches no repository: set {key}", source=source, key=key)
    return repos


def role_poll_seconds(configs: Configs, own: float | None) -> float:
    """The role's own poll interval, or when unset the dispatcher's ``dispatcher.poll_seconds``."""
    return own if own is not None else configs.triage.dispatcher.poll_seconds


def house_harness(
    runtime: Runtime, house: str, *, mode: Mode | None = None, token: str | None = None, forge_url: str = ""
) -> HarnessFactory:
    """``task`` -> ``Harness(house, mode)`` on ``runtime``; with ``token`` (the house's own forge token) on a view
    of the runtime whose ``ToolEnv`` carries it (and ``forge_url`` when the runtime names no forge), so that
    ``git_push`` authenticates as the house. A view per task: houses reloaded later reach later tasks."""

    def make(task: str) -> Harness:
        env, view = runtime.env, runtime
        if token is not None and not (env.gitea_token == token and env.gitea_url):
            view = runtime.with_env(replace(env, gitea_url=env.gitea_url or forge_url, gitea_token=token))
        return Harness(house, mode, runtime=view, task=task)

    return make
