"""``uni-wizard demo``: a guided tour on a temporary git repository and forge, with embedded defaults.

Each house runs a few tools; one denial of each kind is shown with its reason; a SOVEREIGN call
waits for an approval, is approved by Timmy and runs; the provenance chain is verified; then the
mesh: a devforge, the bootstrapped layout and Allegro's dispatcher, which triages and routes the
issues Timmy files, live; then the spine on a forge of its own: Bezalel's PR with proof, reviewed,
approved and merged by Timmy, and Ezra's report, with each stage's time; then the mesh upgrades itself:
a house change proposed as an upgrade, approved by the sovereign, merged and applied live by the
reconcilers of two hosts. A summary closes the tour.

A chapter is a function of the ``Tour`` (``tour.py``); later capabilities add theirs to
``CHAPTERS``. Chapters record tool calls in ``tour.steps``, forge issues in ``tour.routed`` and
what did not go as expected in ``tour.failures``.

Floor: the composition. May import: anything (it builds roles through uni_wizard.assembly).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console

from ..config import Settings
from ..devforge import DevforgeServer
from ..errors import UniWizardError
from ..forge import GiteaClient
from ..harness.runtime import Runtime
from ..tools.env import ToolEnv
from .chapters import chapter_denials, chapter_houses_at_work, chapter_provenance, chapter_sovereign
from .mesh import chapter_mesh
from .spine import chapter_spine
from .tour import RoutedIssue, Tour, build_world, paths_summary, routing_summary, summary, upgrades_summary
from .upgrade import chapter_upgrade

__all__ = ["CHAPTERS", "RoutedIssue", "Tour", "run_demo"]

CHAPTERS: list[Callable[[Tour], None]] = [
    chapter_houses_at_work,
    chapter_denials,
    chapter_sovereign,
    chapter_provenance,
    chapter_mesh,
    chapter_spine,
    chapter_upgrade,
]


WORLD_ADMIN = ("demo-admin", "demo-admin-password")  # the first chapters' forge; it lives and dies with the demo


async def _world_repo(url: str) -> str:
    """An empty ``sample`` repository of the world forge's admin; the admin's token (the houses push with it)."""
    async with GiteaClient(url, username=WORLD_ADMIN[0], password=WORLD_ADMIN[1]) as basic:
        token = (await basic.create_token(WORLD_ADMIN[0], "demo")).sha1
    async with GiteaClient(url, token) as admin:
        await admin.create_repo("sample", default_branch="main")
    return token


def run_demo(*, keep: bool = False, console: Console | None = None, root: Path | None = None) -> Tour:
    """Run every chapter; raise ``UniWizardError`` listing what did not go as expected."""
    console = console or Console(highlight=False)
    root = root or Path(tempfile.mkdtemp(prefix="uni-wizard-demo-"))
    started = time.perf_counter()
    forge = DevforgeServer(root / "forge", WORLD_ADMIN).start()  # the first chapters' remote
    try:
        token = asyncio.run(_world_repo(forge.url))
        build_world(root, f"{forge.url}{WORLD_ADMIN[0]}/sample.git", token)
        settings = Settings(host="demo-host", data_dir=root / "data", workspace=root / "workspace")
        env = ToolEnv(gitea_url=forge.url, gitea_token=token)
        runtime = Runtime(settings, env=env, metrics_registry=CollectorRegistry())
        tour = Tour(root=root, runtime=runtime, console=console)
        console.print(f"[bold]uni-wizard demo[/] — workspace {settings.workspace}")
        try:
            for chapter in CHAPTERS:
                chapter(tour)
        finally:
            runtime.close()
    finally:
        forge.stop()
    console.rule("Summary")
    if tour.steps:
        console.print(summary(tour))
    for table in (routing_summary(tour), paths_summary(tour), upgrades_summary(tour)):
        if table is not None:
            console.print(table)
    elapsed = time.perf_counter() - started
    by_status: dict[str, int] = {}
    for _, r in tour.steps:
        by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
    calls = f"{len(tour.steps)} calls: " + ", ".join(f"{v} {k}" for k, v in by_status.items())
    held = sum(1 for issue in tour.routed if issue.house is None)
    issues = (
        f"; {len(tour.routed)} issues triaged: {len(tour.routed) - held} routed, {held} held" if tour.routed else ""
    )
    applied = sum(1 for up in tour.upgrades if up.state == "applied")
    upgrades = f"; {len(tour.upgrades)} upgrade(s) of the mesh, {applied} applied" if tour.upgrades else ""
    console.print(f"{calls}{issues}{upgrades}; {elapsed:.1f} s in all")
    if keep:
        console.print(f"kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    if tour.failures:
        raise UniWizardError("the demo did not go as expected: " + "; ".join(tour.failures))
    return tour
