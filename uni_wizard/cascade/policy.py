"""The owner's allow/deny policy over providers and models: one pure decision per (provider, model).

Local first: a cloud provider is used only when ``allow_cloud`` is true; deny globs (provider names,
URL hosts, model names) always win; a model must match an ``allow_models`` glob. Globs are
case-insensitive shell patterns (``*``, ``?``, ``[...]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from .config import CascadePolicy, ProviderConfig

__all__ = ["Verdict", "decide_model", "decide_provider"]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


def _matches(value: str, patterns: tuple[str, ...]) -> str | None:
    lowered = value.lower()
    return next((p for p in patterns if fnmatchcase(lowered, p.lower())), None)


def decide_provider(policy: CascadePolicy, provider: ProviderConfig) -> Verdict:
    """May this provider be contacted at all?"""
    if provider.kind not in policy.allow_kinds:
        return Verdict(False, f"kind {provider.kind} is not in policy.allow_kinds")
    if provider.cloud and not policy.allow_cloud:
        return Verdict(False, "cloud provider: the policy allows local providers only (policy.allow_cloud)")
    pattern = _matches(provider.name, policy.deny_providers)
    if pattern:
        return Verdict(False, f"provider name matches policy.deny_providers {pattern!r}")
    pattern = _matches(urlsplit(provider.url).hostname or "", policy.deny_hosts)
    if pattern:
        return Verdict(False, f"host matches policy.deny_hosts {pattern!r}")
    return Verdict(True)


def decide_model(policy: CascadePolicy, provider: ProviderConfig, model: str) -> Verdict:
    """May this model be used on this provider?"""
    verdict = decide_provider(policy, provider)
    if not verdict.allowed:
        return verdict
    pattern = _matches(model, policy.deny_models)
    if pattern:
        return Verdict(False, f"model matches policy.deny_models {pattern!r}")
    if _matches(model, policy.allow_models) is None:
        return Verdict(False, "model matches no policy.allow_models pattern")
    return Verdict(True)
