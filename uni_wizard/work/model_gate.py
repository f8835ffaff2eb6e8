"""``planner: auto``: before an issue without a playbook, ask the cascade whether any provider can take it.

``CascadeGate(cascade).check()`` probes every provider of the cascade once, concurrently (Ollama
``/api/tags``, an OpenAI-compatible ``/models``; each at most ``health.timeout_seconds``), then calls a
provider usable when it answered, its circuit breaker is not open, the policy allows at least one of its
models and, for Ollama, one of those models is pulled. The others are listed with the reason, for the
comment that blocks the issue when none is usable. A provider that answers re-admits its open breaker, as
the daemon's health probe does.
"""

from __future__ import annotations

from ..cascade.cascade import Cascade
from ..cascade.provider import Provider
from .types import ModelCheck

__all__ = ["CascadeGate"]


class CascadeGate:
    """The ``ModelGate`` of a ``Cascade``."""

    def __init__(self, cascade: Cascade) -> None:
        self.cascade = cascade

    async def check(self) -> ModelCheck:
        cascade = self.cascade
        await cascade.probe_once()
        usable: list[str] = []
        problems: list[str] = []
        for provider in cascade.providers:
            models = [t.model.name for t in cascade.targets if t.provider is provider]
            problem = _problem(provider, models)
            if problem:
                problems.append(f"{_name(provider)}: {problem}")
            else:
                usable.append(f"{provider.name} ({', '.join(models)})")
        for row in cascade.status()["providers"]:
            if row.get("allowed") is False:
                problems.append(f"`{row['name']}` ({row.get('url', '?')}): not used: {row.get('denied', 'denied')}")
        if not cascade.providers and not problems:
            problems.append("the cascade file lists no provider under `providers`")
        return ModelCheck(tuple(usable), tuple(problems))


def _name(provider: Provider) -> str:
    return f"`{provider.name}` ({provider.config.kind} at {provider.config.url})"


def _problem(provider: Provider, models: list[str]) -> str:
    """Why ``provider`` cannot take a request now ("" when it can)."""
    if not models:
        return "the cascade policy allows none of its models"
    if provider.reachable is False:
        return f"no answer to `GET {provider.protocol.health_path}` (is the server running?)"
    if not provider.usable():
        why = f": {provider.last_error}" if provider.last_error else ""
        return f"its circuit breaker is open after failed requests{why}"
    pulled = provider.listed_models is None or any(provider.has_model(model) for model in models)
    if provider.config.kind == "ollama" and not pulled:
        return f"it answers, but none of its models is pulled ({', '.join(models)}): `ollama pull {models[0]}`"
    return ""
