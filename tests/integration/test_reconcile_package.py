"""A package upgrade for real: wheels in a local wheelhouse, a new venv per release, ``current`` switched,
the daemon (re)started from ``current/bin/uni-wizard`` as systemd would, its ``/ready`` as the health gate.

The wheels are packed here with zipfile from the working tree (the layout hatchling builds: the package,
houses/ and configs/ under ``uni_wizard/_defaults``, a console script) so that no build backend has to be
downloaded. To keep each install to about a second and offline, the releases are installed with
``pip_args: [--no-deps]`` and the started daemon finds the dependencies through ``PYTHONPATH`` = this
venv's site-packages (not a site directory, so this checkout's editable install is not seen there: the
daemon runs the release's own copy of uni_wizard). The broken release is a wheel whose command exits 3.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
import reconcile_world
import yaml
from reconcile_world import ROOT, RecordingServices, World

from uni_wizard.observe.events import EventLog
from uni_wizard.reconcile.state import StateFile

mesh = reconcile_world.mesh  # the devforge of this module
world = reconcile_world.world  # a repository and hosts of its own per test

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="git is not installed"
)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def pack_wheel(dest: Path, version: str, files: dict[str, bytes]) -> Path:
    info = f"uni_wizard-{version}.dist-info"
    meta = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: uni-wizard\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": b"[console_scripts]\nuni-wizard = uni_wizard.cli:main\n",
    }
    everything = {**files, **meta}
    record = "\n".join([*(_record_line(n, d) for n, d in everything.items()), f"{info}/RECORD,,"]) + "\n"
    path = dest / f"uni_wizard-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in everything.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", record)
    return path


def tree_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for base, prefix in ((ROOT / "uni_wizard", "uni_wizard"), (ROOT / "houses", "uni_wizard/_defaults/houses"),
                         (ROOT / "configs", "uni_wizard/_defaults/configs")):  # fmt: skip
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[f"{prefix}/{path.relative_to(base)}"] = path.read_bytes()
    return files


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as uni-wizard 0.1.0, and a broken 0.0.2 whose command exits at once."""
    dest = tmp_path_factory.mktemp("wheelhouse")
    pack_wheel(dest, "0.1.0", tree_files())
    broken = b"import sys\n\ndef main():\n    sys.exit(3)\n"
    pack_wheel(dest, "0.0.2", {"uni_wizard/__init__.py": b"", "uni_wizard/cli.py": broken})
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    """systemd's part: ``restart`` stops the running daemon and starts ``<root>/current/bin/uni-wizard serve``."""

    def __init__(self, root: Path, settings_file: Path) -> None:
        self.root = root
        self.settings_file = settings_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.started: list[str] = []  # the release each start ran

    def restart(self) -> None:
        self.stop()
        release = os.readlink(self.root / "current")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
               "PYTHONPATH": sysconfig.get_paths()["purelib"]}  # fmt: skip
        argv = [str(self.root / "current" / "bin" / "uni-wizard"), "--config", str(self.settings_file), "serve"]
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.started.append(release)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def daemon_settings(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / "daemon.yaml"
    path.write_text(yaml.safe_dump({"host": "a", "data_dir": str(tmp_path / "daemon-data"), "port": port,
                                    "houses_dir": str(ROOT / "houses")}))  # fmt: skip
    return path, port


async def test_a_package_upgrade_switches_restarts_and_a_broken_one_is_rolled_back(
    world: World, wheelhouse: Path, daemon_settings: tuple[Path, int]
) -> None:
    settings_file, port = daemon_settings
    daemon = Daemon(world.tmp / "a" / "opt", settings_file)
    services = RecordingServices(on_restart=daemon.restart)
    section = {"wheelhouse": str(wheelhouse), "pip_args": ["--no-deps"]}
    host = await world.add_host(
        "a", health_urls=[f"http://127.0.0.1:{port}/ready"], reconcile=section, services=services, deadline=30.0
    )
    assert host.reconciler is not None
    try:
        _, good = await world.upgrade({"uni-wizard.version": "0.1.0\n"})
        merged = time.monotonic()
        applied = await host.reconciler.reconcile_once()
        to_applied = time.monotonic() - merged

        assert applied.outcome == "applied", applied.reason
        assert os.readlink(host.release_root / "current") == f"releases/{good}"
        assert (host.release_root / "releases" / good / "bin" / "uni-wizard").is_file()
        assert services.calls == ["restart:uni-wizard@worker.service"]
        assert daemon.started == [f"releases/{good}"] and daemon.proc is not None and daemon.proc.poll() is None
        deployed = [s.status for s in await world.statuses(good) if s.context == "uni-wizard/deploy/a"]
        assert deployed == ["success", "pending"]

        host.reconciler.settings = host.reconciler.settings.model_copy(update={"health_deadline_seconds": 3.0})
        _, broken = await world.upgrade({"uni-wizard.version": "0.0.2\n"})
        started = time.monotonic()
        failed = await host.reconciler.reconcile_once()
        to_rolled_back = time.monotonic() - started

        assert failed.outcome == "failed" and "health gate" in failed.reason, failed.reason
        assert f"rolled back to releases/{good}" in failed.reason and "still unhealthy" not in failed.reason
        assert os.readlink(host.release_root / "current") == f"releases/{good}"
        assert daemon.started == [f"releases/{good}", f"releases/{broken}", f"releases/{good}"]
        assert services.calls == ["restart:uni-wizard@worker.service"] * 3
        statuses = [s for s in await world.statuses(broken) if s.context == "uni-wizard/deploy/a"]
        assert statuses[0].status == "failure" and "health gate" in statuses[0].description
        kinds = [e.kind for e in EventLog(host.runtime.store, "a").recent(20) if e.data.get("sha") == broken]
        assert sorted(kinds) == ["deploy.failed", "deploy.started", *["deploy.step"] * 4]  # fetched .. rolled_back
        state = StateFile(host.release_root / "reconcile-state.json").load()
        assert state.current is not None and state.current.sha == good and broken in state.failed

        again = await host.reconciler.reconcile_once()  # the failed sha is not retried
        assert again.outcome == "idle" and len(services.calls) == 3
        print(f"\nreconcile timings: merge -> applied {to_applied:.2f} s, broken -> rolled back {to_rolled_back:.2f} s")
    finally:
        daemon.stop()
