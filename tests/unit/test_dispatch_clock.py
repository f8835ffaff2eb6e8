"""The dispatch loop's injected clock decides when a full sweep is due (and dates the one that ended)."""

from __future__ import annotations

from pathlib import Path

from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.dispatch.dispatcher import Dispatcher
from uni_wizard.dispatch.lease import LocalLease
from uni_wizard.dispatch.loop import DispatchLoop
from uni_wizard.dispatch.metrics import DispatchMetrics
from uni_wizard.dispatch.offload import Offload
from uni_wizard.observe.events import EventLog
from uni_wizard.testing import FakeClock, FakeForge, make_runtime

REPO = "mesh/work"


async def test_a_full_sweep_is_due_when_the_loops_clock_says_so(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    clock = FakeClock()
    fake = FakeForge("allegro", clock=clock)
    fake.add_repo(REPO)
    config = load_triage_config()
    dispatcher = Dispatcher(
        fake,
        login="allegro",
        store=runtime.store,
        config=config,
        houses=runtime.houses,
        lease=LocalLease(clock=clock),
        host="test-host",
        events=EventLog(runtime.store, "test-host", clock=clock),
        metrics=DispatchMetrics.for_registry(runtime.metrics.registry),
        clock=clock,
        offload=Offload("thread"),
    )
    loop = DispatchLoop(dispatcher, repos=(REPO,), clock=clock)
    try:
        assert [r.full for r in await loop.run_once()] == [True]  # never swept in full
        assert [r.full for r in await loop.run_once()] == [False]  # no time has passed on the loop's clock
        (_, last_full) = loop.cursors.get(REPO)
        assert last_full is not None and last_full.timestamp() == clock()
        clock.advance(config.dispatcher.full_sweep_minutes * 60)
        assert [r.full for r in await loop.run_once()] == [True]
    finally:
        runtime.close()


async def test_idle_sweeps_write_no_event_but_a_summary_now_and_then(tmp_path: Path) -> None:
    """The event log says what happened: the first sweep (the loop is up) and the sweeps that repaired something;
    the idle ones only as one ``sweep.summary`` every ``idle_summary_minutes``."""
    runtime = make_runtime(tmp_path)
    clock = FakeClock()
    fake = FakeForge("allegro", clock=clock)
    fake.add_repo(REPO)
    for house in ("timmy", "ezra", "bezalel"):
        fake.add_user(house)
    config = load_triage_config()
    settings = config.dispatcher.model_copy(update={"idle_summary_minutes": 10.0})
    config = config.model_copy(update={"dispatcher": settings})
    events = EventLog(runtime.store, "test-host", clock=clock)
    dispatcher = Dispatcher(
        fake, login="allegro", store=runtime.store, config=config, houses=runtime.houses,
        lease=LocalLease(clock=clock), host="test-host", events=events,
        metrics=DispatchMetrics.for_registry(runtime.metrics.registry), clock=clock, offload=Offload("thread"),
    )  # fmt: skip
    loop = DispatchLoop(dispatcher, repos=(REPO,), clock=clock)

    def kinds() -> list[str]:
        return [e.kind for e in events.page(since=0).events if e.kind in ("sweep.finished", "sweep.summary")]

    try:
        await loop.run_once()
        assert kinds() == ["sweep.finished"]  # the first: the loop is up
        for _ in range(30):  # five minutes of idle sweeps, every ten seconds
            clock.advance(10)
            await loop.run_once()
        assert kinds() == ["sweep.finished"]
        fake.add_issue(REPO, "Server crashes on start with a traceback", "Acceptance criteria:\n- [ ] ok")
        clock.advance(10)
        await loop.run_once()
        assert kinds() == ["sweep.finished", "sweep.finished"]  # it repaired (routed) something
        (routed,) = [e for e in events.page(since=0).events if e.kind == "sweep.finished"][1:]
        assert routed.data["repairs"] >= 1 and routed.data["failed"] == 0
        for _ in range(61):  # ten minutes more of nothing
            clock.advance(10)
            await loop.run_once()
        assert kinds() == ["sweep.finished", "sweep.finished", "sweep.summary"]
        summary = events.page(since=0).events[-1]
        assert summary.data["repairs"] == 0 and summary.data["sweeps"] >= 60
    finally:
        runtime.close()
