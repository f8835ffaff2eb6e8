"""Pure: is a change low risk? Only low-risk upgrades may be approved by the reviewer itself.

>>> rules = RiskRules()
>>> assess(["docs/runbook.md"], 12, rules).low
True
>>> assess(["houses/ezra.yaml"], 2, rules).reasons
('it touches paths that are never low risk: houses/ezra.yaml',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..review.extension import matches, matching
from .config import RiskRules

__all__ = ["Risk", "assess"]


@dataclass(frozen=True)
class Risk:
    """``low`` when no rule objects; ``reasons`` says which rules did, as sentences."""

    low: bool
    reasons: tuple[str, ...]

    @property
    def level(self) -> str:
        return "low" if self.low else "high"


def _listed(paths: Sequence[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def assess(paths: Sequence[str], lines: int, rules: RiskRules) -> Risk:
    """The risk of changing ``paths`` (both sides of renames) by ``lines`` lines under ``rules``."""
    reasons = []
    if not paths:
        reasons.append("it changes no file")
    pinned = matching(paths, rules.package_pin_paths)
    if pinned:
        reasons.append(f"it changes the package version pin: {_listed(pinned)}")
    never = matching(paths, rules.never_low_paths)
    if never:
        reasons.append(f"it touches paths that are never low risk: {_listed(never)}")
    other = [p for p in paths if not matches(p, rules.low_risk_paths) and p not in never and p not in pinned]
    if other:
        reasons.append(f"it touches paths outside the low-risk globs: {_listed(other)}")
    if lines > rules.low_risk_max_lines:
        reasons.append(f"it changes {lines} lines, more than the {rules.low_risk_max_lines} of a low-risk change")
    return Risk(not reasons, tuple(reasons))
