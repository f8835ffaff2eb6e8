"""What chapter 7 works with: the mesh repository's seed (the shipped houses, a test that loads them with the
real loader), Bezalel's clone, and two reconciler hosts on private directories of the demo's workspace.

A host is a ``Settings`` of its own (``config_dir``/``houses``, ``release_root``, a ``mesh.yaml`` naming
both hosts with the ``reconciler`` role), its own ``Runtime`` (its live houses) and the real reconciler
(``build_reconciler``), with two stand-ins since there is no systemd and no daemon here: a recording
``ServiceManager`` and a health gate that checks the host's live houses are the installed ones.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from ..assembly.reconciler import build_reconciler
from ..config import Settings, default_houses_dir
from ..harness.runtime import Runtime
from ..policy.loader import load_houses
from ..reconcile.reconciler import Reconciler
from ..reconcile.services import HealthReport
from ..testing.worlds import RecordingServices

__all__ = ["DemoHost", "LiveHousesGate", "make_host", "seed_files"]

HOUSES_TEST = """import unittest
from pathlib import Path

from uni_wizard.policy.loader import load_houses


class HousesTest(unittest.TestCase):
    def test_every_house_loads(self):
        houses = load_houses(Path("houses"))
        self.assertEqual(sorted(houses), ["allegro", "bezalel", "ezra", "timmy"])
"""


def seed_files() -> dict[str, str]:
    """The mesh repository: the shipped houses, a test loading them, and the test command of the proof."""
    files = {f"houses/{p.name}": p.read_text(encoding="utf-8") for p in sorted(default_houses_dir().glob("*.yaml"))}
    command = f"[{sys.executable!r}, -m, unittest, discover, -s, tests, -t, .]"
    files |= {
        "tests/__init__.py": "",
        "tests/test_houses.py": HOUSES_TEST,
        ".uni-wizard.yaml": f"test_command: {command}\n",
        ".gitignore": "__pycache__/\n",
    }
    return files


class LiveHousesGate:
    """The health gate of a host without a daemon: ready when the houses this host's runtime holds live are
    exactly the ones installed in its ``houses_dir`` (read with the real loader)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def wait_ready(self, urls: Sequence[str], deadline: float) -> HealthReport:
        installed = load_houses(self.runtime.settings.houses_dir)
        live = self.runtime.houses
        same = installed.keys() == live.keys() and all(installed[n] == live[n] for n in installed)
        return HealthReport(same, "the live houses are the installed ones" if same else "live houses differ", 0.0)


@dataclass
class DemoHost:
    name: str
    settings: Settings
    runtime: Runtime
    services: RecordingServices = field(default_factory=RecordingServices)
    reconciler: Reconciler | None = None
    closing: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)  # its forge client

    async def close(self) -> None:
        await self.closing.aclose()
        self.runtime.close()


async def make_host(root: Path, name: str, hosts: Sequence[str], *, repo: str, url: str, token: str) -> DemoHost:
    """Host ``name``: the shipped houses installed in its config dir, its mesh file, its real reconciler."""
    base = root / name
    config_dir = base / "etc"
    shutil.copytree(default_houses_dir(), config_dir / "houses")
    (base / "workspace").mkdir(parents=True)
    mesh_file = base / "mesh.yaml"
    entries = [{"name": h, "url": "http://127.0.0.1:9", "roles": ["reconciler"]} for h in hosts]
    reconcile = {"units": ["uni-wizard@worker.service"], "self_unit": "", "health_deadline_seconds": 5}
    mesh_file.write_text(yaml.safe_dump({"hosts": entries, "lease": {"repo": repo}, "reconcile": reconcile}))
    settings = Settings(
        host=name, data_dir=base / "data", workspace=base / "workspace", houses_dir=config_dir / "houses",
        config_dir=config_dir, release_root=base / "opt", mesh_config=mesh_file, gitea_url=url, gitea_token=token,
        roles=("reconciler",),
    )  # fmt: skip
    runtime = Runtime(settings, metrics_registry=CollectorRegistry())
    host = DemoHost(name, settings, runtime)
    host.reconciler = await build_reconciler(
        settings, runtime, closing=host.closing, services=host.services, health=LiveHousesGate(runtime)
    )
    return host
