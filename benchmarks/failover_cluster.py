"""A mesh of dispatcher daemons on loopback, for the failover benchmark and the multi-process failover tests.

    with Cluster(tmp, hosts=("host-a", "host-b", "host-c"), proxied={"host-a"}) as cluster:
        cluster.daemons["host-a"].start(); ...
        holder = await cluster.wait_holder()
        number = await cluster.file_issue("Server crashes on start")
        audit = await cluster.wait_triaged(number)

The devforge runs in this process (a thread, real HTTP on 127.0.0.1), bootstrapped from
``configs/forge-layout.example.yaml``, plus one repository ``mesh/<failover-…>`` with no webhook: the
dispatchers find the issues by their sweeps. Each daemon is a separate OS process
(``uni-wizard --config <its settings> serve``) with its own data directory, role ``[dispatcher]``, acting
as allegro, and every one names the same ``mesh.yaml``: the forge lease. A host in ``proxied`` reaches the
forge through its own ``TcpProxy``, which the caller can cut.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.devforge import DevforgeServer
from uni_wizard.dispatch.forge_lease import read_lease
from uni_wizard.dispatch.lease_record import LeaseRecord
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.bootstrap import bootstrap, load_layout
from uni_wizard.meshfile.schema import LeaseSettings
from uni_wizard.testing.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "configs" / "forge-layout.example.yaml"
TRIAGE = ROOT / "configs" / "triage.yaml"
ADMIN = ("root", "root-password-1")
ORG = "mesh"
API_TOKEN = "failover-api-token"
FOOTER = re.compile(r"uni-wizard dispatcher on `([^`]+)`, lease epoch (\d+)")
ISSUE = (
    "Server crashes on start with a traceback ({n})",
    "Steps to reproduce: run it.\n\n## Acceptance criteria\n- [ ] no crash",
)


@dataclass(frozen=True)
class Audit:
    """One dispatcher audit comment: who wrote it, under which epoch."""

    number: int
    comment_id: int
    host: str
    epoch: int


@dataclass
class Daemon:
    name: str
    home: Path
    port: int
    config: Path
    proxy: TcpProxy | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_")}
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            env.pop(name, None)
        self.starts += 1
        with (self.home / f"daemon-{self.starts}.log").open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from uni_wizard.cli import run; run()", "--config", str(self.config), "serve"],
                env=env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.home.glob("daemon-*.log")))

    async def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited before it was healthy:\n{self.output()[-4000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/health")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} was not healthy within {timeout} s:\n{self.output()[-4000:]}")

    def kill(self) -> None:
        """``kill -9``: no clean-up, no release."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    async def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=True) as http:
            text = (await http.get(f"{self.url}/metrics")).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def lease_held(self) -> bool:
        return (await self.samples()).get(("uniwizard_lease_held", (("lease", "dispatcher"),)), 0.0) == 1.0

    async def forge_writes(self, *, lease: bool) -> float:
        """Answered writes this daemon sent to the forge: to the lease file (``lease``) or anything else."""
        total = 0.0
        for (name, labels), value in (await self.samples()).items():
            tags = dict(labels)
            if name != "uniwizard_forge_requests_total" or tags["method"] == "GET" or tags["status"] == "error":
                continue
            if ("/contents/" in tags["route"]) == lease:
                total += value
        return total

    async def events(self, *kinds: str) -> list[dict[str, Any]]:
        params = [("limit", "1000"), *(("kind", k) for k in kinds)]
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.get(f"{self.url}/api/v1/events", params=params, headers=headers)
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def events_from_store(self, kind: str) -> list[dict[str, Any]]:
        """The events of ``kind`` in the daemon's store, read directly (the daemon may be stopped)."""
        uri = f"file:{self.home / 'data' / 'uni-wizard.db'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute("SELECT seq, kind, data_json FROM events WHERE kind = ? ORDER BY seq", (kind,))
            return [{"seq": seq, "kind": k, "data": json.loads(data)} for seq, k, data in rows]


