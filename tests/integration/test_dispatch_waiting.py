"""Back-pressure against a real devforge: when every house is full, triaged issues wait in order of priority,
oldest first within a priority; room freed one slot at a time routes them in that order, whatever touches
them meanwhile, and a new issue never passes one that waits. The line is visible: the audit comment says the
issue's place, the gauges count it, ``dispatch queue`` lists it.

The world (a fresh repository on a module devforge, a private runtime) is test_dispatch.py's.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from test_dispatch import ORG, World, mesh, world  # noqa: F401  (fixtures)

from uni_wizard.cli import main
from uni_wizard.dispatch.line_view import read_line
from uni_wizard.dispatch.loop import DispatchLoop
from uni_wizard.testing import make_runtime

TAKERS = ("bezalel", "ezra", "timmy")
OLD_P2 = ("Document the gossip protocol settings", "- [ ] a page")
P1 = ("Urgent: the status page shows stale numbers", "- [ ] fresh numbers")
NEW_P2 = ("Write a guide for adding a house", "- [ ] a guide")
P0 = ("Security: token leaked in logs", "data loss risk")
NEWER_P2 = ("Describe the sweep cursors in the manual", "- [ ] a section")


def status(labels: set[str]) -> str:
    return next(n.split("/", 1)[1] for n in labels if n.startswith("status/"))


def waiting_gauge(loop: DispatchLoop, priority: str, name: str = "uniwizard_dispatch_waiting_issues") -> float:
    value = loop.dispatcher.metrics.registry.get_sample_value(name, {"priority": priority})
    assert value is not None
    return value


def free_one_slot(loop: DispatchLoop, turn: int) -> None:
    """One more issue for one house (a different house each time)."""
    house = TAKERS[turn % len(TAKERS)]
    policy = loop.dispatcher.houses[house]
    loop.dispatcher.houses[house] = policy.model_copy(update={"max_concurrency": policy.max_concurrency + 1})


async def test_waiting_issues_are_routed_by_priority_then_age_and_none_starves(
    world: World,  # noqa: F811  (the fixture of test_dispatch.py)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    houses = {n: p.model_copy(update={"max_concurrency": 1}) for n, p in world.runtime.houses.items()}
    runtime = make_runtime(tmp_path / "small", gitea_url=world.mesh.url, houses=houses)
    try:
        loop = world.loop(runtime)
        for i in range(len(TAKERS)):  # the houses full: one issue each
            await world.file(f"Fill the house number {i}", "- [ ] done")
        await loop.run_once()
        old, p1, new, p0 = [(await world.file(*spec)).number for spec in (OLD_P2, P1, NEW_P2, P0)]
        await loop.run_once()

        views = {n: await world.view(n) for n in (old, p1, new, p0)}
        for n, priority in ((old, "P2"), (p1, "P1"), (new, "P2"), (p0, "P0")):
            assert status(views[n].labels) == "triage" and f"priority/{priority}" in views[n].labels, views[n].labels
            assert len(views[n].audits) == 1 and "**Not routed**" in views[n].audits[0].body
        # handled as updated (old, p1, new, p0): each says its place in the line when it joined it
        assert f"Waiting: 3rd of 3, behind #{p1} (P1), #{old} (P2)." in views[new].audits[0].body
        assert "Waiting: 1st of 4, next to be routed" in views[p0].audits[0].body
        assert [waiting_gauge(loop, p) for p in ("P0", "P1", "P2", "P3", "unknown")] == [1, 1, 2, 0, 0]
        assert waiting_gauge(loop, "P2", "uniwizard_dispatch_oldest_waiting_seconds") >= 0
        assert [w.number for w in loop.dispatcher.waiting.ordered()] == [p0, p1, old, new]

        for i in range(3):  # the old P2 touched again and again: its updated_at moves, its place does not
            await world.timmy.create_comment(ORG, world.name, old, f"any news? ({i})")
            await asyncio.sleep(1.05)
            await loop.run_once()
        audits = {n: [c.body for c in (await world.view(n)).audits] for n in (old, p1, new, p0)}
        assert audits == {n: [views[n].audits[0].body] for n in views}  # written once, never again while full

        line = await read_line(world.timmy, [world.repo], houses, hold_label="hold")
        assert [w.number for w in line.waiting] == [p0, p1, old, new] and line.free == 0
        monkeypatch.setenv("UNIWIZARD_GITEA_URL", world.mesh.url)
        monkeypatch.setenv("UNIWIZARD_GITEA_TOKEN", world.mesh.token("allegro"))
        monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(tmp_path / "cli"))
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["dispatch", "queue", "--repo", world.repo, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert [(r["issue"], r["priority"]) for r in shown["waiting"]] == [
            (p0, "P0"),
            (p1, "P1"),
            (old, "P2"),
            (new, "P2"),
        ]
        assert await asyncio.to_thread(main, ["dispatch", "queue", "--repo", world.repo]) == 0
        text = capsys.readouterr().out
        assert text.startswith("4 waiting;") and max(len(x) for x in text.splitlines()) <= 80
        assert [t for t in text.split() if t.startswith("#") and t[1:].isdigit()] == [
            f"#{n}" for n in (p0, p1, old, new)
        ]

        routed: list[int] = []
        for turn, expected in enumerate((p0, p1, old)):
            free_one_slot(loop, turn)
            if expected == old:  # a new P2, handled at once (as from a webhook): it joins the line, behind
                newer = await world.file(*NEWER_P2)
                await loop.dispatcher.handle(world.repo, newer)
                body = (await world.view(newer.number)).audits[0].body
                assert f"Waiting: 3rd of 3, behind #{old} (P2), #{new} (P2)." in body, body
            await loop.run_once()
            now = [n for n in (old, p1, new, p0) if status((await world.view(n)).labels) == "routed"]
            assert [n for n in now if n not in routed] == [expected]
            routed.append(expected)
        free_one_slot(loop, 3)
        await loop.run_once()
        assert status((await world.view(new)).labels) == "routed"
        assert status((await world.view(newer.number)).labels) == "triage"
        free_one_slot(loop, 4)
        await loop.run_once()
        assert status((await world.view(newer.number)).labels) == "routed"
        assert [waiting_gauge(loop, p) for p in ("P0", "P1", "P2", "P3", "unknown")] == [0, 0, 0, 0, 0]
        for n in (p0, p1, old, new):
            (audit,) = (await world.view(n)).audits  # the one audit comment, edited: routed now
            assert "**Routed to `" in audit.body
    finally:
        runtime.close()
