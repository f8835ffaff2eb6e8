"""``uni-wizard events tail`` through ``main(argv)`` (and ``--follow`` in a real process, ended by Ctrl-C)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from uni_wizard.cli import main
from uni_wizard.observe.events import EventLog
from uni_wizard.store import Store

EXIT_OK, EXIT_USAGE = 0, 2


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data, workspace = tmp_path / "data", tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(data))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(workspace))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    monkeypatch.setenv("COLUMNS", "200")
    return data


@pytest.fixture
def log(data_dir: Path) -> Iterator[EventLog]:
    store = Store(data_dir / "uni-wizard.db")
    yield EventLog(store, "writer-host")
    store.close()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


def seed(log: EventLog, count: int = 30) -> None:
    for i in range(1, count + 1):
        kind = "issue.routed" if i % 5 == 0 else "issue.triaged"
        log.emit_sync(kind, f"key-{i}", repository="org/repo", number=i, data={"n": i})


def test_tail_on_an_empty_log(data_dir: Path, cli) -> None:
    done = cli("events", "tail", "--json")
    assert done.code == EXIT_OK
    assert json.loads(done.out) == []


def test_tail_prints_the_latest_events_as_a_table(log: EventLog, cli) -> None:
    seed(log)
    done = cli("events", "tail")
    assert done.code == EXIT_OK, done.err
    assert "issue.routed" in done.out and "org/repo#30" in done.out and "key-30" in done.out
    assert "key-11" in done.out and "key-10 " not in done.out  # the default is the latest 20
    assert done.out.index("key-11") < done.out.index("key-30")  # oldest first


def test_tail_json_limit_and_kind(log: EventLog, cli) -> None:
    seed(log)
    done = cli("events", "tail", "--json", "-n", "3")
    assert done.code == EXIT_OK
    events = json.loads(done.out)
    assert [e["seq"] for e in events] == [28, 29, 30]
    assert events[-1] == {
        "seq": 30, "at": events[-1]["at"], "kind": "issue.routed", "key": "key-30", "host": "writer-host",
        "repository": "org/repo", "number": 30, "data": {"n": 30},
    }  # fmt: skip
    done = cli("events", "tail", "--json", "--kind", "issue.routed")
    assert [e["seq"] for e in json.loads(done.out)] == [5, 10, 15, 20, 25, 30]
    done = cli("events", "tail", "--json", "--kind", "issue.routed", "--kind", "issue.triaged", "--limit", "2")
    assert [e["seq"] for e in json.loads(done.out)] == [29, 30]


def test_tail_since_is_a_cursor(log: EventLog, cli) -> None:
    seed(log)
    done = cli("events", "tail", "--json", "--since", "4", "--limit", "3")
    assert [e["seq"] for e in json.loads(done.out)] == [5, 6, 7]
    done = cli("events", "tail", "--json", "--since", "28")
    assert [e["seq"] for e in json.loads(done.out)] == [29, 30]
    done = cli("events", "tail", "--json", "--since", "30")
    assert json.loads(done.out) == []
    done = cli("events", "tail", "--since", "27", "--kind", "issue.routed")
    assert "key-30" in done.out and "key-28" not in done.out


@pytest.mark.parametrize("args", [("--kind", "Not.A.Kind"), ("--since", "-1"), ("--limit", "0"), ("--since", "x")])
def test_bad_options_are_usage_errors(data_dir: Path, cli, args: tuple[str, ...]) -> None:
    done = cli("events", "tail", *args)
    assert done.code == EXIT_USAGE
    assert done.err.startswith("error:")


def test_follow_prints_new_events_until_ctrl_c(log: EventLog, data_dir: Path) -> None:
    log.emit_sync("sweep.started", "before")
    command = [sys.executable, "-c", "from uni_wizard.cli import run; run()", "events", "tail", "--follow", "--json"]
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        stdout = proc.stdout
        reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
        reader.start()
        try:
            first = json.loads(lines.get(timeout=30))  # the latest events first
            assert first["key"] == "before"
            log.emit_sync("issue.triaged", "after", repository="org/repo", number=9, data={"title": "new"})
            second = json.loads(lines.get(timeout=10))  # then each new one
            assert (second["key"], second["seq"], second["data"]) == ("after", 2, {"title": "new"})
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == EXIT_OK
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
            reader.join(timeout=5)
