"""Webhook hints: a queued delivery wakes the loop it concerns, and only that one."""

from __future__ import annotations

import uuid
from pathlib import Path

from uni_wizard.intake.hints import QueueHint
from uni_wizard.store import Store


def queue(store: Store, repository: str, event_type: str) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT INTO event_queue (delivery, event_type, kind, repository, number, payload_json, received_at)"
            " VALUES (?, ?, 'x', ?, NULL, '{}', '2026-01-01T00:00:00Z')",
            (uuid.uuid4().hex, event_type, repository),
        )


def test_only_events_of_the_repositories_and_types_wake(tmp_path: Path) -> None:
    store = Store(tmp_path / "uni-wizard.db")
    woken: list[int] = []
    hint = QueueHint(store, {"mesh/mesh"}, lambda: woken.append(1), event_types=("push", "pull_request"))
    try:
        queue(store, "mesh/mesh", "push")  # before the first look: where the queue stands, not news
        assert hint.check() is False and woken == []
        queue(store, "mesh/work", "push")  # another repository
        queue(store, "mesh/mesh", "issues")  # another kind of event
        assert hint.check() is False and woken == []
        queue(store, "mesh/mesh", "push")
        assert hint.check() is True and woken == [1]
        assert hint.check() is False and woken == [1]  # each event wakes once
    finally:
        store.close()


def test_without_event_types_any_event_of_the_repositories_wakes(tmp_path: Path) -> None:
    store = Store(tmp_path / "uni-wizard.db")
    woken: list[int] = []
    hint = QueueHint(store, {"mesh/work"}, lambda: woken.append(1))
    try:
        assert hint.check() is False
        queue(store, "mesh/work", "issue_comment")
        assert hint.check() is True and woken == [1]
    finally:
        store.close()
