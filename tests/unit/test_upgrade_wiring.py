"""``build_reviewer`` with ``upgrade_extension`` attaches the upgrade queue when it watches the mesh's
repository, with the reconciler hosts of the mesh configuration; without it, no queue."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from uni_wizard.assembly.reviewer import build_reviewer
from uni_wizard.assembly.upgrades import attached_queue, upgrade_extension
from uni_wizard.testing import make_runtime


def build(tmp_path: Path, *, upgrades: bool = True, **settings: Any) -> Any:
    values: dict[str, Any] = {"gitea_url": "http://forge.invalid/", "gitea_token": "t0ken", "house": "timmy"}
    runtime = make_runtime(tmp_path, **values, **settings)
    extend = upgrade_extension(runtime.settings, runtime) if upgrades else None
    try:
        return build_reviewer(runtime.settings, runtime, extend=extend)
    finally:
        runtime.close()


def test_the_reviewer_of_the_mesh_repository_runs_the_queue_with_the_reconciler_hosts(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        "hosts:\n"
        "  - {name: sovereign, url: 'http://10.0.0.1:8643', roles: [reviewer, reconciler]}\n"
        "  - {name: vps-a, url: 'http://10.0.0.2:8643', roles: [worker, reconciler]}\n"
        "  - {name: vps-b, url: 'http://10.0.0.3:8643', roles: [worker]}\n"
    )
    reviewer = build(tmp_path, mesh_config=mesh)
    queue = attached_queue(reviewer.extensions)
    assert queue is not None and queue.config.repo == "mesh/mesh" and not queue.config.auto_approve_upgrades
    assert queue.deploy_hosts == ("sovereign", "vps-a")
    assert (queue.login, queue.approvers, queue.forge) == ("timmy", reviewer.approvers, reviewer.forge)
    asyncio.run(reviewer.forge.aclose())


def test_no_queue_when_the_reviewer_does_not_watch_the_upgrade_repository(tmp_path: Path) -> None:
    upgrades = tmp_path / "upgrades.yaml"
    upgrades.write_text("repo: elsewhere/mesh\n")
    reviewer = build(tmp_path, upgrades_config=upgrades)
    assert reviewer.extensions == () and attached_queue(reviewer.extensions) is None
    asyncio.run(reviewer.forge.aclose())


def test_no_queue_unless_the_composition_passes_the_extension(tmp_path: Path) -> None:
    """The review package never reaches for the upgrade queue itself."""
    reviewer = build(tmp_path, upgrades=False)
    assert "mesh/mesh" in reviewer.repos and reviewer.extensions == ()
    asyncio.run(reviewer.forge.aclose())
