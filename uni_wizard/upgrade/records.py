"""The upgrade queue in the host's SQLite store: one row per upgrade pull request, one per transition.

Every change of state is a compare-and-set (``UPDATE upgrades ... WHERE id=? AND state=? AND head_sha=?``)
plus a row in ``upgrade_transitions`` (from, to, head, actor, reason, time) in the same transaction. A
lost compare-and-set raises ``TransitionRefused`` and writes nothing. The methods block: call them from a
thread (``asyncio.to_thread``) when on an event loop.

    >>> queue = UpgradeStore(Store(path))
    >>> up = queue.propose(proposal, actor="timmy", reason="labelled upgrade")
    >>> queue.transition(up.id, State.PROPOSED, State.APPROVED, actor="owner", reason="approved at abc")
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import TransitionRefused
from ..store import Store, utc_now, utc_text
from .risk import Risk
from .states import TERMINAL, State, allowed

__all__ = ["Proposal", "Transition", "Upgrade", "UpgradeStore"]

OnTransition = Callable[["Upgrade", "Transition"], None]


@dataclass(frozen=True)
class Proposal:
    """What the reviewer checked: the head sha and the hash of its diff against the merge base."""

    repository: str
    number: int
    title: str
    author: str
    head_sha: str
    diff_sha256: str
    merge_base: str
    files: tuple[str, ...]
    lines: int
    risk: Risk


@dataclass(frozen=True)
class Transition:
    from_state: str | None
    to_state: str
    head_sha: str
    actor: str
    reason: str
    at: str


@dataclass(frozen=True)
class Upgrade:
    id: int
    repository: str
    number: int
    title: str
    author: str
    state: State
    head_sha: str
    diff_sha256: str
    merge_base: str
    files: tuple[str, ...]
    lines: int
    risk: str
    risk_reasons: tuple[str, ...]
    merge_sha: str | None
    note: str
    proposed_at: str
    updated_at: str
    history: tuple[Transition, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["files"] = list(self.files)
        data["risk_reasons"] = list(self.risk_reasons)
        data["history"] = [asdict(t) for t in self.history]
        return data


def _upgrade(row: sqlite3.Row, history: tuple[Transition, ...] = ()) -> Upgrade:
    return Upgrade(
        id=row["id"],
        repository=row["repository"],
        number=row["number"],
        title=row["title"],
        author=row["author"],
        state=State(row["state"]),
        head_sha=row["head_sha"],
        diff_sha256=row["diff_sha256"],
        merge_base=row["merge_base"],
        files=tuple(json.loads(row["files_json"])),
        lines=row["lines"],
        risk=row["risk"],
        risk_reasons=tuple(json.loads(row["risk_reasons_json"])),
        merge_sha=row["merge_sha"],
        note=row["note"],
        proposed_at=row["proposed_at"],
        updated_at=row["updated_at"],
        history=history,
    )


def _transition(row: sqlite3.Row) -> Transition:
    return Transition(row["from_state"], row["to_state"], row["head_sha"], row["actor"], row["reason"], row["at"])


class UpgradeStore:
    """The ``upgrades`` and ``upgrade_transitions`` tables of ``store``; each of ``listeners`` hears every
    committed transition (metrics, events)."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.listeners: list[OnTransition] = []

    # -- reading ----------------------------------------------------------------------------------
    def _history(self, db: sqlite3.Connection, upgrade_id: int) -> tuple[Transition, ...]:
        rows = db.execute("SELECT * FROM upgrade_transitions WHERE upgrade_id = ? ORDER BY id", (upgrade_id,))
        return tuple(_transition(row) for row in rows)

    def _row(self, db: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> Upgrade | None:
        row = db.execute(f"SELECT * FROM upgrades WHERE {where}", params).fetchone()  # noqa: S608 - fixed clauses
        return None if row is None else _upgrade(row, self._history(db, row["id"]))

    def get(self, repository: str, number: int) -> Upgrade | None:
        """The upgrade of pull request ``repository#number`` with its history, or None."""
        return self._row(self.store.connection(), "repository = ? AND number = ?", (repository, number))

    def by_id(self, upgrade_id: int) -> Upgrade | None:
        return self._row(self.store.connection(), "id = ?", (upgrade_id,))

    def list(self, states: Collection[State] = (), *, with_history: bool = False) -> list[Upgrade]:
        """Upgrades (in ``states``; all when empty), newest first."""
        db = self.store.connection()
        sql, params = "SELECT * FROM upgrades", tuple(s.value for s in states)
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(params))})"
        rows = db.execute(sql + " ORDER BY id DESC", params).fetchall()
        return [_upgrade(row, self._history(db, row["id"]) if with_history else ()) for row in rows]

    def counts(self) -> dict[State, int]:
        """How many upgrades are in each state (every state present, zero included)."""
        rows = self.store.query("SELECT state, count(*) FROM upgrades GROUP BY state")
        found = {row[0]: row[1] for row in rows}
        return {state: int(found.get(state.value, 0)) for state in State}

    # -- writing ----------------------------------------------------------------------------------
    def _record(
        self, db: sqlite3.Connection, up_id: int, old: State | None, new: State, head: str, actor: str, reason: str
    ) -> Transition:
        at = utc_now(self.clock)
        db.execute(
            "INSERT INTO upgrade_transitions (upgrade_id, from_state, to_state, head_sha, actor, reason, at) "
            "VALUES (?,?,?,?,?,?,?)",
            (up_id, old.value if old else None, new.value, head, actor, reason, at),
        )
        return Transition(old.value if old else None, new.value, head, actor, reason, at)

    def _heard(self, up_id: int, transition: Transition) -> Upgrade:
        upgrade = self.by_id(up_id)
        assert upgrade is not None
        for listener in self.listeners:
            listener(upgrade, transition)
        return upgrade

    def propose(self, proposal: Proposal, *, actor: str, reason: str) -> Upgrade:
        """Record ``proposal``: a new upgrade, or a re-proposal at a new head (the old approval no longer
        binds). The same head again changes nothing. ``TransitionRefused`` when the upgrade is past approval."""
        p, now = proposal, utc_now(self.clock)
        values = (p.title, p.author, p.head_sha, p.diff_sha256, p.merge_base, json.dumps(list(p.files)), p.lines)
        risk = (p.risk.level, json.dumps(list(p.risk.reasons)))
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT id, state, head_sha FROM upgrades WHERE repository = ? AND number = ?", (p.repository, p.number)
            ).fetchone()
            if row is None:
                cursor = db.execute(
                    "INSERT INTO upgrades (repository, number, title, author, head_sha, diff_sha256, merge_base, "
                    "files_json, lines, risk, risk_reasons_json, state, proposed_at, updated_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (p.repository, p.number, *values, *risk, State.PROPOSED.value, now, now),
                )
                assert cursor.lastrowid is not None
                up_id, old = int(cursor.lastrowid), None
            else:
                up_id, old = row["id"], State(row["state"])
                if row["head_sha"] == p.head_sha:
                    return self._row(db, "id = ?", (up_id,))  # type: ignore[return-value]
                if not allowed(old, State.PROPOSED):
                    raise TransitionRefused(
                        f"upgrade {p.repository}#{p.number} is {old.value}: a new head ({p.head_sha[:12]}) "
                        "cannot re-propose it"
                    )
                cursor = db.execute(
                    "UPDATE upgrades SET title=?, author=?, head_sha=?, diff_sha256=?, merge_base=?, files_json=?, "
                    "lines=?, risk=?, risk_reasons_json=?, state=?, note='', proposed_at=?, updated_at=? "
                    "WHERE id=? AND state=? AND head_sha=?",
                    (*values, *risk, State.PROPOSED.value, now, now, up_id, old.value, row["head_sha"]),
                )
                if cursor.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; kept as the CAS guard
                    raise TransitionRefused(f"upgrade {p.repository}#{p.number} changed meanwhile")
            transition = self._record(db, up_id, old, State.PROPOSED, p.head_sha, actor, reason)
        return self._heard(up_id, transition)

    def transition(
        self,
        upgrade_id: int,
        current: State,
        wanted: State,
        *,
        actor: str,
        reason: str,
        head_sha: str | None = None,
        merge_sha: str | None = None,
    ) -> Upgrade:
        """Move upgrade ``upgrade_id`` from ``current`` (at ``head_sha``, when given) to ``wanted``.

        ``TransitionRefused`` (nothing written) when ``current -> wanted`` is not a move of the state
        machine, or the upgrade is no longer in ``current`` at that head: someone else moved it first.
        """
        if not allowed(current, wanted) or (wanted is State.PROPOSED and current is not State.APPROVED):
            # a new proposal (new head and diff) goes through ``propose``; this only withdraws an approval
            raise TransitionRefused(f"an upgrade cannot go from {current.value} to {wanted.value}")
        if not actor or not reason:
            raise TransitionRefused("a transition needs an actor and a reason")
        with self.store.transaction() as db:
            sql = "UPDATE upgrades SET state = ?, updated_at = ?, merge_sha = coalesce(?, merge_sha)"
            sql += " WHERE id = ? AND state = ?"
            params: tuple[Any, ...] = (wanted.value, utc_now(self.clock), merge_sha, upgrade_id, current.value)
            if head_sha is not None:
                sql, params = sql + " AND head_sha = ?", (*params, head_sha)
            if db.execute(sql, params).rowcount != 1:
                now = db.execute("SELECT state, head_sha FROM upgrades WHERE id = ?", (upgrade_id,)).fetchone()
                found = "not found" if now is None else f"is {now['state']} at {now['head_sha'][:12]}"
                raise TransitionRefused(
                    f"upgrade {upgrade_id} {found}: it cannot move from {current.value} to {wanted.value}; "
                    "nothing changed"
                )
            head = db.execute("SELECT head_sha FROM upgrades WHERE id = ?", (upgrade_id,)).fetchone()[0]
            transition = self._record(db, upgrade_id, current, wanted, head, actor, reason)
        return self._heard(upgrade_id, transition)

    def set_note(self, upgrade_id: int, head_sha: str, note: str) -> bool:
        """Say why the upgrade waits (shown by ``upgrades list``); only while it is still at ``head_sha``."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE upgrades SET note = ? WHERE id = ? AND head_sha = ? AND note != ?",
                (note, upgrade_id, head_sha, note),
            )
        return cursor.rowcount == 1

    def prune(self, older_than_days: float) -> int:
        """Delete finished upgrades (rejected, expired, applied, failed) whose last transition is older than
        ``older_than_days``, with their history; never one in progress. Returns how many."""
        cutoff = utc_text(datetime.fromtimestamp(self.clock() - older_than_days * 86_400, UTC))
        states = tuple(sorted(s.value for s in TERMINAL))
        where = f"state IN ({','.join('?' * len(states))}) AND updated_at < ?"
        with self.store.transaction() as db:
            found = db.execute(f"SELECT id FROM upgrades WHERE {where}", (*states, cutoff))  # noqa: S608 - placeholders
            ids = [row[0] for row in found]
            for up_id in ids:
                db.execute("DELETE FROM upgrade_transitions WHERE upgrade_id = ?", (up_id,))
                db.execute("DELETE FROM upgrades WHERE id = ?", (up_id,))
        return len(ids)
