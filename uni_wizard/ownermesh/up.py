"""``uni-wizard up DIR``: the owner's mesh of DIR on this machine, in the foreground.

    code = run_up(Path("~/mesh"))      # until Ctrl-C or SIGTERM; 0 after a clean stop

One at a time per directory (``DIR/up.lock``). Before anything starts, every file is checked (``preflight``:
the forge file, the mesh file, each daemon's settings and the configuration and secrets they name, the ports):
a mistake is one ``ConfigError`` naming the file and the key. Then the devforge (when the mesh has one) and a
daemon per host of the mesh file start as child processes (``children.py``), each waited for (the forge's
``/api/v1/version``, each daemon's ``/health``); a child that cannot start is shown by its own error line.
While they run, each daemon's new events become lines (``watch.py``, ``lines.py``). On Ctrl-C or SIGTERM the
daemons stop, then the devforge, and ``up`` exits 0; a child that ends by itself stops the mesh (exit 1).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..assembly.configs import Configs
from ..config import load_settings
from ..errors import ConfigError
from ..meshfile.schema import HostEntry, load_mesh_config
from .children import Child
from .lock import UpLock
from .paths import DEVFORGE_ADMIN, ForgeFile, MeshDir, load_forge_file
from .probe import port_free
from .watch import EventFollower, wait_http

__all__ = ["Planned", "UpPlan", "preflight", "run_up"]

START_SECONDS = 60.0
TURN_SECONDS = 0.5


def say_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Planned:
    """A daemon ``up`` runs: a host of the mesh file and its settings file."""

    name: str
    settings: Path
    url: str
    port: int
    roles: tuple[str, ...]
    api_token: str


@dataclass(frozen=True)
class UpPlan:
    mesh: MeshDir
    forge: ForgeFile
    daemons: tuple[Planned, ...]


def _port(host: HostEntry, source: Path) -> int:
    try:
        return int(host.url.rstrip("/").rsplit(":", 1)[1])
    except (IndexError, ValueError):
        raise ConfigError(
            f"the url {host.url!r} names no port", source=str(source), key=f"hosts.{host.name}.url"
        ) from None


def _check_daemon(mesh: MeshDir, host: HostEntry) -> Planned:
    """The settings of ``host`` and what they name, checked as the daemon will check them."""
    path = mesh.settings(host.name)
    if not path.is_file():
        raise ConfigError(f"no settings file for the host {host.name} of {mesh.mesh_file}", source=str(path))
    settings = load_settings(path)
    port = _port(host, mesh.mesh_file)
    if settings.port != port:
        raise ConfigError(
            f"{settings.port} is not the port of {host.url} in {mesh.mesh_file}", source=str(path), key="port"
        )
    settings.check_secrets()
    configs = Configs(settings)
    configs.triage, configs.review, configs.cascade  # noqa: B018 - loads and validates each file
    token = settings.secret("api_token")
    if not token:
        raise ConfigError(
            "up reads the daemon's events with the API token: set api_token_file",
            source=str(path),
            key="api_token_file",
        )
    if not port_free(port, settings.bind):
        raise ConfigError(
            f"port {port} is in use: stop what listens there, or change it here and in {mesh.mesh_file}",
            source=str(path),
            key="port",
        )
    return Planned(host.name, path, f"http://127.0.0.1:{port}", port, settings.roles, token)


def preflight(mesh: MeshDir) -> UpPlan:
    """Every file of the mesh checked, nothing started or written; ``ConfigError`` for the first mistake."""
    forge = load_forge_file(mesh.forge_file)
    hosts = load_mesh_config(mesh.mesh_file).hosts
    if not hosts:
        raise ConfigError("lists no host: nothing would run", source=str(mesh.mesh_file), key="hosts")
    if forge.forge == "devforge":
        if forge.port is None:
            raise ConfigError("the devforge needs its port", source=str(mesh.forge_file), key="port")
        if not port_free(forge.port):
            raise ConfigError(f"port {forge.port} of the devforge is in use", source=str(mesh.forge_file), key="port")
        if not mesh.secret(DEVFORGE_ADMIN).is_file():
            raise ConfigError(
                "the devforge's admin is missing: run uni-wizard init again", source=str(mesh.secret(DEVFORGE_ADMIN))
            )
    return UpPlan(mesh, forge, tuple(_check_daemon(mesh, host) for host in hosts))


class Supervisor:
    """Starts the children of ``plan``, shows their events, stops them all."""

    def __init__(self, plan: UpPlan, say: Callable[[str], None]) -> None:
        self.plan, self.say = plan, say
        self.children: list[Child] = []
        self.stop = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        async with httpx.AsyncClient(timeout=5.0) as client:
            try:
                code = await self._start(client)
                if code is None:
                    code = await self._watch(client)
            finally:
                await self._stop_all()
        return code

    def _shown(self, path: Path) -> str:
        return str(path)

    async def _start(self, client: httpx.AsyncClient) -> int | None:
        """The children, each waited for; an exit code when the mesh cannot start (or was stopped meanwhile)."""
        mesh, forge = self.plan.mesh, self.plan.forge
        if forge.forge == "devforge":
            args = ["devforge", str(mesh.forge_data), str(forge.port), str(mesh.secret(DEVFORGE_ADMIN))]
            child = Child("devforge", args, mesh.log("devforge"))
            code = await self._launch([(child, forge.url + "api/v1/version")], client)
            if code is not None:
                return code
            self.say(f"devforge  serving {forge.url} (its data: {mesh.forge_data}; its log: {child.log})")
        else:
            self.say(f"forge     the Gitea at {forge.url}")
        waits = [
            (Child(d.name, ["daemon", str(d.settings)], mesh.log(d.name)), f"{d.url}/health") for d in self.plan.daemons
        ]
        code = await self._launch(waits, client)
        if code is not None:
            return code
        for daemon in self.plan.daemons:
            self.say(f"{daemon.name:<9} {', '.join(daemon.roles)} on {daemon.url} (settings: {daemon.settings})")
        self.say(_ready_line(forge, mesh))
        return None

    async def _launch(self, waits: list[tuple[Child, str]], client: httpx.AsyncClient) -> int | None:
        """Start each child, then wait until each answers at its URL (or one ends, or time runs out)."""
        for child, _ in waits:
            await child.start()
            self.children.append(child)
        pending = dict(waits)
        deadline = time.monotonic() + START_SECONDS
        while pending:
            if self.stop.is_set():
                return 0
            for child, url in list(pending.items()):
                if child.exited is not None:
                    self.say(f"{child.name} did not start (exit {child.exited}): {child.last_error()}")
                    return 2 if child.exited == 2 else 1
                if await wait_http(client, url):
                    del pending[child]
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                self.say(f"{names} did not answer within {START_SECONDS:g} s; see {self.plan.mesh.logs_dir}")
                return 1
            await self._pause(0.2)
        return None

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            return

    async def _watch(self, client: httpx.AsyncClient) -> int:
        """Lines for the daemons' events until stopped (0) or until a child ends by itself (1)."""
        mesh = self.plan.mesh
        followers = [
            EventFollower(d.name, d.url, d.api_token, mesh.data(d.name) / "up.cursor", self.say)
            for d in self.plan.daemons
        ]
        while not self.stop.is_set():
            for follower in followers:
                await follower.poll(client)
            ended = next((c for c in self.children if c.exited is not None), None)
            if ended is not None:
                self.say(
                    f"{ended.name} stopped by itself (exit {ended.exited}): {ended.last_error()}; its log: {ended.log}"
                )
                return 1
            await self._pause(TURN_SECONDS)
        for follower in followers:  # what happened just before the stop
            await follower.poll(client)
        return 0

    async def _stop_all(self) -> None:
        """The daemons (together), then the forge; each SIGTERM, then SIGKILL after a while."""
        running = [c for c in self.children if c.exited is None]
        if not running:
            return
        self.say(f"stopping {', '.join(c.name for c in running)}")
        daemons = [c for c in running if c.name != "devforge"]
        await asyncio.gather(*(c.stop() for c in daemons))
        for child in running:
            if child not in daemons:
                await child.stop()
        self.say("stopped")


