"""Sovereign approvals: requests for calls that may run only after Timmy (or the owner) says yes.

States: pending → approved | rejected | expired; approved → consumed (the call ran) | expired.
Every transition is a compare-and-set (``UPDATE ... WHERE id=? AND state=?``)
with an audit row naming the actor and the reason. Requests expire after
``ttl`` (7 days); expired requests are marked, never deleted.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ..errors import ApprovalError, NotAuthorized, RecordNotFound
from ..store import Store, utc_text

__all__ = ["Approval", "ApprovalQueue", "ApprovalState"]


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CONSUMED = "consumed"


@dataclass(frozen=True)
class Approval:
    id: int
    house: str
    tool: str
    args_digest: str
    args_json: str
    task: str | None
    reason: str
    state: ApprovalState
    requested_at: str
    expires_at: str
    decided_by: str | None
    decided_at: str | None
    note: str | None


class ApprovalQueue:
    """The approval requests of one store.

    ``approvers`` are the names that may approve or reject: houses whose policy
    has ``may_approve`` and the owner.
    """

    def __init__(
        self,
        store: Store,
        *,
        approvers: Iterable[str],
        ttl: timedelta = timedelta(days=7),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.approvers = frozenset(approvers)
        self.ttl = ttl
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def request(
        self, *, house: str, tool: str, args_digest: str, args_json: str, task: str | None, reason: str
    ) -> Approval:
        """The pending request for this exact call, created if there is none yet."""
        self.expire_due()
        now = self._now()
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT id FROM approvals WHERE house=? AND tool=? AND args_digest=? AND state='pending'",
                (house, tool, args_digest),
            ).fetchone()
            if row is not None:
                approval_id = int(row[0])
            else:
                cursor = db.execute(
                    "INSERT INTO approvals (house, tool, args_digest, args_json, task, reason, state,"
                    " requested_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (house, tool, args_digest, args_json, task, reason, utc_text(now), utc_text(now + self.ttl)),
                )
                approval_id = int(cursor.lastrowid or 0)
                self._audit(db, approval_id, None, ApprovalState.PENDING, house, reason)
        return self.get(approval_id)

    def take_approved(self, *, house: str, tool: str, args_digest: str) -> Approval | None:
        """Consume an approved, unexpired request for this exact call; None if there is none."""
        self.expire_due()
        rows = self.store.query(
            "SELECT id FROM approvals WHERE house=? AND tool=? AND args_digest=? AND state='approved'"
            " ORDER BY id LIMIT 1",
            (house, tool, args_digest),
        )
        for row in rows:
            if self._transition(int(row[0]), ApprovalState.APPROVED, ApprovalState.CONSUMED, house, "the call ran"):
                return self.get(int(row[0]))
        return None

    def approve(self, approval_id: int, *, actor: str, note: str = "") -> Approval:
        return self._decide(approval_id, ApprovalState.APPROVED, actor, note)

    def reject(self, approval_id: int, *, actor: str, note: str = "") -> Approval:
        return self._decide(approval_id, ApprovalState.REJECTED, actor, note)

    def _decide(self, approval_id: int, to: ApprovalState, actor: str, note: str) -> Approval:
        if actor not in self.approvers:
            raise NotAuthorized(
                f"{actor!r} may not approve or reject: only {', '.join(sorted(self.approvers)) or 'nobody'} may "
                "(a house with rules.may_approve, or the owner)"
            )
        self.expire_due()
        if not self._transition(approval_id, ApprovalState.PENDING, to, actor, note):
            latest = self.get(approval_id)
            raise ApprovalError(f"approval {approval_id} is {latest.state}, not pending; nothing changed")
        return self.get(approval_id)

    def expire_due(self) -> int:
        """Mark pending and approved requests past their expiry as expired; return how many."""
        now = utc_text(self._now())
        due = self.store.query(
            "SELECT id, state FROM approvals WHERE state IN ('pending', 'approved') AND expires_at <= ?", (now,)
        )
        return sum(
            self._transition(int(r[0]), ApprovalState(r[1]), ApprovalState.EXPIRED, "uni-wizard", "expired")
            for r in due
        )

    def _transition(self, approval_id: int, frm: ApprovalState, to: ApprovalState, actor: str, why: str) -> bool:
        now = utc_text(self._now())
        with self.store.transaction() as db:
            decided = to in (ApprovalState.APPROVED, ApprovalState.REJECTED)
            cursor = db.execute(
                "UPDATE approvals SET state=?, decided_by=coalesce(?, decided_by),"
                " decided_at=coalesce(?, decided_at), note=coalesce(?, note) WHERE id=? AND state=?",
                (
                    str(to),
                    actor if decided else None,
                    now if decided else None,
                    why if decided else None,
                    approval_id,
                    str(frm),
                ),
            )
            if cursor.rowcount != 1:
                return False
            self._audit(db, approval_id, frm, to, actor, why)
        return True

    def _audit(
        self,
        db: sqlite3.Connection,
        approval_id: int,
        frm: ApprovalState | None,
        to: ApprovalState,
        actor: str,
        why: str,
    ) -> None:
        db.execute(
            "INSERT INTO approval_transitions (approval_id, from_state, to_state, actor, reason, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (approval_id, str(frm) if frm else None, str(to), actor, why, utc_text(self._now())),
        )

    def get(self, approval_id: int) -> Approval:
        rows = self.store.query("SELECT * FROM approvals WHERE id = ?", (approval_id,))
        if not rows:
            raise RecordNotFound(f"no approval request {approval_id}", kind="approval request", key=approval_id)
        return _approval(rows[0])

    def find(self, state: ApprovalState | None = None) -> list[Approval]:
        self.expire_due()
        if state is None:
            rows = self.store.query("SELECT * FROM approvals ORDER BY id")
        else:
            rows = self.store.query("SELECT * FROM approvals WHERE state = ? ORDER BY id", (str(state),))
        return [_approval(r) for r in rows]

    def history(self, approval_id: int) -> list[dict[str, str | None]]:
        rows = self.store.query(
            "SELECT from_state, to_state, actor, reason, at FROM approval_transitions"
            " WHERE approval_id = ? ORDER BY id",
            (approval_id,),
        )
        return [dict(r) for r in rows]


def _approval(row: sqlite3.Row) -> Approval:
    data = dict(row)
    data["state"] = ApprovalState(data["state"])
    return Approval(**data)
