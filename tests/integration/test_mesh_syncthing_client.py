"""The Syncthing client and monitor against a real HTTP server on loopback speaking Syncthing's REST shapes
(recorded from 1.19.2, OPS_RECIPES §6): every call, its errors, and the metrics the exporter derives."""

from __future__ import annotations

import pytest
from loopback_http import LoopbackServer, Recorded, Reply, json_reply, slow_reply, text_reply, unused_port
from prometheus_client import CollectorRegistry

from uni_wizard.errors import SyncthingError
from uni_wizard.mesh.exporter import SyncthingCollector, SyncthingMonitor
from uni_wizard.mesh.syncthing import SyncthingClient

KEY = "test-api-key-0123456789"
ME = "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA"
PEER = "BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB-BBBBBBB"
FOLDER = "uni-wizard"

DB_STATUS = {
    "state": "syncing",
    "stateChanged": "2026-01-01T00:00:00Z",
    "error": "",
    "errors": 0,
    "pullErrors": 1,
    "globalFiles": 12,
    "globalBytes": 4096,
    "localFiles": 10,
    "localBytes": 3000,
    "needFiles": 2,
    "needBytes": 1096,
    "needDeletes": 0,
    "inSyncFiles": 10,
    "inSyncBytes": 3000,
    "sequence": 42,
}


def keyed(handler):
    """Syncthing's rule: without the right X-API-Key, 403."""

    def serve(req: Recorded) -> Reply:
        if req.headers.get("x-api-key") != KEY:
            return Reply(403, b"Forbidden\n", {"Content-Type": "text/plain"})
        return handler(req)

    return serve


def syncthing(server: LoopbackServer, *, state: str = "syncing", paused: bool = False) -> None:
    routes = {
        "/rest/system/ping": {"ping": "pong"},
        "/rest/system/status": {"myID": ME, "uptime": 3},
        "/rest/db/status": dict(DB_STATUS, state=state),
        "/rest/db/completion": {"completion": 75.5, "needBytes": 100, "needItems": 1, "needDeletes": 0},
        "/rest/system/connections": {
            "connections": {
                PEER: {"connected": True, "paused": False, "address": "127.0.0.1:22001", "type": "tcp-client"}
            },
            "total": {},
        },
        "/rest/folder/errors": {"folder": FOLDER, "errors": [{"path": "a/x.bin", "error": "permission denied"}]},
        f"/rest/config/folders/{FOLDER}": {
            "id": FOLDER,
            "paused": paused,
            "devices": [{"deviceID": ME}, {"deviceID": PEER}],
            "rescanIntervalS": 3600,
            "fsWatcherEnabled": True,
            "fsWatcherDelayS": 1,
        },
        "/rest/config/devices": [{"deviceID": ME, "name": "alpha"}, {"deviceID": PEER, "name": "beta"}],
        "/rest/events": [{"id": 7, "type": "StateChanged", "data": {"folder": FOLDER, "to": "idle"}}],
    }
    for path, body in routes.items():
        server.route("GET", path, keyed(json_reply(body)))
    server.route("POST", "/rest/db/scan", keyed(text_reply("")))


async def test_every_call_sends_the_key_and_parses_the_answer(loopback: LoopbackServer) -> None:
    syncthing(loopback)
    async with SyncthingClient(loopback.url, KEY) as st:
        assert await st.ping() is True
        assert await st.my_id() == ME
        status = await st.folder_status(FOLDER)
        assert (status.state, status.need_files, status.need_bytes, status.pull_errors) == ("syncing", 2, 1096, 1)
        done = await st.completion(FOLDER, PEER)
        assert (done.percent, done.need_bytes, done.need_items) == (75.5, 100, 1)
        links = await st.connections()
        assert links[PEER].connected and links[PEER].address == "127.0.0.1:22001"
        errors = await st.folder_errors(FOLDER)
        assert [(e.path, e.error) for e in errors] == [("a/x.bin", "permission denied")]
        events = await st.events(since=5, kinds=("StateChanged", "FolderSummary"), limit=10, timeout=0)
        assert events[0]["id"] == 7
        assert (await st.folder_config(FOLDER))["rescanIntervalS"] == 3600
        assert (await st.device_names())[PEER] == "beta"
        await st.scan(FOLDER)
    assert all(r.headers["x-api-key"] == KEY for r in loopback.requests)
    (status_req,) = loopback.requests_to("GET", "/rest/db/status")
    assert status_req.query == {"folder": FOLDER}
    (completion_req,) = loopback.requests_to("GET", "/rest/db/completion")
    assert completion_req.query == {"folder": FOLDER, "device": PEER}
    (events_req,) = loopback.requests_to("GET", "/rest/events")
    assert events_req.query == {"since": "5", "timeout": "0", "events": "StateChanged,FolderSummary", "limit": "10"}
    (scan,) = loopback.requests_to("POST", "/rest/db/scan")
    assert scan.query == {"folder": FOLDER}


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_a_syncthing_error_with_the_status(loopback: LoopbackServer, status: int) -> None:
    loopback.route("GET", "/rest/system/ping", lambda req: Reply(status, b"Forbidden\n"))
    async with SyncthingClient(loopback.url, "wrong") as st:
        with pytest.raises(SyncthingError, match="refused the API key") as caught:
            await st.ping()
    assert caught.value.status == status
    assert "wrong" not in str(caught.value)