def _ready_line(forge: ForgeFile, mesh: MeshDir) -> str:
    """Where the owner files issues and approves: the Gitea's pages, or the devforge's API (it has no pages)."""
    owner = forge.owner
    if forge.forge == "devforge":
        where = f"the devforge's API, {forge.url}api/v1/repos/{forge.work_repo}/issues (it has no web pages)"
    else:
        where = f"{forge.url}{forge.work_repo}/issues"
    return (
        f"the mesh is up: issues at {where}, filed and approved as {owner} "
        f"(token: {mesh.secret(owner + '.token')}); logs in {mesh.logs_dir}; Ctrl-C stops it"
    )


def _drop_settings_env(say: Callable[[str], None]) -> None:
    """The ``UNIWIZARD_*`` variables of the shell do not reach the mesh: its daemons' settings are their files."""
    dropped = sorted(name for name in os.environ if name.upper().startswith("UNIWIZARD_"))
    for name in dropped:
        del os.environ[name]
    if dropped:
        say(f"note: {', '.join(dropped)} ignored: each daemon of the mesh takes its settings from its file")


def run_up(directory: Path, *, say: Callable[[str], None] = say_line) -> int:
    """Run the mesh of ``directory`` until Ctrl-C or SIGTERM; the exit code (``ConfigError`` before anything
    starts)."""
    mesh = MeshDir(directory.expanduser().absolute())
    if not mesh.root.is_dir() or not mesh.is_mesh():
        raise ConfigError(
            "holds no uni-wizard mesh (no forge.yaml): run `uni-wizard init DIR` first", source=str(mesh.root)
        )
    _drop_settings_env(say)
    lock = UpLock(mesh.lock_file, mesh.root)
    lock.acquire()
    try:
        plan = preflight(mesh)
        return asyncio.run(Supervisor(plan, say).run())
    finally:
        lock.release()
