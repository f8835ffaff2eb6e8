"""The outcome model: decayed evidence per key and a Beta posterior over it (pure, no I/O).

Every key (a house's tool, a house's kind of issue) keeps ``Evidence``: the successes and failures seen,
each multiplied by ``decay`` whenever a newer outcome of the same key arrives, so the last ~1/(1-decay)
outcomes carry most of the weight and a tool that was fixed recovers its standing after a few successes.
``estimate`` turns evidence into a prediction: the mean of Beta(prior_mean x m + successes,
(1 - prior_mean) x m + failures), its standard deviation as the uncertainty, and the EWMA duration.

    ev = fold(Evidence(), ok=False, duration=0.2, decay=0.9)
    estimate(ev, prior_mean=0.8, prior_strength=2.0).probability   # 0.53: one failure against a 0.8 prior
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DURATION_ALPHA", "Estimate", "Evidence", "estimate", "fold"]

DURATION_ALPHA = 0.2  # the weight of the newest duration in the EWMA


@dataclass(frozen=True)
class Evidence:
    """What one key has seen: decayed successes and failures, the raw count, and its durations."""

    successes: float = 0.0
    failures: float = 0.0
    samples: int = 0
    ewma_duration: float = 0.0
    max_duration: float = 0.0

    @property
    def weight(self) -> float:
        """The decayed number of outcomes (successes + failures)."""
        return self.successes + self.failures


@dataclass(frozen=True)
class Estimate:
    """A prediction: P(success), its standard deviation, the outcomes behind it and the expected duration."""

    probability: float
    uncertainty: float
    samples: int
    expected_duration: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "success_probability": round(self.probability, 4),
            "uncertainty": round(self.uncertainty, 4),
            "samples": self.samples,
            "expected_duration": round(self.expected_duration, 6),
        }


def fold(evidence: Evidence, *, ok: bool, duration: float, decay: float, alpha: float = DURATION_ALPHA) -> Evidence:
    """``evidence`` after one more outcome: the old counts decayed, then the new one added."""
    first = evidence.samples == 0
    return Evidence(
        successes=evidence.successes * decay + (1.0 if ok else 0.0),
        failures=evidence.failures * decay + (0.0 if ok else 1.0),
        samples=evidence.samples + 1,
        ewma_duration=duration if first else (1 - alpha) * evidence.ewma_duration + alpha * duration,
        max_duration=max(evidence.max_duration, duration),
    )


def estimate(evidence: Evidence, *, prior_mean: float, prior_strength: float) -> Estimate:
    """The Beta posterior of ``evidence`` under a prior of mean ``prior_mean`` worth ``prior_strength`` outcomes."""
    prior_mean = min(0.999, max(0.001, prior_mean))
    a = prior_mean * prior_strength + evidence.successes
    b = (1.0 - prior_mean) * prior_strength + evidence.failures
    total = a + b
    mean = a / total
    spread = math.sqrt(a * b / (total * total * (total + 1.0)))
    return Estimate(mean, spread, evidence.samples, evidence.ewma_duration)