@dataclass
class Cluster:
    root: Path
    hosts: tuple[str, ...] = ("host-a", "host-b", "host-c")
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    poll_seconds: float = 5.0
    proxied: frozenset[str] = frozenset()
    daemons: dict[str, Daemon] = field(default_factory=dict)
    repo: str = ""
    _server: DevforgeServer | None = None

    # -- set-up ------------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        self._server = DevforgeServer(self.root / "forge", ADMIN).start()
        try:
            self._setup()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        for daemon in self.daemons.values():
            daemon.kill()
            if daemon.proxy is not None:
                daemon.proxy.stop()
        if self._server is not None:
            self._server.stop()

    @property
    def forge_url(self) -> str:
        assert self._server is not None
        return self._server.url

    def _setup(self) -> None:
        secrets = self.root / "secrets"
        _run_apart(bootstrap(load_layout(LAYOUT), url=self.forge_url, admin=ADMIN, secrets_dir=secrets))
        name = f"failover-{uuid.uuid4().hex[:6]}"
        self.repo = f"{ORG}/{name}"
        _run_apart(self._make_repo(name))
        triage = yaml.safe_load(TRIAGE.read_text())
        triage["dispatcher"].update(repos=[self.repo], poll_seconds=self.poll_seconds)
        (self.root / "triage.yaml").write_text(yaml.safe_dump(triage))
        ports = {host: _free_port() for host in self.hosts}
        mesh = {
            "hosts": [{"name": h, "url": f"http://127.0.0.1:{ports[h]}", "roles": ["dispatcher"]} for h in self.hosts],
            "lease": self.lease.model_dump(),
        }
        (self.root / "mesh.yaml").write_text(yaml.safe_dump(mesh))
        for host in self.hosts:
            home = self.root / host
            home.mkdir()
            proxy = None
            if host in self.proxied:
                assert self._server is not None
                proxy = TcpProxy(("127.0.0.1", self._server.port)).start()
            settings = {
                "host": host,
                "port": ports[host],
                "data_dir": str(home / "data"),
                "workspace": str(home / "workspace"),
                "roles": ["dispatcher"],
                "gitea_url": proxy.url + "/" if proxy else self.forge_url,
                "gitea_token_file": str(secrets / "allegro.token"),
                "api_token": API_TOKEN,
                "mesh_config": str(self.root / "mesh.yaml"),
                "triage_config": str(self.root / "triage.yaml"),
            }
            config = home / "settings.yaml"
            config.write_text(yaml.safe_dump(settings))
            self.daemons[host] = Daemon(host, home, ports[host], config, proxy)

    async def _make_repo(self, name: str) -> None:
        async with GiteaClient(self.forge_url, username=ADMIN[0], password=ADMIN[1]) as root:
            await root.create_repo(name, org=ORG)
            for user, permission in (("timmy", "admin"), ("allegro", "write"), ("ezra", "write"), ("bezalel", "write")):
                await root.add_collaborator(ORG, name, user, permission)

    def client(self, user: str = "timmy") -> GiteaClient:
        """A new client acting as ``user`` (use it in ``async with``)."""
        token = (self.root / "secrets" / f"{user}.token").read_text().strip()
        return GiteaClient(self.forge_url, token, registry=CollectorRegistry(), retries=0)

    # -- what the forge shows ---------------------------------------------------------------
    async def lease_record(self) -> LeaseRecord | None:
        async with self.client("allegro") as reader:
            record, _ = await read_lease(reader, self.lease)
        return record

    async def wait_holder(
        self, *, other_than: str | None = None, timeout: float = 60.0, poll: float = 0.05
    ) -> LeaseRecord:
        """The lease record once a live (not released) record names a holder other than ``other_than``."""
        deadline = time.monotonic() + timeout
        async with self.client("allegro") as reader:
            while True:
                record, _ = await read_lease(reader, self.lease)
                if record is not None and record.holder != other_than and record.expires > record.renewed:
                    return record
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no new lease holder within {timeout} s (the file: {record})")
                await asyncio.sleep(poll)

    async def file_issue(self, n: int) -> int:
        title, body = ISSUE
        owner, name = self.repo.split("/")
        async with self.client("timmy") as timmy:
            issue = await timmy.create_issue(owner, name, title.format(n=n), body)
        return issue.number

    async def close_issue(self, number: int) -> None:
        owner, name = self.repo.split("/")
        async with self.client("timmy") as timmy:
            await timmy.edit_issue(owner, name, number, state="closed")

    async def audits(self, number: int) -> list[Audit]:
        owner, name = self.repo.split("/")
        found = []
        async with self.client("timmy") as timmy:
            comments = await timmy.list_comments(owner, name, number)
        for comment in comments:
            match = FOOTER.search(comment.body)
            if match and comment.user is not None and comment.user.login == "allegro":
                found.append(Audit(number, comment.id, match[1], int(match[2])))
        return found

    async def wait_triaged(self, number: int, *, timeout: float = 60.0, poll: float = 0.05) -> Audit:
        """The issue's first audit comment, once there is one."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.audits(number)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"issue #{number} was not triaged within {timeout} s")
            await asyncio.sleep(poll)

    async def wait_settled(self, number: int, *, timeout: float = 60.0, poll: float = 0.05) -> None:
        """Until the dispatcher has done all it does for the issue: its status is set past ``status/triage``
        (the audit comment is written first, so a holder killed right after it leaves the rest to the next)."""
        owner, name = self.repo.split("/")
        deadline = time.monotonic() + timeout
        while True:
            async with self.client("timmy") as timmy:
                issue = await timmy.get_issue(owner, name, number)
            if "status/routed" in {label.name for label in issue.labels} and issue.assignees:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"issue #{number} was not routed within {timeout} s")
            await asyncio.sleep(poll)

    async def assignees(self, number: int) -> list[str]:
        owner, name = self.repo.split("/")
        async with self.client("timmy") as timmy:
            issue = await timmy.get_issue(owner, name, number)
        return [user.login for user in issue.assignees]


def _run_apart(work: Coroutine[Any, Any, Any]) -> Any:
    """Run ``work`` to the end on an event loop of its own, in a thread (the caller may be on a loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
