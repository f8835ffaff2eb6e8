"""What the pattern database and routing predict, for ``uni-wizard predict`` and ``GET /api/v1/predict``.

    tool_prediction(runtime, "bezalel", "git_status", {"repo_path": "/srv/work/api"})
    issue_prediction(runtime, "Fix the crash in the parser")

A tool's prediction is the one an INTELLIGENT call of it would get now (``PatternDB.predict``: success
probability, uncertainty, samples, expected duration, the adapted timeout and retries, ``likely_failure``);
an issue's is the triage and routing ``uni-wizard route`` shows, each house with its predicted success on
the issue's kind. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ToolCallError
from ..harness.runtime import Runtime
from ..intelligence.patterns import shape_of
from .config import load_triage_config
from .history import RoutingLedger
from .routing import route
from .triage import bound, triage
from .types import IssueText

__all__ = ["issue_prediction", "parse_args", "tool_prediction"]

MAX_ISSUE_CHARS = 20_000


def parse_args(pairs: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a mapping; ``ToolCallError`` for an item without ``=`` or with an empty key."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ToolCallError(f"--args takes key=value, not {pair!r}")
        out[key.strip()] = value
    return out


def tool_prediction(runtime: Runtime, house: str, tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The prediction an INTELLIGENT call of ``tool`` by ``house`` with ``args`` would get now.

    ``ConfigError`` for an unknown house, ``ToolCallError`` for an unknown tool."""
    runtime.policy(house)  # an unknown house is a ConfigError
    spec = runtime.registry.get(tool)
    retries = runtime.settings.max_retries if spec.idempotent else 0
    shape = shape_of(args)
    found = runtime.patterns.predict(house, spec.name, declared_timeout=spec.timeout, max_retries=retries, shape=shape)
    return {
        "house": house,
        "tool": spec.name,
        "shape": shape,
        "declared_timeout": spec.timeout,
        **found.as_dict(),
        "sentence": found.sentence(),
    }


def issue_prediction(runtime: Runtime, text: str) -> dict[str, Any]:
    """Which house routing would choose for an issue of ``text`` (first line the title), and each eligible
    house's predicted success on its kind. ``ToolCallError`` for an empty or oversized text."""
    if not text.strip():
        raise ToolCallError("the issue text is empty")
    if len(text) > MAX_ISSUE_CHARS:
        raise ToolCallError(f"the issue text is longer than {MAX_ISSUE_CHARS} characters")
    config = load_triage_config(runtime.settings.triage_config)
    lines = text.strip().splitlines()
    issue = bound(IssueText(number=0, title=lines[0].strip(), body="\n".join(lines[1:]).strip()), config.limits)
    verdict = triage(issue, config)
    history = RoutingLedger(runtime.store).history(verdict.kind)
    decision = route(issue, verdict.kind, runtime.houses, history=history, load={}, weights=config.routing)
    houses = [
        {
            "house": c.house,
            "predicted_success": c.history,
            "uncertainty": c.uncertainty,
            "samples": c.samples,
            "total": c.total,
        }
        for c in decision.candidates
        if c.eligible
    ]
    return {
        "title": issue.title,
        "kind": verdict.kind,
        "chosen": decision.chosen,
        "runner_up": decision.runner_up,
        "reason": decision.reason,
        "houses": houses,
    }
