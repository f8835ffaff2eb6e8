"""Routing: which house gets an issue, as capability x history x load x bid, with every part shown.

Pure. Each part is in 0..1 and the total is their weighted mean (``configs/triage.yaml`` ``routing``):

- **text** = s / (s + ``TEXT_HALF``), where s is the house's keywords and capabilities (weight 1 each)
  matched as whole tokens against the issue: title hits count 2, body hits 1, and the issue's kind
  counts 1 when it is one of the house's terms ("bug" for bezalel). One title hit gives 0.5, two 0.67,
  none 0. Absolute, not relative to the best house, so a single weak body hit is not inflated to 1.
- **history** = the house's predicted success on this kind: the mean of a Beta posterior whose prior is
  prior_successes of prior_attempts (2/3 by default) over its outcomes on the kind, older ones decayed
  (``intelligence.model``; ``RoutingLedger.history`` decays them): a house with no history sits at the
  prior and can still win on text, and a house whose recent outcomes are poor loses the kind to a capable
  peer until successes bring it back. Without decayed counts it is (successes + prior_successes) /
  (attempts + prior_attempts).
- **load** = 1 - open / max_concurrency (0 when full; a full house is not eligible).
- **bid** = cheapest bid_rate / this house's bid_rate, over the houses that take issues (a rate of 0 is
  1.0): the cheapest house gets 1, a house twice as dear 0.5.

A house whose policy says ``rules.may_take_issues: false`` (Allegro) or that is full is listed with
``eligible=False`` and why, and is never chosen. The best eligible total wins; equal totals (to 4
decimals) go to the house whose name sorts first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..intelligence.model import Estimate, Evidence, estimate
from ..policy.model import HousePolicy
from .config import RoutingWeights
from .tokens import tokenize, weighted_score
from .types import Candidate, IssueText, RoutingDecision

__all__ = ["TEXT_HALF", "HouseHistory", "format_table", "house_terms", "route", "text_match"]

TEXT_HALF = 2.0  # the raw text score at which the text part is 0.5: one title hit
_TITLE_WEIGHT = 2.0
_PLACES = 4


@dataclass(frozen=True)
class HouseHistory:
    """A house's record on one kind of issue."""

    successes: int = 0
    attempts: int = 0
    mean_duration: float | None = None
    recent_successes: float | None = None  # the decayed counts (None: the raw ones)
    recent_failures: float | None = None

    def predicted(self, weights: RoutingWeights) -> Estimate:
        """The predicted success on the kind, with its uncertainty, under the routing prior."""
        wins = self.successes if self.recent_successes is None else self.recent_successes
        losses = self.attempts - self.successes if self.recent_failures is None else self.recent_failures
        strength = max(weights.prior_attempts, 1e-9)
        mean = weights.prior_successes / strength if weights.prior_attempts > 0 else 0.5
        evidence = Evidence(successes=wins, failures=losses, samples=self.attempts)
        return estimate(evidence, prior_mean=mean, prior_strength=strength)


def house_terms(policy: HousePolicy) -> dict[str, float]:
    """The words routing matches for a house: its keywords and capabilities, weight 1 each."""
    return {term: 1.0 for term in (*policy.keywords, *policy.capabilities)}


def text_match(
    issue: IssueText, kind: str, policy: HousePolicy, *, tokens: tuple[list[str], list[str]] | None = None
) -> tuple[float, list[str]]:
    """The text part (0..1) for one house and the terms that matched; ``tokens``: the title's and the body's
    tokens when the caller has them already (``route`` tokenizes once for every house)."""
    terms = house_terms(policy)
    title, body = tokens if tokens is not None else (tokenize(issue.title), tokenize(issue.body))
    title_score, title_terms = weighted_score(title, terms)
    body_score, body_terms = weighted_score(body, terms)
    kind_score, kind_terms = weighted_score(tokenize(kind), terms)
    raw = _TITLE_WEIGHT * title_score + body_score + kind_score
    matched = title_terms + [t for t in body_terms if t not in title_terms]
    matched += [f"kind {t}" for t in kind_terms]
    return (raw / (raw + TEXT_HALF) if raw > 0 else 0.0), matched


