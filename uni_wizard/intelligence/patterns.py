"""The pattern database: what each house's calls of each tool did, and what to expect next time.

INTELLIGENT and SOVEREIGN calls ask ``predict`` before running (success probability with its uncertainty,
expected duration, the timeout and retry budget adapted from them, and whether the call is likely to fail)
and ``learn`` after, only for calls that ran (the Harness never teaches it a breaker refusal, a denial or
a pending approval). Evidence lives in memory for speed and is written through to the ``tool_outcomes``
table (migration 8) in the call's own provenance transaction.

Predictions are hierarchical (``model.estimate`` at each level, the level above as its prior):

    every call  →  the tool on every house  →  the house's tool  →  the house's tool on one repository

so a house's first calls of a tool start from how that tool does elsewhere, not from 0.5, and one
repository's failures (the "shape" of the arguments) do not condemn the tool on the others.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..store import Store, utc_now
from .model import DURATION_ALPHA, Estimate, Evidence, estimate, fold

__all__ = ["ALL", "SHAPE_KEYS", "PatternDB", "Prediction", "shape_of"]

ALL = "*"  # the house (or tool) of an aggregate row: every house (every tool)
SHAPE_KEYS = ("repository", "repo", "repo_path")  # the arguments whose value is a call's "shape"
MAX_SHAPE_CHARS = 200
Key = tuple[str, str, str]  # (house, tool, shape)


def shape_of(args: Mapping[str, Any]) -> str:
    """The shape of a call's arguments: the repository it acts on ('' when it names none)."""
    for name in SHAPE_KEYS:
        value = args.get(name)
        if isinstance(value, str) and value:  # a lone surrogate (hostile input) is kept as its escape: storable
            return value[:MAX_SHAPE_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")
    return ""


@dataclass(frozen=True)
class Prediction:
    """What the pattern database expects of one call, and the budget it advises.

    ``likely_failure``: the call is predicted to fail with high confidence (probability under
    ``PatternDB.fail_below`` with two standard deviations still under 0.5, on at least ``min_flag_samples``
    outcomes of this house's tool). ``basis`` names the most specific level the estimate rests on."""

    success_probability: float
    uncertainty: float
    expected_duration: float
    samples: int
    timeout: float
    retries: int
    likely_failure: bool = False
    basis: str = "prior"

    def as_dict(self) -> dict[str, Any]:
        return {
            "success_probability": round(self.success_probability, 4),
            "uncertainty": round(self.uncertainty, 4),
            "expected_duration": round(self.expected_duration, 6),
            "samples": self.samples,
            "timeout": self.timeout,
            "retries": self.retries,
            "likely_failure": self.likely_failure,
            "basis": self.basis,
        }

    def sentence(self) -> str:
        """One line for a person (the approver, the CLI)."""
        flag = "; likely to fail" if self.likely_failure else ""
        return (
            f"predicted success {self.success_probability:.0%} ± {self.uncertainty:.0%} "
            f"from {self.samples} outcome{'s' if self.samples != 1 else ''} ({self.basis}), "
            f"expected {self.expected_duration:.2f} s{flag}"
        )


def _without(above: Evidence, part: Evidence) -> Evidence:
    """The evidence of ``above`` that is not ``part``'s (a level minus one of its members), never negative."""
    return Evidence(
        max(0.0, above.successes - part.successes),
        max(0.0, above.failures - part.failures),
        max(0, above.samples - part.samples),
    )


class PatternDB:
    """Evidence per (house, tool[, shape]), with the rules that turn it into advice.

    - decay: each new outcome of a key multiplies that key's older evidence by ``decay`` (0.9: the last
      ten or so outcomes dominate), so a fixed tool recovers and a broken one loses its standing quickly.
    - timeout: with at least ``min_samples`` calls, ``min(declared, max(floor, 10 x ewma, 2 x max))``.
    - retries: none when the call is ``likely_failure`` (retrying only delays the failure).
    - ``use_shape``: condition on the repository argument (the calibration benchmark measures it).
    """

    def __init__(
        self,
        store: Store,
        *,
        decay: float = 0.9,
        min_samples: int = 10,
        timeout_floor: float = 5.0,
        tool_strength: float = 1.0,
        house_strength: float = 1.0,
        shape_strength: float = 1.0,
        fail_below: float = 0.25,
        min_flag_samples: int = 3,
        use_shape: bool = True,
    ) -> None:
        self.store = store
        self.decay = decay
        self.min_samples = min_samples
        self.timeout_floor = timeout_floor
        self.strengths = (tool_strength, house_strength, shape_strength)
        self.fail_below = fail_below
        self.min_flag_samples = min_flag_samples
        self.use_shape = use_shape
        self._evidence: dict[Key, Evidence] = {}
        self._lock = threading.Lock()
        self._loaded = False

    # -- state ---------------------------------------------------------------
    def _load(self) -> None:
        """Read the table once (``StoreError`` when the store cannot be read: nothing is marked loaded)."""
        rows = self.store.query(
            "SELECT house, tool, shape, successes, failures, samples, ewma_duration, max_duration FROM tool_outcomes"
        )
        with self._lock:
            for r in rows:
                self._evidence.setdefault((r[0], r[1], r[2]), Evidence(r[3], r[4], r[5], r[6], r[7]))
            self._loaded = True

    def evidence(self, house: str, tool: str, shape: str = "") -> Evidence:
        if not self._loaded:
            self._load()
        return self._evidence.get((house, tool, shape)) or Evidence()

    def _keys(self, house: str, tool: str, shape: str) -> list[Key]:
        keys = [(ALL, ALL, ""), (ALL, tool, ""), (house, tool, "")]
        if shape and self.use_shape:
            keys.append((house, tool, shape))
        return keys

    # -- predicting ----------------------------------------------------------
    def estimate(self, house: str, tool: str, shape: str = "") -> tuple[Estimate, Estimate, str]:
        """``(estimate, house_tool_estimate, basis)``: the most specific estimate, the (house, tool) one, and
        the name of the level the former rests on."""
        levels = [self.evidence(*key) for key in self._keys(house, tool, shape)]
        # each level's prior is the level above without this level's own evidence ("how it does elsewhere"),
        # so the same outcomes are not counted once per level
        prior, strength = 0.5, 2.0
        chain: list[Estimate] = []
        for above, ev, next_strength in zip(levels, levels[1:], self.strengths, strict=False):
            prior = estimate(_without(above, ev), prior_mean=prior, prior_strength=strength).probability
            strength = next_strength
            chain.append(estimate(ev, prior_mean=prior, prior_strength=strength))
        current, house_tool = chain[-1], chain[1]
        names = ("every call", f"{tool} on every house", f"{house}'s {tool}", f"{house}'s {tool} on {shape}")
        basis = "prior"
        for name, ev in zip(names, levels, strict=False):
            if ev.samples:
                basis = name
        duration = next((e.expected_duration for e in reversed(chain) if e.samples), 0.0)
        most = Estimate(current.probability, current.uncertainty, current.samples, duration)
        return most, house_tool, basis

    def probability(self, house: str, tool: str, shape: str = "") -> float:
        """P(success) of the next call (what the calibration benchmark scores)."""
        return self.estimate(house, tool, shape)[0].probability

    def predict(
        self, house: str, tool: str, *, declared_timeout: float, max_retries: int, shape: str = ""
    ) -> Prediction:
        most, house_tool, basis = self.estimate(house, tool, shape)
        ev = self.evidence(house, tool)
        timeout, retries = declared_timeout, max_retries
        if ev.samples >= self.min_samples:
            learned = max(self.timeout_floor, 10 * ev.ewma_duration, 2 * ev.max_duration)
            timeout = min(declared_timeout, learned)
        likely_failure = (
            max(most.samples, house_tool.samples) >= self.min_flag_samples
            and most.probability < self.fail_below
            and most.probability + 2 * most.uncertainty < 0.5
        )
        if likely_failure:
            retries = 0
        samples = most.samples if most.samples else house_tool.samples
        return Prediction(
            most.probability, most.uncertainty, most.expected_duration, samples, timeout, retries,
            likely_failure, basis,
        )  # fmt: skip

    # -- learning ------------------------------------------------------------
    def learn(
        self, house: str, tool: str, *, ok: bool, duration: float, shape: str = ""
    ) -> Callable[[sqlite3.Connection], None]:
        """Fold one outcome of a call that ran into every level; return the write-through, to run in the
        caller's transaction."""
        if not self._loaded:
            self._load()
        keys = self._keys(house, tool, shape)
        decay = self.decay
        with self._lock:
            for key in keys:
                self._evidence[key] = fold(self._evidence.get(key) or Evidence(), ok=ok, duration=duration, decay=decay)

        def write(db: sqlite3.Connection) -> None:
            now = utc_now()
            for key in keys:
                db.execute(
                    "INSERT INTO tool_outcomes VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT(house, tool, shape)"
                    " DO UPDATE SET successes = successes * ? + excluded.successes,"
                    " failures = failures * ? + excluded.failures, samples = samples + 1,"
                    " ewma_duration = (1 - ?) * ewma_duration + ? * excluded.ewma_duration,"
                    " max_duration = max(max_duration, excluded.max_duration), updated_at = excluded.updated_at",
                    (
                        *key,
                        float(ok),
                        float(not ok),
                        duration,
                        duration,
                        now,
                        decay,
                        decay,
                        DURATION_ALPHA,
                        DURATION_ALPHA,
                    ),
                )

        return write
