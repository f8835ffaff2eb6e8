"""One test's world for the reconciler: a mesh repository on the devforge, upgrade PRs made as the
upgrade queue would (labels ``upgrade`` + ``upgrade/<state>``, timmy's approval bound to the head, merged),
and hosts whose reconcilers run on private directories with a recording systemd stand-in. The fixtures
``mesh`` and ``world`` are imported by the reconciler's test modules."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrapped_forge import Mesh, mesh_fixture
from prometheus_client import CollectorRegistry
from worlds import ORG, Permission, clone, commit_and_push, create_repo, fresh_name, push_files

from uni_wizard import testing
from uni_wizard.assembly.reconciler import build_reconciler
from uni_wizard.config import Settings
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.models import CommitStatus
from uni_wizard.harness import Runtime
from uni_wizard.reconcile.reconciler import Reconciler
from uni_wizard.reconcile.services import HttpHealthGate
from uni_wizard.testing import make_runtime

ROOT = Path(__file__).resolve().parents[2]
MEMBERS: dict[str, Permission] = {"timmy": "admin", "bezalel": "write", "allegro": "write"}
STATES = ("proposed", "approved", "rejected", "expired", "applying", "applied", "failed")


class RecordingServices(testing.RecordingServices):
    """The shipped stand-in, plus ``crash_on``: "restart" or "reload" dies there (a process killed mid-apply)."""

    def __init__(self, on_restart: Callable[[], None] | None = None, crash_on: str | None = None) -> None:
        super().__init__(on_restart)
        self.crash_on = crash_on

    async def restart(self, units: Sequence[str], *, wait: bool = True) -> None:
        if self.crash_on == "restart":
            self.calls += [f"restart:{u}" for u in units]
            raise Crash()
        await super().restart(units, wait=wait)

    async def reload(self, units: Sequence[str]) -> None:
        if self.crash_on == "reload":
            self.calls += [f"reload:{u}" for u in units]
            raise Crash()
        await super().reload(units)


class Crash(BaseException):
    """The process dying mid-apply (nothing in the reconciler catches it)."""


@dataclass
class Host:
    name: str
    settings: Settings
    runtime: Runtime
    services: RecordingServices
    reconciler: Reconciler | None = None

    @property
    def config_dir(self) -> Path:
        return self.settings.config_dir

    @property
    def release_root(self) -> Path:
        return self.settings.release_root


@dataclass
class World:
    mesh: Mesh
    repo: str
    tmp: Path
    work: Path
    timmy: GiteaClient
    bezalel: GiteaClient
    hosts: list[Host] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def push(self, branch: str, files: dict[str, str | None], message: str, *, base: str = "origin/main") -> str:
        return push_files(self.work, branch, files, message, base=base)

    async def upgrade(
        self,
        files: dict[str, str | None],
        *,
        approve: bool = True,
        labels: Sequence[str] = ("upgrade", "upgrade/approved"),
        push_after_approval: bool = False,
    ) -> tuple[int, str]:
        """An upgrade PR by bezalel, approved by timmy at its head, labelled, merged by timmy: (number, merged sha)."""
        branch = f"upgrade-{uuid.uuid4().hex[:6]}"
        head = self.push(branch, files, "An upgrade of the mesh")
        pr = await self.bezalel.create_pull(ORG, self.name, head=branch, base="main", title=f"Upgrade {branch}")
        if approve:
            await self.timmy.create_review(ORG, self.name, pr.number, "APPROVED", "ok", commit_id=head)
        if push_after_approval:
            head = self.push(branch, {"NOTES.md": "a later commit\n"}, "After the approval")
        if labels:
            await self.timmy.add_labels(ORG, self.name, pr.number, list(labels))
        for _ in range(100):  # the forge's conflict check runs after each push
            if (await self.timmy.get_pull(ORG, self.name, pr.number)).mergeable:
                break
            await asyncio.sleep(0.05)
        await self.timmy.merge_pull(ORG, self.name, pr.number, head_commit_id=head)
        merged = await self.timmy.get_pull(ORG, self.name, pr.number)
        assert merged.merged and merged.merge_commit_sha
        return pr.number, merged.merge_commit_sha

    async def statuses(self, sha: str) -> list[CommitStatus]:
        return await self.timmy.list_statuses(ORG, self.name, sha)

    async def add_host(
        self,
        name: str,
        *,
        health_urls: Sequence[str],
        reconcile: dict[str, Any] | None = None,
        services: RecordingServices | None = None,
        deadline: float = 5.0,
    ) -> Host:
        base = self.tmp / name
        config_dir = base / "etc"
        shutil.copytree(ROOT / "houses", config_dir / "houses")
        mesh_file = base / "mesh.yaml"
        section = {"health_urls": list(health_urls), "units": ["uni-wizard@worker.service"], "self_unit": "",
                   "health_deadline_seconds": deadline, "health_interval_seconds": 0.05, **(reconcile or {})}  # fmt: skip
        hosts = [{"name": h, "url": "http://127.0.0.1:1", "roles": ["reconciler"]} for h in ("a", "b", name)]
        unique = list({h["name"]: h for h in hosts}.values())
        mesh_file.write_text(yaml.safe_dump({"hosts": unique, "lease": {"repo": self.repo}, "reconcile": section}))
        runtime = make_runtime(
            base, host=name, houses_dir=config_dir / "houses", config_dir=config_dir, release_root=base / "opt",
            mesh_config=mesh_file, gitea_url=self.mesh.url, gitea_token=self.mesh.token("allegro"),
            roles=("reconciler",),
        )  # fmt: skip
        settings = runtime.settings
        host = Host(name, settings, runtime, services or RecordingServices())
        host.reconciler = await build_reconciler(
            settings, runtime, services=host.services, health=HttpHealthGate(interval=0.05)
        )
        self.hosts.append(host)
        return host

    async def close(self) -> None:
        for host in self.hosts:
            if host.reconciler is not None:
                await host.reconciler.forge.aclose()
            host.runtime.close()
        await self.timmy.aclose()
        await self.bezalel.aclose()


mesh = mesh_fixture()


@pytest.fixture
async def world(mesh: Mesh, tmp_path: Path) -> AsyncIterator[World]:
    """A world of its own per test (import it with ``mesh`` into the test module)."""
    made = await make_world(mesh, tmp_path)
    try:
        yield made
    finally:
        await made.close()


async def make_world(mesh: Mesh, tmp: Path) -> World:
    labels = [("upgrade", "#1d76db", False), *((f"upgrade/{state}", "#cccccc", True) for state in STATES)]
    repo = await create_repo(mesh, fresh_name("m"), members=MEMBERS, labels=labels)
    work = clone(mesh, repo, tmp / "bezalel")
    shutil.copytree(ROOT / "houses", work / "houses")
    commit_and_push(work, "The mesh's houses")
    timmy = GiteaClient(mesh.url, mesh.token("timmy"), registry=CollectorRegistry())
    bezalel = GiteaClient(mesh.url, mesh.token("bezalel"), registry=CollectorRegistry())
    return World(mesh, repo, tmp, work, timmy, bezalel)


def with_bid(text: str, bid: float) -> str:
    data = yaml.safe_load(text)
    data["bid_rate"] = bid
    return yaml.safe_dump(data, sort_keys=False)
