"""``uni-wizard telemetry --status``: this host's telemetry pipeline, from the event log to what the peers read.

On a mesh that ``uni-wizard init`` made in a fresh HOME (a mesh of one: no Syncthing, no peers), and on a host of
a two-host mesh file whose Syncthing is not there (a closed loopback port), with a peer's heartbeat in the shared
folder and the spool's cursor as a daemon left it. The failure modes: no store yet (exit 4, one line), Syncthing
down (a line of the report, exit 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from loopback_http import unused_port

from uni_wizard.cli import main
from uni_wizard.observe.events import EventLog
from uni_wizard.store import Store

NO_MODEL = "http://127.0.0.1:9"  # nothing answers there: init records that issues need a playbook


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_mesh_made_by_init_has_no_store_until_its_daemon_logs_then_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    root = tmp_path / "mesh"
    code, _, err = run(capsys, "init", str(root), "--any-ports", "--ollama-url", NO_MODEL)
    assert code == 0, err
    config = str(root / "settings" / "bezalel.yaml")

    code, out, err = run(capsys, "telemetry", "--status", "--json", "--config", config)
    assert code == 4 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no store at ") and "uni-wizard up DIR" in lines[0]
    db = root / "data" / "bezalel" / "uni-wizard.db"
    assert not db.exists()  # the look created nothing

    store = Store(db)  # what the daemon does first, then it logs
    try:
        EventLog(store, "bezalel").emit_sync("issue.claimed", "k-1", repository="owner/work", number=1)
        EventLog(store, "bezalel").emit_sync("work.finished", "k-2", repository="owner/work", number=1)
    finally:
        store.close()
    code, out, err = run(capsys, "telemetry", "--status", "--json", "--config", config)
    assert code == 0, err
    status = json.loads(out)
    assert status["host"] == "bezalel"
    assert status["log"] == {"head_seq": 2, "store": str(db)}
    assert status["spool"]["configured"] is False and status["syncthing"]["configured"] is False
    assert status["peers"] == []  # a mesh of one: init's settings name no mesh file
    assert status["hermes"]["configured"] is False and status["hermes"]["position"] is None

    code, out, err = run(capsys, "telemetry", "--status", "--config", config)
    assert code == 0, err
    assert "event log: head seq 2" in out
    assert "syncthing: not configured" in out and "hermes ingest: not configured" in out


def two_hosts(tmp_path: Path, syncthing_port: int) -> tuple[Path, Path, Path]:
    """Host ``alpha`` of a mesh with ``beta``; Syncthing at ``syncthing_port``; the settings file, the shared
    folder and the data directory."""
    folder, data = tmp_path / "shared", tmp_path / "data"
    folder.mkdir()
    mesh = {
        "hosts": [
            {"name": "alpha", "url": f"http://127.0.0.1:{unused_port()}", "houses": ["bezalel"], "roles": ["worker"]},
            {"name": "beta", "url": f"http://127.0.0.1:{unused_port()}", "houses": ["ezra"], "roles": ["worker"]},
        ],
        "peers": {"timeout_seconds": 1.0},
        "syncthing": {"url": f"http://127.0.0.1:{syncthing_port}", "folder_path": str(folder)},
    }
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(mesh))
    (tmp_path / "syncthing.key").write_text("not-a-real-key\n")
    settings = {
        "host": "alpha",
        "house": "bezalel",
        "data_dir": str(data),
        "workspace": str(tmp_path),
        "mesh_config": str(tmp_path / "mesh.yaml"),
        "syncthing_api_key_file": str(tmp_path / "syncthing.key"),
    }
    (tmp_path / "alpha.yaml").write_text(yaml.safe_dump(settings))
    return tmp_path / "alpha.yaml", folder, data


def test_syncthing_down_is_one_line_and_the_rest_of_the_pipeline_is_still_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    port = unused_port()  # nothing listens: Syncthing is down
    config, folder, data = two_hosts(tmp_path, port)
    store = Store(data / "uni-wizard.db")
    try:
        log = EventLog(store, "alpha")
        for n in range(1, 6):
            log.emit_sync("issue.claimed", f"k-{n}", repository="mesh/w", number=n, data={"house": "bezalel"})
    finally:
        store.close()
    (data / "mesh").mkdir()  # the cursors as the daemon left them: 3 of 5 exported; beta read up to its seq 7
    (data / "mesh" / "spool-writer.json").write_text(json.dumps({"exported_seq": 3, "folder": str(folder)}))
    beta = {"telemetry": {"beta": {"last_seq": 7, "events": 7, "duplicates": 0, "gaps": 1, "bad_lines": 0}}}
    (data / "mesh" / "spool-reader.json").write_text(json.dumps({"offsets": {}, **beta}))
    (folder / "beta").mkdir()
    heartbeat = {"host": "beta", "time": 1.0e9, "seq": 42, "telemetry_seq": 9, "houses": ["ezra"]}
    (folder / "beta" / "heartbeat.json").write_text(json.dumps(heartbeat))

    code, out, err = run(capsys, "telemetry", "--status", "--json", "--config", str(config))
    assert code == 0, err
    status = json.loads(out)
    assert status["log"]["head_seq"] == 5
    spool = status["spool"]
    assert spool["configured"] is True and spool["exported_seq"] == 3 and spool["buffered"] == 2
    assert spool["lag_seconds"] >= 0 and spool["available"] is False  # Syncthing away: nothing can be written
    st = status["syncthing"]
    assert st["configured"] is True and st["reachable"] is False and st["url"] == f"http://127.0.0.1:{port}"
    (peer,) = status["peers"]
    assert peer["host"] == "beta" and peer["heartbeat_source"] == "syncthing"
    assert peer["heartbeat_seq"] == 42 and peer["telemetry_seq"] == 9
    assert peer["read_seq"] == 7 and peer["gaps"] == 1

    code, out, err = run(capsys, "telemetry", "--status", "--config", str(config))
    assert code == 0, err
    syncthing = [line for line in out.splitlines() if line.startswith("syncthing:")]
    assert len(syncthing) == 1 and syncthing[0].startswith(f"syncthing: unreachable at http://127.0.0.1:{port}")
    assert "exported to seq 3, 2 buffered" in out
    assert "beta" in out and "Traceback" not in err


def test_telemetry_without_status_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "telemetry")
    assert code == 2 and "--status" in err
