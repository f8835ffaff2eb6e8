"""The spool on a plain directory (no Syncthing): heartbeats, telemetry from the cursor, crash repair,
readers with saved offsets, partial lines, conflict files, and buffering while the folder is unavailable."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from uni_wizard.errors import MeshError
from uni_wizard.harness.runtime import Runtime
from uni_wizard.mesh.spool import SpoolWriter
from uni_wizard.mesh.spool_files import HostFiles, JsonState, last_line
from uni_wizard.mesh.spool_reader import SpoolReader
from uni_wizard.observe.events import EventLog
from uni_wizard.testing import FakeClock, make_runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "a")
    yield rt
    rt.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "shared"
    path.mkdir()
    return path


def writer_for(folder: Path, runtime: Runtime, tmp_path: Path, **kwargs) -> SpoolWriter:
    return SpoolWriter(
        folder,
        "a",
        EventLog(runtime.store, "a"),
        JsonState(tmp_path / "state-a" / "spool-writer.json"),
        houses=("bezalel",),
        roles=("worker",),
        **kwargs,
    )


def emit(runtime: Runtime, *names: str) -> None:
    log = EventLog(runtime.store, "a")
    for name in names:
        log.emit_sync("issue.triaged", f"key-{name}", data={"name": name})


def lines_of(folder: Path, host: str = "a") -> list[dict]:
    out: list[dict] = []
    for path in HostFiles(folder, host).telemetry_files():
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


def test_heartbeat_carries_the_host_and_is_replaced_whole_while_a_reader_watches(folder, runtime, tmp_path) -> None:
    clock = FakeClock()
    writer = writer_for(folder, runtime, tmp_path, clock=clock, lease_view=lambda: {"holder": "a", "epoch": 3})
    assert writer.tick() is None
    beat = json.loads(HostFiles(folder, "a").heartbeat.read_text())
    assert beat["host"] == "a" and beat["houses"] == ["bezalel"] and beat["roles"] == ["worker"]
    assert beat["seq"] == 1 and beat["time"] == clock() and beat["lease"] == {"holder": "a", "epoch": 3}
    assert set(beat) >= {"version", "at", "telemetry_seq", "syncthing_device"}

    seen: list[str] = []
    broken: list[str] = []
    done = threading.Event()

    def watch() -> None:
        path = HostFiles(folder, "a").heartbeat
        while not done.is_set():
            text = path.read_text()
            try:
                json.loads(text)  # a half-written (or emptied) file would not parse
            except ValueError:
                broken.append(text)
            seen.append(text)

    reader = threading.Thread(target=watch)
    reader.start()
    try:
        for _ in range(300):
            clock.advance(1)
            writer.write_heartbeat()
    finally:
        done.set()
        reader.join()
    assert seen and not broken
    assert json.loads(HostFiles(folder, "a").heartbeat.read_text())["seq"] == 301
    assert sorted(p.name for p in HostFiles(folder, "a").dir.iterdir()) == ["artifacts", "heartbeat.json", "telemetry"]


def test_a_failed_heartbeat_write_leaves_the_old_file_and_no_temporary(folder, runtime, tmp_path, monkeypatch) -> None:
    writer = writer_for(folder, runtime, tmp_path)
    writer.tick()
    before = HostFiles(folder, "a").heartbeat.read_text()
    written: list[str] = []

    def refuse(src: str, dst: str) -> None:
        written.append(Path(src).name)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("uni_wizard.mesh.spool_files.os.replace", refuse)
    assert "No space left on device" in (writer.tick() or "")
    assert HostFiles(folder, "a").heartbeat.read_text() == before
    # the temporary carries a name Syncthing never scans (".syncthing.*.tmp"), and is gone
    assert written and written[0].startswith(".syncthing.heartbeat.json.") and written[0].endswith(".tmp")
    assert not [p for p in HostFiles(folder, "a").dir.iterdir() if p.name.endswith(".tmp")]


def test_telemetry_is_appended_from_the_cursor_without_duplicates(folder, runtime, tmp_path) -> None:
    writer = writer_for(folder, runtime, tmp_path)
    emit(runtime, "one", "two", "three")
    writer.tick()
    assert [e["seq"] for e in lines_of(folder)] == [1, 2, 3]
    emit(runtime, "four", "five")
    writer.tick()
    writer.tick()
    events = lines_of(folder)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[3]["data"] == {"name": "four"} and events[0]["host"] == "a"
    assert json.loads((tmp_path / "state-a" / "spool-writer.json").read_text())["exported_seq"] == 5
    assert writer.buffered() == 0


class Crash(BaseException):
    """The process dies here."""


def test_a_crash_between_append_and_cursor_save_duplicates_nothing(folder, runtime, tmp_path, monkeypatch) -> None:
    writer = writer_for(folder, runtime, tmp_path)
    emit(runtime, "one", "two")
    writer.tick()
    emit(runtime, "three", "four")

    def die(self, data) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(JsonState, "save", die)
        with pytest.raises(Crash):
            writer.flush_telemetry()
    assert [e["seq"] for e in lines_of(folder)] == [1, 2, 3, 4]  # on disk, but the cursor says 2

    restarted = writer_for(folder, runtime, tmp_path)
    assert restarted.exported_seq == 2
    emit(runtime, "five")
    assert restarted.tick() is None
    assert [e["seq"] for e in lines_of(folder)] == [1, 2, 3, 4, 5]
    assert restarted.exported_seq == 5


def test_a_partial_last_line_from_a_crash_is_cut_and_written_again(folder, runtime, tmp_path) -> None:
    writer = writer_for(folder, runtime, tmp_path)
    emit(runtime, "one", "two")
    writer.tick()
    emit(runtime, "three")
    (path,) = HostFiles(folder, "a").telemetry_files()
    with path.open("ab") as sink:
        sink.write(b'{"seq":3,"at":"20')  # the write was cut short; the cursor was never saved
    restarted = writer_for(folder, runtime, tmp_path)
    restarted.tick()
    assert [e["seq"] for e in lines_of(folder)] == [1, 2, 3]
    assert path.read_bytes().endswith(b"\n")


def test_a_damaged_own_telemetry_file_stops_the_export_and_keeps_the_log(folder, runtime, tmp_path) -> None:
    writer = writer_for(folder, runtime, tmp_path)
    emit(runtime, "one")
    writer.tick()
    (path,) = HostFiles(folder, "a").telemetry_files()
    path.write_text("not json at all\n")
    emit(runtime, "two")
    restarted = writer_for(folder, runtime, tmp_path)
    problem = restarted.tick()
    assert problem is not None and "not a telemetry event" in problem and str(path) in problem
    assert restarted.buffered() == 1 and restarted.exported_seq == 1


@pytest.mark.parametrize("how", ["missing", "a file", "host dir blocked", "syncthing"])
def test_an_unavailable_folder_buffers_telemetry_then_flushes_it(tmp_path, runtime, how) -> None:
    folder = tmp_path / "shared"
    syncthing: list[str | None] = [None]
    if how == "a file":
        folder.write_text("not a directory")
    elif how == "host dir blocked":
        folder.mkdir()
        (folder / "a").write_text("a file where the host's directory should be")
    elif how == "syncthing":
        folder.mkdir()
        syncthing[0] = "Syncthing at http://127.0.0.1:8384 is unreachable"
    writer = writer_for(folder, runtime, tmp_path, syncthing_problem=lambda: syncthing[0])
    emit(runtime, "one", "two", "three")
    problem = writer.tick()
    assert problem is not None
    assert writer.buffered() == 3 and writer.exported_seq == 0
    assert not (folder / "a" / "telemetry").is_dir() or not lines_of(folder)

    if how == "missing":
        folder.mkdir()
    elif how == "a file":
        folder.unlink()
        folder.mkdir()
    elif how == "host dir blocked":
        (folder / "a").unlink()
    syncthing[0] = None
    emit(runtime, "four")
    assert writer.tick() is None
    assert [e["seq"] for e in lines_of(folder)] == [1, 2, 3, 4]
    assert writer.buffered() == 0


def test_last_line_reads_across_chunks_and_ignores_a_partial_tail(tmp_path) -> None:
    path = tmp_path / "f.jsonl"
    long = b"x" * 10_000
    path.write_bytes(b"first\n" + long + b"\n" + b"partial")
    assert last_line(path) == long
    assert last_line(path, repair=True) == long
    assert path.read_bytes().endswith(long + b"\n")
    path.write_bytes(b"no newline at all")
    assert last_line(path, repair=True) is None
    assert path.read_bytes() == b""


def reader_for(folder: Path, tmp_path: Path, **kwargs) -> SpoolReader:
    return SpoolReader(folder, "b", ("a", "b"), JsonState(tmp_path / "state-b" / "spool-reader.json"), **kwargs)


def test_the_reader_takes_new_lines_only_and_keeps_its_offsets_across_restarts(folder, runtime, tmp_path) -> None:
    writer = writer_for(folder, runtime, tmp_path)
    got: list[int] = []
    emit(runtime, "one", "two")
    writer.tick()
    reader = reader_for(folder, tmp_path, on_event=lambda peer, e: got.append(e["seq"]))
    reader.read_once()
    assert got == [1, 2]
    assert reader.heartbeats["a"].seq == 1 and "b" not in reader.heartbeats

    emit(runtime, "three")
    writer.tick()
    restarted = reader_for(folder, tmp_path, on_event=lambda peer, e: got.append(e["seq"]))
    restarted.read_once()
    restarted.read_once()
    assert got == [1, 2, 3]
    stats = restarted.telemetry["a"]
    assert (stats.last_seq, stats.events, stats.duplicates, stats.gaps) == (3, 3, 0, 0)


def test_the_reader_waits_for_a_partial_line_and_counts_duplicates_and_gaps(folder, tmp_path) -> None:
    telemetry = HostFiles(folder, "a").telemetry_dir
    telemetry.mkdir(parents=True)
    path = telemetry / "2026-01-01.jsonl"
    path.write_bytes(b'{"seq":1}\n{"seq":2')
    reader = reader_for(folder, tmp_path)
    reader.read_once()
    assert reader.telemetry["a"].last_seq == 1
    with path.open("ab") as sink:
        sink.write(b',"kind":"x.y"}\n{"seq":2}\n{"seq":5}\nnot json\n')
    reader.read_once()
    stats = reader.telemetry["a"]
    assert (stats.last_seq, stats.events, stats.duplicates, stats.gaps, stats.bad_lines) == (5, 3, 1, 2, 1)
    saved = json.loads((tmp_path / "state-b" / "spool-reader.json").read_text())
    assert saved["offsets"] == {"a/telemetry/2026-01-01.jsonl": path.stat().st_size}


def test_conflict_files_anywhere_in_the_folder_are_reported_once(folder, tmp_path) -> None:
    reported: list[str] = []
    (folder / "a" / "artifacts").mkdir(parents=True)
    (folder / "a" / "heartbeat.sync-conflict-20260101-120000-ABCDEFG.json").write_text("{}")
    (folder / ".stversions").mkdir()
    (folder / ".stversions" / "old.sync-conflict-20250101-000000-XXXXXXX.txt").write_text("archived")
    reader = reader_for(folder, tmp_path, on_conflict=reported.append)
    reader.read_once()
    (folder / "a" / "artifacts" / "report.sync-conflict-20260101-120001-ABCDEFG.md").write_text("x")
    reader.read_once()
    reader.read_once()
    assert reported == [
        "a/heartbeat.sync-conflict-20260101-120000-ABCDEFG.json",
        "a/artifacts/report.sync-conflict-20260101-120001-ABCDEFG.md",
    ]
    assert len(reader.conflicts) == 2


def test_a_damaged_state_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "spool-reader.json"
    path.write_text("{broken")
    with pytest.raises(MeshError, match="not JSON.*move it aside"):
        JsonState(path).load()
