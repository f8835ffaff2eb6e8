"""``configs/triage.yaml``: the vocabulary of triage, the labels and colours, routing weights, the sweep.

Everything Allegro decides by is data here; unknown keys are errors naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..configfile import load_model, shipped
from ..reporef import RepoName
from .commands import HOLD_COLOR, HOLD_DESCRIPTION

__all__ = [
    "DispatcherSettings",
    "KindRule",
    "LabelSpec",
    "PriorityRule",
    "RoutingWeights",
    "TriageConfig",
    "TriageLimits",
    "default_triage_path",
    "load_triage_config",
]

STATUSES = ("triage", "routed", "in-progress", "review", "done", "blocked")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(_Strict):
    name: str
    color: str = Field(pattern=r"^#?[0-9a-fA-F]{6}$")
    description: str = ""
    exclusive: bool = False


class KindRule(_Strict):
    tokens: dict[str, float] = Field(
        description="Words or phrases (matched as whole tokens, never substrings) and their weights."
    )
    labels: tuple[str, ...] = Field((), description="Existing issue labels that decide this kind outright.")
    color: str = Field("#c5def5", pattern=r"^#?[0-9a-fA-F]{6}$")


class PriorityRule(_Strict):
    priority: str = Field(pattern=r"^P[0-3]$")
    any_tokens: tuple[str, ...] = Field((), description="Any of these words or phrases in the title or body.")
    kinds: tuple[str, ...] = Field((), description="Only for these kinds (empty: any kind).")
    labels: tuple[str, ...] = Field((), description="Any of these existing labels.")
    name: str = Field("", description="Shown in the audit comment.")


class EpicRule(_Strict):
    tokens: tuple[str, ...] = ("epic", "roadmap", "umbrella", "tracking issue")
    labels: tuple[str, ...] = ("epic",)
    min_checklist_items: int = Field(5, description="A body with this many '- [ ]' items is an epic.")


class NeedsInfoRule(_Strict):
    headings: tuple[str, ...] = Field(
        ("acceptance criteria", "definition of done", "expected behaviour", "expected behavior", "steps to reproduce"),
        description="Any of these (as a heading or a line prefix) counts as acceptance criteria.",
    )
    checklist_counts: bool = Field(True, description="A '- [ ]' checklist counts as acceptance criteria.")
    min_body_words: int = Field(0, description="Bodies shorter than this need info even with criteria.")


class DuplicateRule(_Strict):
    threshold: float = Field(0.6, gt=0, le=1, description="Similarity (0..1) at which an open issue is named.")
    search: Literal["memory", "bag-of-stems"] = Field(
        "memory",
        description="Where duplicates are searched: the forge's memory (FTS5 BM25 over issues, kept current by the "
        "sweep and the webhooks) or the bag-of-stems cosine over the open issues the dispatcher has seen.",
    )
    memory_threshold: float = Field(
        0.4,
        gt=0,
        le=1,
        description="The same when the memory's search (FTS5 BM25, scored against the issue's own score) finds them.",
    )
    max_suggestions: int = Field(3, ge=0)


class RoutingWeights(_Strict):
    text: float = Field(0.55, ge=0, description="Token match of the issue against the house's keywords.")
    history: float = Field(0.2, ge=0, description="Success rate of the house on this kind (with a prior).")
    load: float = Field(0.15, ge=0, description="Free capacity: open assignments against max_concurrency.")
    bid: float = Field(0.1, ge=0, description="Cheaper bid_rate scores higher.")
    prior_successes: float = Field(2.0, ge=0, description="Prior successes, so a new house gets work.")
    prior_attempts: float = Field(3.0, gt=0, description="Prior attempts (prior rate = successes/attempts).")


class TriageLimits(_Strict):
    """How much of an issue's text triage, routing and duplicate detection read (docs/OPERATIONS.md).

    The rest is not read at all: a body of megabytes costs what its first ``body_chars`` cost. An issue
    that was cut says so in its audit comment.
    """

    title_chars: int = Field(1024, ge=1, description="Characters of the title read (Gitea's titles are <= 255).")
    body_chars: int = Field(32768, ge=1, description="Characters of the body read, for the issue and each open one.")


class DispatcherSettings(_Strict):
    repos: tuple[RepoName, ...] = Field(
        (),
        description="owner/name of every repository the dispatcher watches (and, unless they name their own, "
        "the worker and the reviewer).",
    )
    poll_seconds: float = Field(5.0, gt=0, description="How often the queue and the incremental sweep run.")
    full_sweep_minutes: float = Field(10.0, gt=0, description="How often every open issue is re-derived.")
    claim_ttl_minutes: float = Field(30.0, gt=0, description="A claim not renewed within this is requeued.")
    triage_comment: bool = Field(True, description="Post the triage and routing audit comment.")
    triage_workers: Literal["process", "thread"] = Field(
        "process",
        description="Where triage, duplicate detection, routing and the decoding of large forge answers run: a "
        "worker process (the event loop keeps the GIL) or a thread (docs/BENCHMARKS.md compares them).",
    )
    hold_label: str = Field(
        "hold", min_length=1, description="An open issue carrying it is not triaged, routed or assigned (`/hold`)."
    )
    idle_summary_minutes: float = Field(
        60.0,
        ge=0,
        description="A sweep that repaired nothing writes no `sweep.finished` event; instead one `sweep.summary` "
        "counts the idle sweeps every this many minutes (0: never).",
    )


class TriageConfig(_Strict):
    kinds: dict[str, KindRule]
    default_kind: str = "task"
    priorities: tuple[PriorityRule, ...] = ()
    default_priority: str = Field("P2", pattern=r"^P[0-3]$")
    epic: EpicRule = Field(default_factory=EpicRule)
    needs_info: NeedsInfoRule = Field(default_factory=NeedsInfoRule)
    duplicates: DuplicateRule = Field(default_factory=DuplicateRule)
    limits: TriageLimits = Field(default_factory=TriageLimits)
    routing: RoutingWeights = Field(default_factory=RoutingWeights)
    dispatcher: DispatcherSettings = Field(default_factory=DispatcherSettings)
    status_colors: dict[str, str] = Field(
        default_factory=lambda: {
            "triage": "#ededed",
            "routed": "#c5def5",
            "in-progress": "#fbca04",
            "review": "#5319e7",
            "done": "#0e8a16",
            "blocked": "#b60205",
        }
    )
    priority_colors: dict[str, str] = Field(
        default_factory=lambda: {"P0": "#b60205", "P1": "#d93f0b", "P2": "#fbca04", "P3": "#c2e0c6"}
    )
    house_color: str = "#1d76db"
    epic_color: str = "#3e4b9e"
    needs_info_color: str = "#d876e3"

    @field_validator("status_colors")
    @classmethod
    def _every_status(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [s for s in STATUSES if s not in value]
        if missing:
            raise ValueError(f"missing colours for {missing}")
        return value

    @model_validator(mode="after")
    def _known_default_kind(self) -> TriageConfig:
        if not self.kinds:
            raise ValueError("kinds: at least one kind is needed")
        return self

    def labels(self, houses: tuple[str, ...] = ()) -> tuple[LabelSpec, ...]:
        """Every label the dispatcher uses, with its colour; scoped ones exclusive."""
        specs = [LabelSpec(name=f"status/{s}", color=c, exclusive=True) for s, c in self.status_colors.items()]
        specs += [LabelSpec(name=f"priority/{p}", color=c, exclusive=True) for p, c in self.priority_colors.items()]
        specs += [LabelSpec(name=f"kind/{k}", color=rule.color, exclusive=True) for k, rule in self.kinds.items()]
        if self.default_kind not in self.kinds:
            specs.append(LabelSpec(name=f"kind/{self.default_kind}", color="#ededed", exclusive=True))
        specs += [LabelSpec(name=f"house/{h}", color=self.house_color, exclusive=True) for h in houses]
        specs += [
            LabelSpec(name="epic", color=self.epic_color, description="decomposed into child issues"),
            LabelSpec(name="needs-info", color=self.needs_info_color, description="no acceptance criteria yet"),
            LabelSpec(name=self.dispatcher.hold_label, color=HOLD_COLOR, description=HOLD_DESCRIPTION),
        ]
        return tuple(specs)


def default_triage_path() -> Path:
    return shipped("triage.yaml")


def load_triage_config(path: Path | None = None) -> TriageConfig:
    """``configs/triage.yaml`` from ``path`` (default: the shipped one); see ``configfile.load_model``."""
    return load_model(TriageConfig, path, default=default_triage_path(), kind="a triage file")
