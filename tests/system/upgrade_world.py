"""The forge side of the end-to-end upgrade test: a devforge served on the nspawn bridge (``<net>.1``) with the
shipped mesh layout (users, tokens), a mesh repository of its own (no branch protection, the upgrade labels,
the shipped houses on ``main``), upgrade PRs driven by hand as the upgrade queue would (bezalel proposes,
timmy approves at the head sha, labels ``upgrade`` + ``upgrade/approved``, timmy merges), and the wheels of
a bumped uni-wizard version built from a copy of this checkout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from uni_wizard.devforge import DevforgeServer
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.bootstrap import bootstrap, load_layout
from uni_wizard.forge.models import CommitStatus
from uni_wizard.testing import git_as as git

REPO = Path(__file__).resolve().parents[2]
LAYOUT = REPO / "configs" / "forge-layout.example.yaml"
ADMIN = ("root", "root-password-1")
ORG, NAME = "mesh", "fleet"
STATES = ("proposed", "approved", "rejected", "expired", "applying", "applied", "failed")
BUILD_TIMEOUT = 600.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Forge:
    server: DevforgeServer
    secrets: Path
    work: Path

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, user: str) -> str:
        return (self.secrets / f"{user}.token").read_text().strip()

    def client(self, user: str) -> GiteaClient:
        return GiteaClient(self.url, self.token(user))

    def push(self, branch: str, files: dict[str, str], message: str) -> str:
        git("fetch", "-q", "origin", cwd=self.work)
        git("checkout", "-q", "-B", branch, "origin/main", cwd=self.work)
        for path, text in files.items():
            (self.work / path).parent.mkdir(parents=True, exist_ok=True)
            (self.work / path).write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    async def upgrade(self, files: dict[str, str], title: str) -> tuple[int, str]:
        """An approved upgrade PR merged by timmy: (number, merge commit sha)."""
        branch = f"upgrade-{uuid.uuid4().hex[:6]}"
        head = self.push(branch, files, title)
        async with self.client("bezalel") as bezalel, self.client("timmy") as timmy:
            pr = await bezalel.create_pull(ORG, NAME, head=branch, base="main", title=title)
            await timmy.create_review(ORG, NAME, pr.number, "APPROVED", "ok", commit_id=head)
            await timmy.add_labels(ORG, NAME, pr.number, ["upgrade", "upgrade/approved"])
            for _ in range(100):  # the forge's conflict check runs after each push
                if (await timmy.get_pull(ORG, NAME, pr.number)).mergeable:
                    break
                await asyncio.sleep(0.05)
            await timmy.merge_pull(ORG, NAME, pr.number, head_commit_id=head)
            merged = await timmy.get_pull(ORG, NAME, pr.number)
        assert merged.merged and merged.merge_commit_sha
        return pr.number, merged.merge_commit_sha

    async def statuses(self, sha: str) -> list[CommitStatus]:
        async with self.client("timmy") as timmy:
            return await timmy.list_statuses(ORG, NAME, sha)


async def _make_repo(url: str, secrets: Path, work: Path) -> None:
    async with GiteaClient(url, username=ADMIN[0], password=ADMIN[1]) as root:
        await root.create_repo(NAME, org=ORG, auto_init=True)
        for user, permission in (("timmy", "admin"), ("bezalel", "write"), ("ezra", "write"), ("allegro", "write")):
            await root.add_collaborator(ORG, NAME, user, permission)  # type: ignore[arg-type]
        await root.ensure_label(ORG, NAME, "upgrade", "#1d76db")
        for state in STATES:
            await root.ensure_label(ORG, NAME, f"upgrade/{state}", "#cccccc", exclusive=True)
    token = (secrets / "bezalel.token").read_text().strip()
    clone = url.replace("://", f"://bezalel:{token}@", 1).rstrip("/") + f"/{ORG}/{NAME}.git"
    git("clone", "-q", clone, str(work), cwd=work.parent)
    shutil.copytree(REPO / "houses", work / "houses")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "The mesh's houses", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)


@contextlib.contextmanager
def forge_on(root: Path, address: str, port: int) -> Iterator[Forge]:
    """A devforge listening on ``address:port`` with the shipped layout and the ``mesh/fleet`` repository."""
    server = DevforgeServer(root / "forge", ADMIN, host=address, port=port).start()
    try:
        secrets = root / "forge-secrets"
        asyncio.run(bootstrap(load_layout(LAYOUT), url=server.url, admin=ADMIN, secrets_dir=secrets))
        work = root / "fleet"
        asyncio.run(_make_repo(server.url, secrets, work))
        yield Forge(server, secrets, work)
    finally:
        server.stop()


def build_release_wheel(dest: Path, version: str, patch: Callable[[Path], None] | None = None) -> Path:
    """This checkout as uni-wizard ``version`` (a wheel in ``dest``), after ``patch(tree)`` changed the copy."""
    tree = dest / f"tree-{version}"
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    for part in ("uni_wizard", *wheel["force-include"]):  # what the wheel takes from the checkout, as pyproject says
        shutil.copytree(REPO / part, tree / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for part in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / part).exists():
            shutil.copy(REPO / part, tree / part)
    for rel, pattern in (("pyproject.toml", r'(?m)^version = "[^"]+"'), ("uni_wizard/_version.py", r'(?m)^__version__ = "[^"]+"')):  # fmt: skip
        text = (tree / rel).read_text()
        key = pattern.split(" = ")[0].removeprefix("(?m)^")
        (tree / rel).write_text(re.sub(pattern, f'{key} = "{version}"', text, count=1))
    if patch is not None:
        patch(tree)
    out = dest / "wheels"
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps"]
    done = subprocess.run(
        [*argv, "--wheel-dir", str(out), str(tree)], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob(f"uni_wizard-{version}-*.whl")
    return wheel


def break_the_daemon(tree: Path) -> None:
    """A release whose daemon exits at once: its units never send READY=1, its /ready never answers."""
    daemon = tree / "uni_wizard" / "daemon.py"
    text = daemon.read_text()
    marker = "from __future__ import annotations\n"
    assert marker in text
    broken = 'raise SystemExit("a deliberately broken release (tests/system/test_upgrade_e2e.py)")\n'
    daemon.write_text(text.replace(marker, marker + broken, 1))
