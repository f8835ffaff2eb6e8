"""What flows through Allegro's lane: the issue as text, the triage verdict, the routing decision.

These are plain frozen values; triage and routing are pure functions over them, the dispatcher does
the I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = ["Candidate", "Classifier", "ClassifierVerdict", "IssueText", "RoutingDecision", "Runner", "TriageResult"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class IssueText:
    """An issue as triage and routing see it.

    ``cut`` is set when ``triage.bound`` shortened the text: the (title, body) lengths of the issue as filed.
    """

    number: int
    title: str
    body: str = ""
    labels: tuple[str, ...] = ()
    cut: tuple[int, int] | None = None


@dataclass(frozen=True)
class TriageResult:
    """The triage verdict for one issue.

    ``labels`` are the labels triage wants on the issue (``kind/<x>``, ``priority/P<n>``, and ``epic`` /
    ``needs-info`` when they apply); the dispatcher adds the ``status/*`` and ``house/*`` labels.
    ``reasons`` are sentences for the audit comment.
    """

    kind: str
    priority: str  # "P0".."P3"
    kind_scores: Mapping[str, float] = field(default_factory=dict)
    priority_rule: str = "default"
    epic: bool = False
    needs_info: bool = False
    duplicates: tuple[tuple[int, float], ...] = ()  # (issue number, similarity), most similar first
    labels: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    classifier: str = "rules"  # or "model:<name>" when the model seam decided the kind
    duplicate_search: str = "bag-of-stems"  # or "memory (FTS5 BM25)": which search found ``duplicates``


@dataclass(frozen=True)
class ClassifierVerdict:
    kind: str
    confidence: float
    model: str


class Runner(Protocol):
    """Runs a pure function somewhere (inline, a thread, a worker process) and awaits its result."""

    def __call__(self, fn: Callable[..., _T], /, *args: Any) -> Awaitable[_T]: ...


class Classifier(Protocol):
    """The seam for a model classifier (the cascade fills it); used only when a model is configured."""

    async def classify(self, issue: IssueText, kinds: Sequence[str]) -> ClassifierVerdict | None: ...


@dataclass(frozen=True)
class Candidate:
    """One house's score for one issue, with its parts (each in 0..1 before weighting)."""

    house: str
    text: float
    history: float
    load: float
    bid: float
    total: float
    eligible: bool = True
    why: str = ""  # why not eligible, or a short note
    samples: int = 0  # the outcomes on this kind behind ``history`` (the predicted success)
    uncertainty: float = 0.0  # the standard deviation of that prediction


@dataclass(frozen=True)
class RoutingDecision:
    """The binding decision: ``chosen`` is what gets assigned. Candidates are sorted best first."""

    chosen: str | None
    candidates: tuple[Candidate, ...]
    runner_up: str | None = None
    reason: str = ""
