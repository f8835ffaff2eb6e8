"""What every daemon role needs from the settings: its house, its forge token and client, its repositories.

The dispatcher, the worker and the reviewer are built from the same settings the same way; their
configuration errors name the key to fix.
"""

from __future__ import annotations

from .config import Settings
from .errors import ConfigError
from .forge.client import GiteaClient
from .harness.runtime import Runtime

__all__ = ["role_forge", "role_house", "role_repos", "role_token"]


def role_house(settings: Settings, runtime: Runtime, role: str, house: str | None, *, rule: str) -> str:
    """``house``, checked: set, known, and allowed by its policy's ``rules.<rule>``."""
    if not house:
        raise ConfigError(f"the {role} role needs `house`: the house it acts as", key="house")
    if house not in runtime.houses:
        raise ConfigError(f"no house {house!r} in {settings.houses_dir}", key="house")
    if not getattr(runtime.houses[house].rules, rule):
        raise ConfigError(f"house {house!r} may not act as the {role} (rules.{rule})", key="house")
    return house


def role_token(settings: Settings, role: str, house: str) -> str:
    token = settings.secret("gitea_token")
    if not settings.gitea_url or not token:
        raise ConfigError(
            f"the {role} needs gitea_url and gitea_token (the token of {house}'s forge user)", key="gitea_url"
        )
    return token


def role_forge(settings: Settings, runtime: Runtime, role: str, house: str) -> GiteaClient:
    """A forge client acting as ``house``'s forge user, counted in the runtime's metrics."""
    assert settings.gitea_url is not None
    return GiteaClient(settings.gitea_url, role_token(settings, role, house), registry=runtime.metrics.registry)


def role_repos(settings: Settings, role: str) -> tuple[str, ...]:
    """The repositories of ``configs/triage.yaml`` ``dispatcher.repos``, which every role watches."""
    from .dispatch.config import load_triage_config

    repos = load_triage_config(settings.triage_config).dispatcher.repos
    if not repos:
        raise ConfigError(f"the {role} watches no repository: set dispatcher.repos", key="dispatcher.repos")
    return repos
