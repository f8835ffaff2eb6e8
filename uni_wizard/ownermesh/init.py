"""``uni-wizard init DIR``: an owner's mesh in one directory, on an embedded devforge or a real Gitea.

    report = await init_mesh(InitOptions(Path("~/mesh")))         # the devforge, owner `owner`, owner/work
    report = await init_mesh(InitOptions(root, gitea_url="https://forge.example", admin_token_file=token))

The order: every check that needs no writing (DIR, the recorded choices against the options, the Gitea and
its admin token); then, in the staging directory, the secrets, the forge (the devforge started on its port
for the while, or the Gitea), the layout bootstrapped, the files written and loaded back; then the rename.
A failure abandons the staging directory, except when a real Gitea was changed already: its passwords and
tokens are kept there for the next run, which takes up where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client import CollectorRegistry

from ..config import default_houses_dir, read_secret_file
from ..devforge import DevforgeServer
from ..errors import ConfigError, ForgeUnavailable, NotFound, Unauthorized
from ..forge.bootstrap import BootstrapReport, bootstrap
from ..forge.client import GiteaClient
from ..meshfile.schema import load_mesh_config
from ..policy.loader import load_houses
from ..reporef import RepoRef
from .layout import WORK_REPO, owner_layout, template_files
from .lock import running_pid
from .paths import DEVFORGE_ADMIN, ForgeFile, MeshDir, load_forge_file
from .plan import Choice, Daemon, plan_daemons
from .probe import DAEMON_PORT, FORGE_PORT, OLLAMA_URL, choose_ports, probe_ollama
from .report import InitReport
from .staging import Staging, Writer
from .writing import write_mesh_files

__all__ = ["InitOptions", "InitReport", "init_mesh"]

DEFAULT_OWNER = "owner"


@dataclass(frozen=True)
class InitOptions:
    """What ``uni-wizard init`` was given (None: the recorded choice, else the default)."""

    root: Path
    owner: str | None = None
    repo: str | None = None
    gitea_url: str | None = None
    admin_token_file: Path | None = None
    ollama_url: str = OLLAMA_URL
    any_ports: bool = False  # ports the system picks, not 3000 and 8643 on (two meshes made at once never collide)


def _check_target(final: MeshDir) -> None:
    root = final.root
    if root.exists() and not root.is_dir():
        raise ConfigError("is not a directory: give a new or empty directory for the mesh", source=str(root))
    if root.is_dir() and not final.is_mesh() and any(root.iterdir()):
        raise ConfigError(
            "is not empty and holds no uni-wizard mesh (no forge.yaml): give a new or empty directory", source=str(root)
        )


def _recorded(option: str | None, recorded: str | None, default: str, name: str, final: MeshDir) -> str:
    if option is not None and recorded is not None and option != recorded:
        raise ConfigError(
            f"the mesh here has {name} {recorded!r}, not {option!r}: leave the option out or use another directory",
            source=str(final.forge_file),
        )
    return option or recorded or default


def _forge_kind(options: InitOptions, recorded: ForgeFile | None, final: MeshDir) -> tuple[str, str | None]:
    if options.gitea_url is not None and options.admin_token_file is None:
        raise ConfigError("a real Gitea needs --admin-token-file (a site admin's token)", source="--gitea-url")
    if recorded is None:
        return ("gitea", options.gitea_url.rstrip("/") + "/") if options.gitea_url else ("devforge", None)
    if recorded.forge == "devforge" and options.gitea_url is not None:
        raise ConfigError("the mesh here runs on its devforge: leave out --gitea-url", source=str(final.forge_file))
    if recorded.forge == "gitea":
        url = _recorded(options.gitea_url and options.gitea_url.rstrip("/") + "/", recorded.url, "", "the Gitea", final)
        if options.admin_token_file is None:
            raise ConfigError(
                f"the mesh here runs on the Gitea at {url}: give --admin-token-file", source="--gitea-url"
            )
        return "gitea", url
    return "devforge", recorded.url


def _ports(
    final: MeshDir, daemons: list[Daemon], recorded: ForgeFile | None, *, any_ports: bool = False
) -> tuple[int | None, list[Daemon]]:
    """The ports a previous run chose (the mesh file's hosts, the devforge's), else free ones: the usual ones
    when free, or (``any_ports``) any the system picks."""
    known: dict[str, int] = {}
    if final.mesh_file.is_file():
        for host in load_mesh_config(final.mesh_file).hosts:
            known[host.name] = int(host.url.rsplit(":", 1)[1].split("/")[0])
    wanted = [0 if any_ports else DAEMON_PORT + i for i in range(len(daemons))]
    fresh = iter(choose_ports(wanted, taken=known.values()))
    placed = [replace(d, port=known.get(d.name) or next(fresh)) for d in daemons]
    forge_port = recorded.port if recorded is not None else None
    if forge_port is None and (recorded is None or recorded.forge == "devforge"):
        forge_port = choose_ports([0 if any_ports else FORGE_PORT], taken=[d.port for d in placed])[0]
    return forge_port, placed


def choose(options: InitOptions, final: MeshDir) -> Choice:
    """The mesh to make or complete at ``final``: ``ConfigError`` when the options contradict it."""
    _check_target(final)
    recorded = load_forge_file(final.forge_file) if final.is_mesh() else None
    kind, url = _forge_kind(options, recorded, final)
    owner = _recorded(options.owner, recorded.owner if recorded else None, DEFAULT_OWNER, "the owner", final)
    repo = _recorded(options.repo, recorded.work_repo if recorded else None, f"{owner}/{WORK_REPO}", "the repo", final)
    work = RepoRef.parse(repo, error=lambda m: ConfigError(m, source="--repo"))
    planned = plan_daemons(load_houses(default_houses_dir()))
    forge_port, daemons = _ports(final, planned, recorded, any_ports=options.any_ports)
    url = url or f"http://127.0.0.1:{forge_port}/"
    models = probe_ollama(options.ollama_url)
    return Choice(kind, url, owner, work, forge_port, daemons, models, options.ollama_url)


async def _check_gitea(choice: Choice, token: str, final: MeshDir, writer: Writer) -> None:
    """The Gitea answers, the token is a site admin's; an owner who exists already has a token here (or is
    the admin whose token this is)."""
    async with GiteaClient(choice.url, token, retries=0, timeout=10, registry=CollectorRegistry()) as admin:
        try:
            me = await admin.me()
        except Unauthorized:
            raise ConfigError(
                f"the Gitea at {choice.url} refuses this token (401)", source="--admin-token-file"
            ) from None
        except ForgeUnavailable as exc:
            raise ConfigError(f"cannot reach the Gitea at {choice.url}: {exc}", source="--gitea-url") from None
        if not me.is_admin:
            raise ConfigError(f"{me.login} is not a site admin of {choice.url}", source="--admin-token-file")
        try:
            await admin.get_user(choice.owner)
        except NotFound:
            return
    token_file = writer.root / "secrets" / f"{choice.owner}.token"
    if token_file.exists() or (writer.root / "secrets" / f"{choice.owner}.password").exists():
        return
    if me.login != choice.owner:
        raise ConfigError(
            f"the user {choice.owner} exists on {choice.url}: save one of its tokens as "
            f"{final.secret(choice.owner + '.token')} (mode 0600), or choose another --owner",
            source="--owner",
        )
    writer.secret(token_file, token)  # the owner is the admin whose token this is


@contextlib.asynccontextmanager
async def _devforge(choice: Choice, root: MeshDir, final: MeshDir, writer: Writer) -> AsyncIterator[tuple[str, str]]:
    """The devforge's site admin, served from ``root/forge`` on its port while the layout is bootstrapped, or
    the devforge ``up`` runs at the moment."""
    admin_line = writer.secret(root.secret(DEVFORGE_ADMIN), f"{DEVFORGE_ADMIN}:{_password()}")
    user, _, password = admin_line.partition(":")
    if running_pid(final.lock_file) is not None:
        yield user, password  # `up` serves it at choice.url
        return
    assert choice.forge_port is not None
    server = DevforgeServer(root.forge_data, (user, password), port=choice.forge_port, root_url=choice.url)
    await asyncio.to_thread(server.start)
    try:
        yield user, password
    finally:
        await asyncio.to_thread(server.stop)


def _password() -> str:
    return secrets.token_urlsafe(24)


async def _bootstrap(
    choice: Choice, root: MeshDir, final: MeshDir, writer: Writer, token: str | None
) -> BootstrapReport:
    """The layout on the forge, as the devforge's site admin or with the Gitea admin's ``token``."""
    layout = owner_layout(choice.owner, choice.work, choice.hook_url, template_files())
    if choice.kind == "gitea":
        assert token is not None
        await _check_gitea(choice, token, final, writer)
        return await bootstrap(layout, url=choice.url, admin_token=token, secrets_dir=root.secrets_dir)
    async with _devforge(choice, root, final, writer) as admin:
        return await bootstrap(layout, url=choice.url, admin=admin, secrets_dir=root.secrets_dir)


def _admin_token(options: InitOptions) -> str | None:
    if options.admin_token_file is None:
        return None
    return read_secret_file(options.admin_token_file, source="--admin-token-file", key="")


async def init_mesh(options: InitOptions, *, say: Callable[[str], None] = lambda line: None) -> InitReport:
    """Make (or complete) the owner's mesh of ``options``; each step is reported through ``say`` as it is done."""
    final = MeshDir(options.root.expanduser().absolute())
    choice = choose(options, final)
    token = _admin_token(options) if choice.kind == "gitea" else None
    report = InitReport(final.root, say=say)
    staging = Staging(final.root, existing=final.is_mesh())
    root = MeshDir(staging.open())
    writer = Writer(root.root, report)
    try:
        Writer.secrets_dir(root.secrets_dir)
        writer.secret(root.secret("api.token"))  # the daemons' API (up reads their event logs with it)
        done = await _bootstrap(choice, root, final, writer, token)
        report.bootstrap(done.steps)
        write_mesh_files(choice, root, final, writer)
    except BaseException:
        if choice.kind == "gitea" and not staging.existing and any(root.secrets_dir.glob("*.password")):
            # users were made on the Gitea with these passwords: the next run needs them
            report.note(f"the passwords and tokens made so far are kept in {root.secrets_dir}: run init again")
        else:
            staging.abandon()
        raise
    staging.commit()
    report.model(choice.models, options.ollama_url, final.root)
    return report
