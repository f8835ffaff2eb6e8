"""systemd's notify protocol in the standard library: READY, STATUS, WATCHDOG, STOPPING.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) and, with ``WatchdogSec=``, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). Outside systemd
every call here is a no-op that returns False.

The watchdog pings are sent by a task on the daemon's event loop, never by a thread: a loop that is
stuck (a blocking call, a deadlock) stops pinging, and systemd kills and restarts the service.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

__all__ = ["notify", "watchdog_interval", "watchdog_pings"]


def notify(message: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (``KEY=value`` lines) to systemd's notify socket; False when not under systemd."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between pings (half of ``WatchdogSec=``), or None when systemd expects none from this process."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None  # the watchdog is meant for another process (e.g. our parent)
    return int(usec) / 2e6


async def watchdog_pings(
    interval: float,
    status: Callable[[], str],
    *,
    send: Callable[[str], bool] = notify,
) -> None:
    """Ping (``WATCHDOG=1`` with the current ``STATUS=``) every ``interval`` seconds until cancelled."""
    while True:
        send(f"WATCHDOG=1\nSTATUS={status()}")
        await asyncio.sleep(interval)
