"""The states of an upgrade and the moves between them (ADR-021, extended with ``applying``).

    proposed ──► approved ──► applying ──► applied
       │ ▲          │                  └─► failed (rolled back)
       │ └──────────┘ (a push: the approval no longer binds; re-proposed)
       ├──► rejected ──► proposed (a new head on a PR still open)
       └──► expired

``proposed ──► proposed`` is a re-proposal (a new head while nothing was approved yet). Terminal states
are pruned after ``prune_after_days``; ``applying`` never is.

    >>> allowed(State.PROPOSED, State.APPROVED), allowed(State.APPLIED, State.PROPOSED)
    (True, False)
    >>> state_label(State.APPLYING)
    'upgrade/applying'
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LABEL_PREFIX", "TERMINAL", "TRANSITIONS", "State", "allowed", "state_label"]

LABEL_PREFIX = "upgrade/"


class State(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.PROPOSED: frozenset({State.PROPOSED, State.APPROVED, State.REJECTED, State.EXPIRED}),
    State.APPROVED: frozenset({State.PROPOSED, State.REJECTED, State.APPLYING}),
    State.REJECTED: frozenset({State.PROPOSED}),
    State.EXPIRED: frozenset(),
    State.APPLYING: frozenset({State.APPLIED, State.FAILED}),
    State.APPLIED: frozenset(),
    State.FAILED: frozenset(),
}

# What may be pruned: nothing is happening to it any more.
TERMINAL = frozenset({State.REJECTED, State.EXPIRED, State.APPLIED, State.FAILED})

COLORS: dict[State, str] = {
    State.PROPOSED: "#fbca04",
    State.APPROVED: "#0e8a16",
    State.REJECTED: "#b60205",
    State.EXPIRED: "#cccccc",
    State.APPLYING: "#1d76db",
    State.APPLIED: "#0e8a16",
    State.FAILED: "#b60205",
}


def allowed(current: State, wanted: State) -> bool:
    return wanted in TRANSITIONS[current]


def state_label(state: State) -> str:
    """The exclusive scoped label that mirrors ``state`` on the pull request."""
    return f"{LABEL_PREFIX}{state.value}"
