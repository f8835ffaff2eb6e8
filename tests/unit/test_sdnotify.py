"""sd_notify helpers: the watchdog interval from systemd's environment, and pings that come from the event loop."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from uni_wizard.sdnotify import notify, watchdog_interval, watchdog_pings


@pytest.mark.parametrize(
    ("env", "pid", "expected"),
    [
        ({}, 10, None),
        ({"WATCHDOG_USEC": "0"}, 10, None),
        ({"WATCHDOG_USEC": "banana"}, 10, None),
        ({"WATCHDOG_USEC": "20000000"}, 10, 10.0),
        ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "10"}, 10, 0.2),
        ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "11"}, 10, None),  # meant for another process
    ],
)
def test_watchdog_interval(env: dict[str, str], pid: int, expected: float | None) -> None:
    assert watchdog_interval(env, pid) == expected


def test_notify_is_a_no_op_outside_systemd() -> None:
    assert notify("READY=1", environ={}) is False


def test_notify_sends_to_a_path_and_an_abstract_socket(tmp_path: Path) -> None:
    for address, bind in (
        (str(tmp_path / "n.sock"), str(tmp_path / "n.sock")),
        ("@uw-test-abstract", "\0uw-test-abstract"),
    ):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(bind)
            sock.settimeout(5)
            assert notify("READY=1\nSTATUS=up", environ={"NOTIFY_SOCKET": address}) is True
            assert sock.recv(4096) == b"READY=1\nSTATUS=up"


async def test_pings_carry_the_status_and_stop_while_the_loop_is_blocked() -> None:
    sent: list[str] = []
    status = ["serving"]

    def send(message: str) -> bool:
        sent.append(message)
        return True

    task = asyncio.create_task(watchdog_pings(0.01, lambda: status[0], send=send))
    while len(sent) < 3:
        await asyncio.sleep(0.01)
    assert sent[0] == "WATCHDOG=1\nSTATUS=serving"
    before = len(sent)
    time.sleep(0.2)  # the event loop is stuck: 20 intervals pass, no ping may go out
    assert len(sent) == before
    status[0] = "busy"
    while len(sent) == before:
        await asyncio.sleep(0.01)
    assert sent[-1] == "WATCHDOG=1\nSTATUS=busy"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
