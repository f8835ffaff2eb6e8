"""The mesh node wired as the daemon wires it: GET /api/v1/mesh, the "mesh" readiness component, the metrics,
the spool through the node (a loopback server speaking Syncthing's REST, a plain shared directory), the
``mesh status`` command, and a real ``uni-wizard serve`` process with a mesh config and no Syncthing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from loopback_http import LoopbackServer, Recorded, Reply, json_reply, unused_port

from uni_wizard.assembly.mesh import build_mesh_node
from uni_wizard.cli import main
from uni_wizard.errors import ConfigError
from uni_wizard.harness.runtime import Runtime
from uni_wizard.mesh.node import CONFLICT_EVENT, MeshNode
from uni_wizard.mesh.spool import SpoolWriter
from uni_wizard.mesh.spool_files import HostFiles, JsonState
from uni_wizard.observe.events import EventLog
from uni_wizard.testing import make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app
from uni_wizard.web.mesh_routes import mesh_router

with warnings.catch_warnings():  # starlette >= 1.x prefers httpx2; the test client works with either
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

KEY = "node-test-key"
ME, PEER = "A" * 7 + "-AAAAAAA", "B" * 7 + "-BBBBBBB"


def write_mesh(path: Path, hosts: list[dict], syncthing: dict | None = None, **fast: float) -> Path:
    doc: dict = {"hosts": hosts, "peers": {"probe_seconds": fast.get("probe", 0.05), "timeout_seconds": 1}}
    if syncthing is not None:
        doc["syncthing"] = syncthing
    path.write_text(yaml.safe_dump(doc))
    return path


def app_for(runtime: Runtime, node: MeshNode) -> TestClient:
    node.register_metrics(runtime.metrics.registry)
    return TestClient(create_app(runtime, routers=[mesh_router(node.view)], readiness={"mesh": node.readiness}))


async def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


async def test_without_syncthing_the_mesh_runs_on_http_heartbeats_and_ready_says_so(tmp_path: Path) -> None:
    peer_rt = make_runtime(tmp_path / "b", host="b")
    with ThreadedServer(create_app(peer_rt), name="b") as peer:
        mesh = write_mesh(
            tmp_path / "mesh.yaml",
            [
                {"name": "a", "url": "http://127.0.0.1:1", "houses": ["timmy"], "roles": ["reviewer"]},
                {"name": "b", "url": peer.url, "houses": ["ezra"], "roles": ["worker"]},
                {"name": "c", "url": f"http://127.0.0.1:{unused_port()}"},
            ],
        )
        runtime = make_runtime(tmp_path / "a", host="a", mesh_config=mesh)
        node = build_mesh_node(runtime.settings, runtime)
        client = app_for(runtime, node)
        await node.prober.probe_once()
        view = client.get("/api/v1/mesh").json()
        ready = client.get("/ready").json()
        metrics = client.get("/metrics").text
        await node.aclose()
    runtime.close()
    peer_rt.close()
    assert ready["components"]["mesh"]["ready"] is True
    assert ready["components"]["mesh"]["syncthing"] == "not configured"
    assert view["syncthing"] == {"configured": False, "state": "not configured"}
    rows = {row["host"]: row for row in view["hosts"]}
    assert rows["a"]["self"] and rows["a"]["health"] == "up" and rows["a"]["houses"] == ["timmy"]
    assert rows["b"]["health"] == "up" and rows["b"]["heartbeat_source"] == "http"
    assert rows["b"]["roles"] == ["worker"] and rows["b"]["syncthing"] == "not configured"
    assert rows["c"]["health"] == "down" and rows["c"]["heartbeat_age_seconds"] is None
    assert view["lease"] is None  # no forge configured
    assert 'uniwizard_peer_up{peer="b"} 1.0' in metrics and 'uniwizard_peer_up{peer="c"} 0.0' in metrics


def fake_syncthing(server: LoopbackServer, folder_id: str, alive: list[bool]) -> None:
    def route(body: object) -> Callable[[Recorded], Reply]:
        ok = json_reply(body)
        return lambda req: ok(req) if alive[0] and req.headers.get("x-api-key") == KEY else Reply(500, b"down")

    server.route("GET", "/rest/system/status", route({"myID": ME}))
    server.route("GET", f"/rest/config/folders/{folder_id}", route({"devices": [{"deviceID": ME}, {"deviceID": PEER}]}))
    server.route("GET", "/rest/db/status", route({"state": "idle", "needFiles": 0, "needBytes": 0}))
    server.route("GET", "/rest/folder/errors", route({"errors": None}))
    server.route("GET", "/rest/system/connections", route({"connections": {PEER: {"connected": True}}}))
    server.route("GET", "/rest/config/devices", route([{"deviceID": ME, "name": "a"}, {"deviceID": PEER, "name": "b"}]))
    server.route("GET", "/rest/db/completion", route({"completion": 100}))


async def test_the_node_runs_the_spool_reports_conflicts_and_buffers_while_syncthing_fails(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    alive = [True]
    fake_syncthing(loopback, "uw", alive)
    hosts = [{"name": "a", "url": "http://127.0.0.1:1"}, {"name": "b", "url": f"http://127.0.0.1:{unused_port()}"}]
    st = {"url": loopback.url, "folder_id": "uw", "folder_path": str(folder), "heartbeat_seconds": 0.05}
    st["read_seconds"] = 0.05
    mesh = write_mesh(tmp_path / "mesh.yaml", hosts, st)
    runtime = make_runtime(tmp_path / "a", host="a", mesh_config=mesh, syncthing_api_key=KEY)
    # host b's files, as Syncthing would bring them: written by b's own spool writer
    b_rt = make_runtime(tmp_path / "b", host="b")
    b_log = EventLog(b_rt.store, "b")
    b_writer = SpoolWriter(folder, "b", b_log, JsonState(tmp_path / "b-state.json"), device_id=lambda: PEER)
    for n in range(3):
        b_log.emit_sync("issue.triaged", f"b-{n}")
    b_writer.tick()
    a_log = EventLog(runtime.store, "a")
    a_log.emit_sync("issue.triaged", "a-0")

    node = build_mesh_node(runtime.settings, runtime)
    client = app_for(runtime, node)
    stop = asyncio.Event()
    task = asyncio.create_task(node.run(stop))
    try:
        await wait_for(lambda: node.reader is not None and node.reader.telemetry["b"].last_seq == 3, "b's telemetry")
        assert node.writer is not None
        await wait_for(lambda: node.writer.exported_seq == 1, "a's telemetry exported")
        view = client.get("/api/v1/mesh").json()
        rows = {row["host"]: row for row in view["hosts"]}
        assert rows["b"]["heartbeat_source"] == "syncthing" and rows["b"]["heartbeat_age_seconds"] is not None
        assert rows["b"]["syncthing"] == {"device": PEER, "connected": True, "completion": 100.0}
        assert rows["b"]["telemetry"]["last_seq"] == 3 and rows["a"]["telemetry"]["buffered"] == 0
        assert json.loads(HostFiles(folder, "a").heartbeat.read_text())["syncthing_device"] == ME

        conflict = folder / "b" / "heartbeat.sync-conflict-20260101-000000-AAAAAAA.json"
        conflict.write_text("{}")
        await wait_for(lambda: bool(a_log.tail(0, 10, [CONFLICT_EVENT])), "the conflict event")
        (event,) = a_log.tail(0, 10, [CONFLICT_EVENT])
        assert event.data["path"] == "b/heartbeat.sync-conflict-20260101-000000-AAAAAAA.json"
        assert "uniwizard_syncthing_conflict_files 1.0" in client.get("/metrics").text
        assert client.get("/api/v1/mesh").json()["conflicts"] == [event.data["path"]]

        alive[0] = False  # Syncthing fails: a's telemetry is buffered
        await wait_for(lambda: node.writer.problem is not None, "the spool notices")
        exported = node.writer.exported_seq
        a_log.emit_sync("issue.triaged", "a-1")
        a_log.emit_sync("issue.triaged", "a-2")
        await asyncio.sleep(0.3)  # several writer ticks
        assert node.writer.exported_seq == exported and node.writer.buffered() >= 2
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["components"]["mesh"]["telemetry_buffered"] >= 2
        assert "uniwizard_spool_available 0.0" in client.get("/metrics").text

        alive[0] = True
        await wait_for(lambda: node.writer.buffered() == 0, "the buffer flushed")
        assert client.get("/ready").status_code == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await node.aclose()
        runtime.close()
        b_rt.close()
    lines = [json.loads(x) for p in HostFiles(folder, "a").telemetry_files() for x in p.read_text().splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, a_log.last_seq() + 1))


def test_syncthing_without_an_api_key_is_a_configuration_error(tmp_path: Path) -> None:
    st = {"folder_path": str(tmp_path)}
    mesh = write_mesh(tmp_path / "mesh.yaml", [{"name": "a", "url": "http://127.0.0.1:1"}], st)
    runtime = make_runtime(tmp_path / "a", host="a", mesh_config=mesh)
    with pytest.raises(ConfigError, match="syncthing_api_key"):
        build_mesh_node(runtime.settings, runtime)
    runtime.close()


def test_mesh_status_command_looks_for_itself(tmp_path: Path, monkeypatch, capsys) -> None:
    peer_rt = make_runtime(tmp_path / "b", host="b")
    with ThreadedServer(create_app(peer_rt), name="b") as peer:
        hosts = [
            {"name": "a", "url": f"http://127.0.0.1:{unused_port()}", "houses": ["timmy"], "roles": ["reviewer"]},
            {"name": "b", "url": peer.url, "houses": ["ezra"]},
        ]
        mesh = write_mesh(tmp_path / "mesh.yaml", hosts)
        monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(tmp_path / "a-data"))
        monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(tmp_path))
        monkeypatch.setenv("UNIWIZARD_HOST", "a")
        monkeypatch.setenv("UNIWIZARD_MESH_CONFIG", str(mesh))
        monkeypatch.setenv("COLUMNS", "200")
        assert main(["mesh", "status", "--json"]) == 0
        view = json.loads(capsys.readouterr().out)
        assert main(["mesh", "status"]) == 0
        table = capsys.readouterr().out
    peer_rt.close()
    rows = {row["host"]: row for row in view["hosts"]}
    assert rows["a"]["health"] == "down"  # the CLI probes this host's own daemon too: not running
    assert rows["b"]["health"] == "up" and rows["b"]["houses"] == ["ezra"]
    assert "syncthing: not configured" in table and "a (this host)" in table and "ezra" in table


def test_mesh_status_asks_a_daemon_and_fails_clearly_when_it_is_not_there(capsys) -> None:
    assert main(["mesh", "status", "--daemon", f"http://127.0.0.1:{unused_port()}"]) == 4
    assert "cannot reach the daemon" in capsys.readouterr().err


def test_the_daemon_serves_the_mesh_with_a_mesh_config_and_no_syncthing(tmp_path: Path) -> None:
    port = unused_port()
    mesh = write_mesh(tmp_path / "mesh.yaml", [{"name": "solo", "url": f"http://127.0.0.1:{port}"}])
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_") and k != "NOTIFY_SOCKET"}
    env.pop("WATCHDOG_USEC", None)
    env.update(UNIWIZARD_DATA_DIR=str(tmp_path / "data"), UNIWIZARD_WORKSPACE=str(tmp_path), UNIWIZARD_HOST="solo")
    env["UNIWIZARD_MESH_CONFIG"] = str(mesh)
    log = tmp_path / "daemon.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from uni_wizard.cli import run; run()", "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        view = httpx.get(f"http://127.0.0.1:{port}/api/v1/mesh", timeout=5).json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert ready.json()["components"]["mesh"] == {
        "ready": True,
        "syncthing": "not configured",
        "heartbeats": "http",
        "peers_up": {},
    }
    assert [row["host"] for row in view["hosts"]] == ["solo"] and view["hosts"][0]["self"]
    assert proc.returncode == 0
