"""A devforge bootstrapped with the shipped mesh layout, for the tests of the dispatcher, the workers,
the reviewer and the spine (one per test module; each test makes its own repository).

    mesh = mesh_fixture(extra_users=("owner",))   # a module-scoped fixture called ``mesh``

or, where a module needs the mesh in its own way, ``with start_mesh(root, extra_users=...) as mesh:``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.devforge import DevforgeServer
from uni_wizard.devforge.delivery import Deliverer
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.bootstrap import bootstrap, load_layout

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "configs" / "forge-layout.example.yaml"
ADMIN = ("root", "root-password-1")


@dataclass
class Mesh:
    server: DevforgeServer
    secrets: Path

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, user: str) -> str:
        return (self.secrets / f"{user}.token").read_text().strip()

    @property
    def deliverer(self) -> Deliverer:
        deliverer = self.server.forge.deliverer
        assert deliverer is not None
        return deliverer


async def add_user(url: str, secrets: Path, name: str) -> None:
    """A user outside the layout (an outsider), with a token saved beside the others; nothing for a user the
    layout made already (the owner: ``owner`` in the layout)."""
    if (secrets / f"{name}.token").exists():
        return
    async with GiteaClient(url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_user(name, f"{name}@example.com", f"{name}-password-1")
    async with GiteaClient(url, username=name, password=f"{name}-password-1") as basic:
        token = (await basic.create_token(name, "tests")).sha1
    (secrets / f"{name}.token").write_text(token + "\n")


@contextlib.contextmanager
def start_mesh(root: Path, *, extra_users: Sequence[str] = ()) -> Iterator[Mesh]:
    server = DevforgeServer(root / "forge", ADMIN).start()
    try:
        secrets = root / "secrets"
        asyncio.run(bootstrap(load_layout(LAYOUT), url=server.url, admin=ADMIN, secrets_dir=secrets))
        for name in extra_users:
            asyncio.run(add_user(server.url, secrets, name))
        yield Mesh(server, secrets)
    finally:
        server.stop()


def mesh_fixture(*, extra_users: Sequence[str] = ()) -> Any:
    """A module-scoped fixture ``mesh``: ``start_mesh`` with ``extra_users``, stopped after the module."""

    @pytest.fixture(scope="module", name="mesh")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
        with start_mesh(tmp_path_factory.mktemp("mesh"), extra_users=extra_users) as started:
            yield started

    return fixture
