"""The upgrade queue's store: proposals, compare-and-set transitions with history, pruning, metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.errors import TransitionRefused
from uni_wizard.store import Store
from uni_wizard.testing import FakeClock
from uni_wizard.upgrade import Proposal, Risk, State, UpgradeStore
from uni_wizard.upgrade.metrics import UpgradeMetrics

REPO = "mesh/mesh"
DAY = 86_400.0


def proposal(number: int = 7, head: str = "a" * 40, digest: str = "d" * 64) -> Proposal:
    return Proposal(
        REPO, number, "Raise the bid", "bezalel", head, digest, "b" * 40, ("configs/triage.yaml",), 2, Risk(True, ())
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def records(tmp_path: Path, clock: FakeClock) -> Iterator[UpgradeStore]:
    store = Store(tmp_path / "uw.db")
    yield UpgradeStore(store, clock=clock)
    store.close()


def moves(records: UpgradeStore, number: int = 7) -> list[tuple[str | None, str, str]]:
    upgrade = records.get(REPO, number)
    assert upgrade is not None
    return [(t.from_state, t.to_state, t.actor) for t in upgrade.history]


def test_a_proposal_records_head_and_diff_hash_and_the_same_head_again_changes_nothing(records: UpgradeStore) -> None:
    first = records.propose(proposal(), actor="bezalel", reason="proposed")

    assert (first.state, first.head_sha, first.diff_sha256, first.risk) == (State.PROPOSED, "a" * 40, "d" * 64, "low")
    assert first.files == ("configs/triage.yaml",) and first.lines == 2
    again = records.propose(proposal(), actor="bezalel", reason="proposed")
    assert again == first and moves(records) == [(None, "proposed", "bezalel")]


def test_a_new_head_after_approval_re_proposes_and_the_approval_no_longer_binds(records: UpgradeStore) -> None:
    up = records.propose(proposal(), actor="bezalel", reason="proposed")
    approved = records.transition(
        up.id, State.PROPOSED, State.APPROVED, actor="timmy", reason="ok", head_sha=up.head_sha
    )

    moved = records.propose(proposal(head="c" * 40, digest="e" * 64), actor="bezalel", reason="re-proposed")

    assert (moved.state, moved.head_sha, moved.diff_sha256) == (State.PROPOSED, "c" * 40, "e" * 64)
    assert moves(records) == [(None, "proposed", "bezalel"), ("proposed", "approved", "timmy"),
                              ("approved", "proposed", "bezalel")]  # fmt: skip
    with pytest.raises(TransitionRefused):  # the old approval was for the old head
        records.transition(up.id, State.PROPOSED, State.APPROVED, actor="timmy", reason="x", head_sha=approved.head_sha)
    assert records.get(REPO, 7).state is State.PROPOSED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ([State.APPROVED, State.APPLYING, State.APPLIED], State.PROPOSED),
        ([], State.APPLYING),
        ([State.EXPIRED], State.APPROVED),
        ([State.APPROVED, State.APPLYING], State.APPROVED),
    ],
)
def test_moves_outside_the_state_machine_are_refused_and_write_nothing(
    records: UpgradeStore, path: list[State], wanted: State
) -> None:
    up = records.propose(proposal(), actor="bezalel", reason="proposed")
    current = State.PROPOSED
    for state in path:
        up = records.transition(up.id, current, state, actor="t", reason="r")
        current = state
    before = records.get(REPO, 7)

    with pytest.raises(TransitionRefused, match=f"cannot go from {current.value} to {wanted.value}"):
        records.transition(up.id, current, wanted, actor="t", reason="r")

    assert records.get(REPO, 7) == before


def test_a_transition_needs_an_actor_and_a_reason(records: UpgradeStore) -> None:
    up = records.propose(proposal(), actor="bezalel", reason="proposed")
    with pytest.raises(TransitionRefused, match="actor and a reason"):
        records.transition(up.id, State.PROPOSED, State.REJECTED, actor="owner", reason="")
    assert records.get(REPO, 7).state is State.PROPOSED  # type: ignore[union-attr]


def test_two_concurrent_transitions_from_the_same_state_exactly_one_wins(records: UpgradeStore) -> None:
    up = records.propose(proposal(), actor="bezalel", reason="proposed")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def move(wanted: State, actor: str) -> None:
        barrier.wait()
        try:
            outcomes[actor] = records.transition(up.id, State.PROPOSED, wanted, actor=actor, reason=f"{actor} says so")
        except TransitionRefused as exc:
            outcomes[actor] = exc

    threads = [
        threading.Thread(target=move, args=args) for args in ((State.APPROVED, "timmy"), (State.REJECTED, "owner"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    refused = [actor for actor, outcome in outcomes.items() if isinstance(outcome, TransitionRefused)]
    (winner,) = [actor for actor in outcomes if actor not in refused]
    assert len(refused) == 1
    assert "nothing changed" in str(outcomes[refused[0]])
    final = records.get(REPO, 7)
    assert final is not None and final.state is (State.APPROVED if winner == "timmy" else State.REJECTED)
    assert moves(records) == [(None, "proposed", "bezalel"), ("proposed", final.state.value, winner)]


def test_prune_deletes_finished_upgrades_older_than_the_limit_never_one_applying(
    records: UpgradeStore, clock: FakeClock
) -> None:
    old_done = records.propose(proposal(1), actor="b", reason="p")
    records.transition(old_done.id, State.PROPOSED, State.REJECTED, actor="owner", reason="no")
    old_applying = records.propose(proposal(2), actor="b", reason="p")
    records.transition(old_applying.id, State.PROPOSED, State.APPROVED, actor="owner", reason="ok")
    records.transition(old_applying.id, State.APPROVED, State.APPLYING, actor="timmy", reason="merged")
    old_proposed = records.propose(proposal(3), actor="b", reason="p")
    clock.advance(60 * DAY)
    recent_done = records.propose(proposal(4), actor="b", reason="p")
    records.transition(old_proposed.id, State.PROPOSED, State.EXPIRED, actor="timmy", reason="timeout")  # day 60
    records.transition(recent_done.id, State.PROPOSED, State.REJECTED, actor="owner", reason="no")
    clock.advance(31 * DAY)

    assert records.prune(90) == 1

    assert records.get(REPO, 1) is None
    assert [u.number for u in records.list()] == [4, 3, 2]
    assert (
        records.store.query("SELECT count(*) FROM upgrade_transitions WHERE upgrade_id = ?", (old_done.id,))[0][0] == 0
    )
    clock.advance(365 * DAY)
    assert records.prune(90) == 2 and [u.state for u in records.list()] == [State.APPLYING]


def test_metrics_count_transitions_and_read_states_at_scrape_time(records: UpgradeStore) -> None:
    registry = CollectorRegistry()
    UpgradeMetrics.for_registry(registry).watch(records)
    UpgradeMetrics.for_registry(registry).watch(records)  # once per registry, once per queue
    up = records.propose(proposal(), actor="b", reason="p")
    records.transition(up.id, State.PROPOSED, State.APPROVED, actor="owner", reason="ok")
    records.propose(proposal(8), actor="b", reason="p")

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("uniwizard_upgrades", state="approved") == 1
    assert sample("uniwizard_upgrades", state="proposed") == 1
    assert sample("uniwizard_upgrades", state="applied") == 0
    assert sample("uniwizard_upgrade_transitions_total", from_state="none", to_state="proposed") == 2
    assert sample("uniwizard_upgrade_transitions_total", from_state="proposed", to_state="approved") == 1
