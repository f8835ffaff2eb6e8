"""The model's clients, built from settings: the cascade, the worker's agent planner, triage's classifier.

Two switches in the settings, both off by default (then no model is contacted and nothing changes):

- ``planner: model``: a worker does an issue without a playbook with the model planner (the agent loop of
  ``planner.py``), within ``planner_max_steps`` / ``planner_max_tokens`` / ``planner_max_seconds``;
  with ``planner: playbook`` such an issue is blocked with a comment asking for a playbook;
- ``triage_model: true``: the dispatcher's triage asks the model for an issue's kind (the rules decide
  when it cannot answer).

Both use the cascade of ``cascade_config``; a daemon builds one and passes it to both (``model=``).
"""

from __future__ import annotations

from ..config import Settings
from ..harness.runtime import Runtime
from .cascade import Cascade
from .classifier import ModelClassifier
from .config import load_cascade_config
from .planner import AgentBudget, AgentPlanner
from .types import CompletionClient

__all__ = ["build_agent_planner", "build_classifier", "cascade_from_settings"]


def cascade_from_settings(settings: Settings, runtime: Runtime) -> Cascade:
    """The cascade of ``settings.cascade_config`` (the shipped one when unset), its metrics on the runtime's
    registry. The caller owns it: ``await cascade.aclose()`` when done."""
    return Cascade.from_config(load_cascade_config(settings.cascade_config), registry=runtime.metrics.registry)


def build_agent_planner(settings: Settings, model: CompletionClient) -> AgentPlanner | None:
    """The model planner when ``settings.planner`` is ``model``; ``None`` (issues need a playbook) otherwise."""
    if settings.planner != "model":
        return None
    budget = AgentBudget(
        max_steps=settings.planner_max_steps,
        max_tokens=settings.planner_max_tokens,
        max_seconds=settings.planner_max_seconds,
    )
    return AgentPlanner(model, budget=budget)


def build_classifier(settings: Settings, model: CompletionClient) -> ModelClassifier | None:
    """Triage's model classifier when ``settings.triage_model`` is on; ``None`` (the rules alone) otherwise."""
    return ModelClassifier(model) if settings.triage_model else None
