"""``build_reviewer`` attaches the upgrade queue when it watches the mesh's repository, with the
reconciler hosts of the mesh configuration."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.review.wiring import build_reviewer
from uni_wizard.testing import make_runtime


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("UNIWIZARD_"):
            monkeypatch.delenv(name)


def build(tmp_path: Path, **settings: Any) -> Any:
    values: dict[str, Any] = {"gitea_url": "http://forge.invalid/", "gitea_token": "t0ken", "house": "timmy"}
    runtime = make_runtime(tmp_path, **values, **settings)
    try:
        return build_reviewer(runtime.settings, runtime)
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
    queue = reviewer.upgrades
    assert queue is not None and queue.config.repo == "mesh/mesh" and not queue.config.auto_approve_upgrades
    assert queue.deploy_hosts == ("sovereign", "vps-a")
    assert (queue.login, queue.approvers, queue.forge) == ("timmy", reviewer.approvers, reviewer.forge)
    asyncio.run(reviewer.forge.aclose())


def test_no_queue_when_the_reviewer_does_not_watch_the_upgrade_repository(tmp_path: Path) -> None:
    upgrades = tmp_path / "upgrades.yaml"
    upgrades.write_text("repo: elsewhere/mesh\n")
    reviewer = build(tmp_path, upgrades_config=upgrades)
    assert reviewer.upgrades is None
    asyncio.run(reviewer.forge.aclose())
