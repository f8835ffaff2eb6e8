"""The ledger end to end: the dispatcher's sweep over a devforge on loopback opens, re-assigns, settles and
voids bids as issues move on the forge; the routing statistics and their metrics follow; a house's cascade
over the fake model servers records its token spend per provider (only the provider that answered)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bootstrapped_forge import Mesh, mesh_fixture
from cascade_helpers import HELLO, build, provider
from worlds import ORG, clients, create_repo, fresh_name, plain_runtime, triage_for

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.dispatch.bids import BidLedger, BidState
from uni_wizard.dispatch.loop import DispatchLoop
from uni_wizard.dispatch.route_stats import routing_stats
from uni_wizard.dispatch.spend import SpendRecorder, TokenSpend
from uni_wizard.forge import GiteaClient
from uni_wizard.harness.runtime import Runtime
from uni_wizard.store import Store
from uni_wizard.testing import ForgeLine
from uni_wizard.testing.model_servers import FakeOpenAI, closed_port

mesh = mesh_fixture()

CRASH = ("Server crashes on start with a traceback", "Steps to reproduce: run it.")
RESEARCH = ("Investigate the research on gossip protocols", "## Acceptance criteria\n- [ ] a short report")


@dataclass
class World:
    repo: str
    runtime: Runtime
    loop: DispatchLoop
    timmy: GiteaClient

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    @property
    def bids(self) -> BidLedger:
        return BidLedger(self.runtime.store)

    async def handle(self, number: int) -> None:
        await self.loop.dispatcher.handle(self.repo, await self.timmy.get_issue(ORG, self.name, number))

    async def label(self, number: int, *names: str) -> None:
        issue = await self.timmy.get_issue(ORG, self.name, number)
        kept = [n for n in issue.label_names if not n.startswith(("status/", "house/"))]
        await self.timmy.replace_labels(ORG, self.name, number, [*kept, *names])

    def won(self, number: int) -> list[tuple[str, BidState]]:
        return [(b.house, b.state) for b in self.bids.bids(self.repo, number) if b.won]


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    repo = await create_repo(mesh, fresh_name("ledger"), auto_init=False)
    async with clients(mesh) as client:
        with plain_runtime(tmp_path, mesh) as runtime:
            allegro = client("allegro", ForgeLine(), registry=runtime.metrics.registry)
            loop = build_dispatch_loop(runtime.settings, runtime, forge=allegro, config=triage_for(repo))
            yield World(repo, runtime, loop, client("timmy"))


async def test_the_sweep_settles_the_finisher_and_voids_failed_work(world: World) -> None:
    filed = [await world.timmy.create_issue(ORG, world.name, *text) for text in (CRASH, CRASH, RESEARCH)]
    reassigned, failed, report = (issue.number for issue in filed)
    await world.loop.run_once()  # the labels, then triage and routing: every candidate's bid recorded
    assert world.won(reassigned) == [("bezalel", BidState.OPEN)]
    assert world.won(report) == [("ezra", BidState.OPEN)]
    lost = {b.house: b.state for b in world.bids.bids(world.repo, reassigned) if not b.won}
    assert set(lost.values()) == {BidState.LOST} and "ezra" in lost and "allegro" in lost

    # a sovereign re-routes the first crash to ezra: the sweep voids bezalel's bid and opens ezra's
    await world.timmy.create_comment(ORG, world.name, reassigned, "/route ezra")
    await world.handle(reassigned)
    assert world.won(reassigned) == [("bezalel", BidState.VOID), ("ezra", BidState.OPEN)]
    await world.label(reassigned, "status/review", "house/ezra")  # ezra's PR is up
    await world.handle(reassigned)
    assert world.bids.open_bid(world.repo, reassigned).pr_at is not None  # type: ignore[union-attr]
    await world.label(reassigned, "status/done", "house/ezra")  # merged: the reviewer labels it done, closes it
    await world.timmy.edit_issue(ORG, world.name, reassigned, state="closed")
    await world.handle(reassigned)
    await world.handle(reassigned)  # seen again: nothing more
    assert world.won(reassigned) == [("bezalel", BidState.VOID), ("ezra", BidState.SETTLED)]

    # the second crash fails (blocked), then is closed unfinished: void, never settled
    await world.label(failed, "status/blocked", "house/bezalel")
    await world.handle(failed)
    assert world.won(failed) == [("bezalel", BidState.OPEN)]
    await world.timmy.edit_issue(ORG, world.name, failed, state="closed")
    await world.handle(failed)  # void now; the dispatcher marks the closed issue done for its own books ...
    await world.handle(failed)  # ... and the next look at status/done finds nothing open to settle
    assert world.won(failed) == [("bezalel", BidState.VOID)]

    # ezra's accepted report: status/done on the open issue settles ezra's bid
    await world.label(report, "status/done", "house/ezra")
    await world.handle(report)
    assert world.won(report) == [("ezra", BidState.SETTLED)]

    settled = world.bids.settled()
    assert [(b.number, b.house) for b in settled] == [(reassigned, "ezra"), (report, "ezra")]
    assert sum(b.amount_milli for b in world.bids.balances("day")) == sum(b.amount_milli for b in settled)
    stats = {(s.house, s.kind): s for s in routing_stats(world.runtime.store)}
    bezalel = stats[("bezalel", "bug")]
    assert (bezalel.won, bezalel.settled, bezalel.void, bezalel.completion_rate) == (2, 0, 2, 0.0)
    registry = world.runtime.metrics.registry
    assert registry.get_sample_value("uniwizard_routing_won", {"house": "bezalel", "kind": "bug"}) == 2
    assert registry.get_sample_value("uniwizard_routing_completion_ratio", {"house": "ezra", "kind": "bug"}) == 1


@pytest.fixture
def llamacpp() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("smollm2",)) as server:
        yield server  # type: ignore[misc]


async def test_a_cascade_records_the_spend_of_the_provider_that_answered(llamacpp: FakeOpenAI, tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    cascade = build(provider("down", f"http://127.0.0.1:{closed_port()}"), provider("llamacpp", llamacpp))
    cascade.listeners.append(SpendRecorder(TokenSpend(store), "bezalel"))
    try:
        first = await cascade.complete(HELLO)
        second = await cascade.complete(HELLO, stream=True)
    finally:
        await cascade.aclose()
    [spend] = TokenSpend(store).totals("day")
    assert (spend.house, spend.provider, spend.calls) == ("bezalel", "llamacpp", 2)
    assert spend.input_tokens == first.usage.input_tokens + second.usage.input_tokens > 0
    assert spend.output_tokens == first.usage.output_tokens + second.usage.output_tokens > 0
    store.close()