def route(
    issue: IssueText,
    kind: str,
    houses: Mapping[str, HousePolicy],
    *,
    history: Mapping[str, HouseHistory],
    load: Mapping[str, int],
    weights: RoutingWeights,
) -> RoutingDecision:
    """Score every house for ``issue`` of ``kind`` and choose the best eligible one (see the module doc)."""
    takers = [p for p in houses.values() if p.rules.may_take_issues] or list(houses.values())
    cheapest = min((p.bid_rate for p in takers), default=1.0)
    total_weight = weights.text + weights.history + weights.load + weights.bid
    candidates: list[Candidate] = []
    matched_by_house: dict[str, list[str]] = {}
    tokens = (tokenize(issue.title), tokenize(issue.body))
    for name in sorted(houses):
        policy = houses[name]
        text, matched = text_match(issue, kind, policy, tokens=tokens)
        matched_by_house[name] = matched
        predicted = history.get(name, HouseHistory()).predicted(weights)
        hist = min(1.0, max(0.0, predicted.probability))
        busy = max(0, load.get(name, 0))
        free = max(0.0, 1.0 - busy / policy.max_concurrency)
        bid = 1.0 if policy.bid_rate == 0 else min(1.0, cheapest / policy.bid_rate)
        weighted = weights.text * text + weights.history * hist + weights.load * free + weights.bid * bid
        total = weighted / total_weight if total_weight > 0 else 0.0
        why: list[str] = []
        if not policy.rules.may_take_issues:
            why.append("may not take issues (rules.may_take_issues: false)")
        if busy >= policy.max_concurrency:
            why.append(f"full ({busy}/{policy.max_concurrency} open)")
        note = "; ".join(why) if why else (f"matched {', '.join(matched)}" if matched else "")
        candidates.append(
            Candidate(
                house=name,
                text=round(text, _PLACES),
                history=round(hist, _PLACES),
                load=round(free, _PLACES),
                bid=round(bid, _PLACES),
                total=round(total, _PLACES),
                eligible=not why,
                why=note,
                samples=predicted.samples,
                uncertainty=round(predicted.uncertainty, _PLACES),
            )
        )
    candidates.sort(key=lambda c: (not c.eligible, -c.total, c.house))
    eligible = [c for c in candidates if c.eligible]
    chosen = eligible[0] if eligible else None
    runner_up = eligible[1] if len(eligible) > 1 else None
    reason = _reason(chosen, runner_up, candidates, matched_by_house) + _history_note(chosen, eligible, kind)
    return RoutingDecision(
        chosen=chosen.house if chosen else None,
        candidates=tuple(candidates),
        runner_up=runner_up.house if runner_up else None,
        reason=reason,
    )


def _reason(
    chosen: Candidate | None,
    runner_up: Candidate | None,
    candidates: list[Candidate],
    matched: Mapping[str, list[str]],
) -> str:
    if chosen is None:
        if not candidates:
            return "Nobody chosen: no house is configured."
        why = "; ".join(f"{c.house} {c.why}" for c in candidates)
        return f"Nobody chosen: no house is eligible ({why})."
    if chosen.text > 0:
        lead = f"Chose {chosen.house}, which matched {', '.join(matched[chosen.house])}"
    elif all(c.text == 0 for c in candidates if c.eligible):
        lead = f"Chose {chosen.house} on history, load and bid (no eligible house matched the text)"
    else:
        lead = f"Chose {chosen.house} on history, load and bid"
    if runner_up is None:
        return f"{lead}: total {chosen.total:.2f}, and no other house is eligible."
    tie = ", tie broken by name" if runner_up.total == chosen.total else ""
    return f"{lead}: total {chosen.total:.2f} against {runner_up.house} {runner_up.total:.2f}{tie}."


def _history_note(chosen: Candidate | None, eligible: list[Candidate], kind: str) -> str:
    """Why a house that matched the text better lost: its predicted success on the kind."""
    if chosen is None:
        return ""
    beaten = [c for c in eligible if c.text > chosen.text and c.history < chosen.history]
    notes = [
        f"{c.house} matched more of the text, but its predicted success on {kind} is {c.history:.2f} "
        f"± {c.uncertainty:.2f} over {c.samples} outcome{'s' if c.samples != 1 else ''} against "
        f"{chosen.history:.2f} for {chosen.house}"
        for c in beaten
    ]
    return f" {'; '.join(notes)}." if notes else ""


def format_table(decision: RoutingDecision) -> str:
    """The candidates as an aligned plain-text table (for audit comments, inside a code block, and the CLI)."""
    header = ("house", "text", "history", "load", "bid", "total", "eligible")
    rows = [header]
    for c in decision.candidates:
        if not c.eligible:
            status = f"no: {c.why}"
        else:
            role = "chosen" if c.house == decision.chosen else "runner-up" if c.house == decision.runner_up else "yes"
            status = f"{role} ({c.why})" if c.why else role
        rows.append(
            (c.house, f"{c.text:.2f}", f"{c.history:.2f}", f"{c.load:.2f}", f"{c.bid:.2f}", f"{c.total:.3f}", status)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