async def test_an_unreachable_syncthing_is_status_0() -> None:
    async with SyncthingClient(f"http://127.0.0.1:{unused_port()}", KEY) as st:
        with pytest.raises(SyncthingError, match="unreachable") as caught:
            await st.folder_status(FOLDER)
    assert caught.value.status == 0


async def test_a_hanging_syncthing_is_status_0_after_the_timeout(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/rest/system/ping", slow_reply(1.0))
    async with SyncthingClient(loopback.url, KEY, timeout=0.2) as st:
        with pytest.raises(SyncthingError, match="did not answer") as caught:
            await st.ping()
    assert caught.value.status == 0


async def test_an_unknown_folder_and_a_non_json_answer_are_errors(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/rest/db/status", text_reply("no such folder\n", status=404))
    loopback.route("GET", "/rest/system/connections", text_reply("<html>proxy</html>"))
    async with SyncthingClient(loopback.url, KEY) as st:
        with pytest.raises(SyncthingError, match="404 no such folder") as missing:
            await st.folder_status("nope")
        with pytest.raises(SyncthingError, match="not JSON"):
            await st.connections()
    assert missing.value.status == 404


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_the_monitor_snapshot_becomes_metrics_at_scrape_time(loopback: LoopbackServer) -> None:
    syncthing(loopback)
    registry = CollectorRegistry()
    async with SyncthingClient(loopback.url, KEY) as st:
        monitor = SyncthingMonitor(st, FOLDER, clock=lambda: 1_800_000_000.0)
        registry.register(SyncthingCollector(monitor, FOLDER))
        assert sample(registry, "uniwizard_syncthing_up") == 0.0  # not polled yet
        snap = await monitor.refresh()
    assert snap.available and snap.my_id == ME and set(snap.completion) == {PEER}
    assert (snap.rescan_interval_seconds, snap.fs_watcher_enabled, snap.fs_watcher_delay_seconds) == (3600, True, 1.0)
    requests = len(loopback.requests)
    assert sample(registry, "uniwizard_syncthing_up") == 1.0
    assert sample(registry, "uniwizard_syncthing_folder_state", folder=FOLDER, state="syncing") == 1.0
    assert sample(registry, "uniwizard_syncthing_folder_state", folder=FOLDER, state="idle") == 0.0
    assert sample(registry, "uniwizard_syncthing_folder_need_bytes", folder=FOLDER) == 1096.0
    assert sample(registry, "uniwizard_syncthing_folder_need_files", folder=FOLDER) == 2.0
    assert sample(registry, "uniwizard_syncthing_folder_errors", folder=FOLDER) == 1.0
    assert sample(registry, "uniwizard_syncthing_completion_ratio", folder=FOLDER, peer="beta") == 0.755
    assert sample(registry, "uniwizard_syncthing_connected_devices") == 1.0
    assert sample(registry, "uniwizard_syncthing_last_poll_timestamp_seconds") == 1_800_000_000.0
    assert len(loopback.requests) == requests  # scraping asked Syncthing nothing


@pytest.mark.parametrize(
    ("state", "paused", "problem"),
    [("error", False, "errored"), ("idle", True, "paused"), ("idle", False, None)],
)
async def test_an_errored_or_paused_folder_is_unavailable(loopback, state, paused, problem) -> None:
    syncthing(loopback, state=state, paused=paused)
    async with SyncthingClient(loopback.url, KEY) as st:
        snap = await SyncthingMonitor(st, FOLDER).refresh()
    assert snap.up
    if problem is None:
        assert snap.available
    else:
        assert not snap.available and problem in (snap.problem or "")


async def test_a_stopped_syncthing_makes_the_folder_unavailable_and_up_0() -> None:
    registry = CollectorRegistry()
    async with SyncthingClient(f"http://127.0.0.1:{unused_port()}", KEY) as st:
        monitor = SyncthingMonitor(st, FOLDER)
        registry.register(SyncthingCollector(monitor, FOLDER))
        snap = await monitor.refresh()
    assert not snap.up and "unreachable" in (snap.problem or "")
    assert sample(registry, "uniwizard_syncthing_up") == 0.0
    assert sample(registry, "uniwizard_syncthing_folder_state", folder=FOLDER, state="idle") is None


async def test_an_answer_of_the_wrong_shape_is_a_problem_not_a_crash(loopback: LoopbackServer) -> None:
    syncthing(loopback)
    loopback.routes[("GET", "/rest/db/status")] = keyed(json_reply(dict(DB_STATUS, needFiles="lots")))
    async with SyncthingClient(loopback.url, KEY) as st:
        snap = await SyncthingMonitor(st, FOLDER).refresh()
    assert snap.up and not snap.available and "does not understand" in (snap.problem or "")
