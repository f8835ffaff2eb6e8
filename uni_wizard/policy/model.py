"""The house policy: a typed model of ``houses/<name>.yaml``.

Every field carries a description; ``docs/POLICY.md`` is generated from them
(``python -m uni_wizard.policy.docs``). Unknown keys are errors.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["House", "HousePolicy", "Mode", "ModeFloor", "PathRules", "Rules", "ToolRules", "highest"]


class Mode(StrEnum):
    """How much the Harness does around a call (DESIGN §3)."""

    SIMPLE = "simple"
    INTELLIGENT = "intelligent"
    SOVEREIGN = "sovereign"


class House(StrEnum):
    """The four houses the mesh ships with; any other name in ``houses/`` works too."""

    TIMMY = "timmy"
    EZRA = "ezra"
    BEZALEL = "bezalel"
    ALLEGRO = "allegro"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolRules(_Strict):
    allow: tuple[str, ...] = Field(
        (),
        description="Glob patterns of tools the house may call, matched against `group:name` and `name` "
        "(`git:*`, `file_read`). A tool no pattern allows is denied.",
    )
    deny: tuple[str, ...] = Field(
        (), description="Glob patterns of tools the house may never call; deny wins over allow."
    )
    needs_approval: tuple[str, ...] = Field(
        (),
        description="Glob patterns of tools that run only after a sovereign approval, in every mode "
        "(the call returns `pending_approval` until then).",
    )


class PathRules(_Strict):
    read: tuple[str, ...] = Field(
        (),
        description="Roots the house may read under. `~` and `{workspace}` (the host's workspace "
        "directory) are expanded; symlinks are resolved before the check. Write roots are readable too.",
    )
    write: tuple[str, ...] = Field((), description="Roots the house may write under (same expansion as `read`).")


class Rules(_Strict):
    read_before_write: bool = Field(
        False,
        description="Writing an existing file is denied unless the same task read it first (Ezra's rule).",
    )
    proof_required: bool = Field(
        False, description="A pull request needs a successful `uni-wizard/proof` status before review."
    )
    may_approve: bool = Field(False, description="May approve pull requests and sovereign approval requests.")
    may_merge: bool = Field(False, description="May merge approved pull requests.")
    may_push_default_branch: bool = Field(
        False, description="May push to the repository's default branch (otherwise only other branches)."
    )
    may_close_issues: bool = Field(False, description="May close issues directly (merges close them otherwise).")
    may_take_issues: bool = Field(
        True, description="May be routed issues to work on; the dispatcher house never routes work to itself."
    )


_MODE_ORDER = {Mode.SIMPLE: 0, Mode.INTELLIGENT: 1, Mode.SOVEREIGN: 2}


def highest(*modes: Mode) -> Mode:
    """The mode that does the most of ``modes`` (SIMPLE < INTELLIGENT < SOVEREIGN)."""
    return max(modes, key=_MODE_ORDER.__getitem__)


class ModeFloor(_Strict):
    """The lowest mode a call may run in: a caller may ask for more, never for less."""

    all: Mode = Field(Mode.SIMPLE, description="Lowest mode of every call of the house.")
    mutating: Mode = Field(
        Mode.INTELLIGENT,
        description="Lowest mode of a call to a tool that changes things (so it always leaves a provenance record).",
    )
    tools: dict[str, Mode] = Field(
        default_factory=dict,
        description="Lowest mode per tool: glob patterns matched like `tools.allow` (`git:git_push: sovereign`).",
    )


class HousePolicy(_Strict):
    name: str = Field(description="The house's name; must equal the file's stem (`ezra` for `ezra.yaml`).")
    role: str = Field(description="One line: what the house is for.")
    gitea_user: str = Field(description="The forge user the house acts as.")
    capabilities: tuple[str, ...] = Field((), description="What the house is good at; used by routing.")
    keywords: tuple[str, ...] = Field(
        (), description="Words (matched as whole tokens, never substrings) that suggest routing an issue here."
    )
    bid_rate: float = Field(
        1.0, ge=0.0, le=10.0, description="Relative cost of the house's work; routing prefers cheaper bids."
    )
    tools: ToolRules = Field(default_factory=ToolRules, description="Which tools the house may call.")
    paths: PathRules = Field(default_factory=PathRules, description="Where the house may read and write.")
    rules: Rules = Field(default_factory=Rules, description="The house's rules.")
    max_concurrency: int = Field(1, ge=1, le=64, description="Most issues the house works on at once.")
    default_mode: Mode = Field(Mode.INTELLIGENT, description="Mode used when a caller names none.")
    mode_floor: ModeFloor = Field(
        default_factory=ModeFloor,
        description="The lowest mode per tool: a caller's mode below it is raised to it (provenance cannot be "
        "skipped by asking for SIMPLE).",
    )

    @field_validator("name", "gitea_user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value or not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("must be letters, digits, '-' or '_'")
        return value

    def bind(self, *, workspace: Path) -> HousePolicy:
        """Return this policy with its path roots expanded and resolved (symlinks followed)."""

        def expand(root: str) -> str:
            text = os.path.expanduser(root.replace("{workspace}", str(workspace)))
            return os.path.realpath(text)

        paths = PathRules(read=tuple(map(expand, self.paths.read)), write=tuple(map(expand, self.paths.write)))
        return self.model_copy(update={"paths": paths})
