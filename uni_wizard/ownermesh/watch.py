"""What ``up`` reads from the daemons it runs: each one's event log (``GET /api/v1/events?since=``, with the
mesh's API token), from a cursor kept in the daemon's data directory (``up.cursor``), so that a restarted
``up`` shows what happened while it was away and nothing twice."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import httpx

from .lines import KINDS, event_line

__all__ = ["EventFollower", "wait_http"]

PAGE = 200


class EventFollower:
    """The lines of one daemon's new events, said through ``say``."""

    def __init__(self, name: str, url: str, token: str, cursor_file: Path, say: Callable[[str], None]) -> None:
        self.name, self.url, self.token, self.cursor_file, self.say = name, url, token, cursor_file, say
        self.cursor = self._load()

    def _load(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            return max(0, int(self.cursor_file.read_text(encoding="utf-8").strip() or "0"))
        return 0

    def _save(self) -> None:
        with contextlib.suppress(OSError):
            self.cursor_file.parent.mkdir(parents=True, exist_ok=True)
            self.cursor_file.write_text(f"{self.cursor}\n", encoding="utf-8")

    async def poll(self, client: httpx.AsyncClient) -> None:
        """Every event after the cursor, a page at a time; an unreachable daemon is tried again next time."""
        while True:
            params = httpx.QueryParams([("since", self.cursor), ("limit", PAGE), *(("kind", k) for k in KINDS)])
            try:
                answer = await client.get(
                    f"{self.url}/api/v1/events", params=params, headers={"Authorization": f"Bearer {self.token}"}
                )
                page = answer.json() if answer.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                return
            if not isinstance(page, dict):
                return
            events = [e for e in page.get("events") or () if isinstance(e, dict)]
            for event in events:
                line = event_line(self.name, event)
                if line:
                    self.say(line)
            full = len(events) >= PAGE
            cursor = int(events[-1]["seq"]) if full else int(page.get("last_seq") or self.cursor)
            if cursor != self.cursor:
                self.cursor = cursor
                self._save()
            if not full:
                return


async def wait_http(client: httpx.AsyncClient, url: str) -> bool:
    """One look: ``url`` answers 200."""
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False
