"""A small async client for Syncthing's REST API (1.19): what the mesh reads for health, metrics and the spool.

    async with SyncthingClient("http://127.0.0.1:8384", api_key) as st:
        status = await st.folder_status("uni-wizard")      # state, need bytes/files, errors
        links = await st.connections()                      # device id -> Connection
        done = await st.completion("uni-wizard", device_id) # percent the device has of the folder

Every request carries ``X-API-Key`` (Syncthing accepts nothing else: a bearer token, a query
parameter or a wrong key all get 403). Every failure is a ``SyncthingError`` whose ``status`` is
the HTTP status, or 0 when Syncthing could not be reached (refused, timed out) — the one place
where httpx errors are translated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from ..errors import SyncthingError

__all__ = [
    "Completion",
    "Connection",
    "FolderError",
    "FolderStatus",
    "SyncthingClient",
]

FOLDER_STATES = (
    "idle",
    "scanning",
    "scan-waiting",
    "sync-waiting",
    "sync-preparing",
    "syncing",
    "cleaning",
    "clean-waiting",
    "error",
    "unknown",
)
"""Folder states Syncthing 1.19 reports in ``/rest/db/status`` (``unknown``: anything else)."""


@dataclass(frozen=True)
class FolderStatus:
    """``GET /rest/db/status?folder=ID``, the fields the mesh uses."""

    state: str
    error: str
    need_files: int
    need_bytes: int
    global_files: int
    global_bytes: int
    local_files: int
    local_bytes: int
    pull_errors: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FolderStatus:
        state = str(data.get("state") or "unknown")
        return cls(
            state=state if state in FOLDER_STATES else "unknown",
            error=str(data.get("error") or ""),
            need_files=int(data.get("needFiles") or 0),
            need_bytes=int(data.get("needBytes") or 0),
            global_files=int(data.get("globalFiles") or 0),
            global_bytes=int(data.get("globalBytes") or 0),
            local_files=int(data.get("localFiles") or 0),
            local_bytes=int(data.get("localBytes") or 0),
            pull_errors=int(data.get("pullErrors") or 0),
        )


@dataclass(frozen=True)
class Completion:
    """``GET /rest/db/completion``: how much of the folder a device has (``percent`` 0-100)."""

    percent: float
    need_bytes: int
    need_items: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Completion:
        return cls(
            percent=float(data.get("completion") or 0.0),
            need_bytes=int(data.get("needBytes") or 0),
            need_items=int(data.get("needItems") or 0),
        )


@dataclass(frozen=True)
class Connection:
    """One device of ``GET /rest/system/connections``."""

    connected: bool
    paused: bool
    address: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Connection:
        return cls(bool(data.get("connected")), bool(data.get("paused")), str(data.get("address") or ""))


@dataclass(frozen=True)
class FolderError:
    """One entry of ``GET /rest/folder/errors``: a file Syncthing could not sync, and why."""

    path: str
    error: str


class SyncthingClient:
    """Syncthing's REST API at ``base_url`` with ``api_key``.

    Args:
        base_url: the GUI/REST address, e.g. ``http://127.0.0.1:8384``.
        api_key: the ``X-API-Key`` (Syncthing's ``<gui><apikey>``).
        transport: an httpx transport (tests); None: the network.
        timeout: seconds to connect and for each read (a long-polled ``events`` call adds its own wait).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers={"X-API-Key": api_key}, transport=transport, timeout=timeout
        )

    async def __aenter__(self) -> SyncthingClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the calls ---------------------------------------------------------------
    async def ping(self) -> bool:
        """True when Syncthing answers ``{"ping": "pong"}`` (and accepts the key)."""
        data = await self._json("GET", "/rest/system/ping")
        return isinstance(data, dict) and data.get("ping") == "pong"

    async def my_id(self) -> str:
        """This Syncthing's device id (``/rest/system/status`` ``myID``)."""
        return str(self._mapping(await self._json("GET", "/rest/system/status"), "system status").get("myID", ""))

    async def folder_status(self, folder: str) -> FolderStatus:
        """The folder's state and counts; status 404 when Syncthing has no such folder."""
        data = await self._json("GET", "/rest/db/status", params={"folder": folder})
        return FolderStatus.from_json(self._mapping(data, "folder status"))

    async def completion(self, folder: str, device: str) -> Completion:
        """How much of ``folder`` ``device`` has, as this Syncthing knows it (lags behind the device itself)."""
        data = await self._json("GET", "/rest/db/completion", params={"folder": folder, "device": device})
        return Completion.from_json(self._mapping(data, "completion"))

    async def connections(self) -> dict[str, Connection]:
        """Every configured device (this one excluded) and whether it is connected."""
        data = self._mapping(await self._json("GET", "/rest/system/connections"), "connections")
        links = data.get("connections") or {}
        return {str(dev): Connection.from_json(c) for dev, c in links.items() if isinstance(c, dict)}

    async def folder_errors(self, folder: str) -> list[FolderError]:
        """The files of ``folder`` that failed to sync (empty when none)."""
        data = self._mapping(await self._json("GET", "/rest/folder/errors", params={"folder": folder}), "errors")
        return [
            FolderError(str(e.get("path", "")), str(e.get("error", "")))
            for e in data.get("errors") or []
            if isinstance(e, dict)
        ]

    async def folder_config(self, folder: str) -> dict[str, Any]:
        """The folder's configuration (``devices``, ``paused``, ``rescanIntervalS``, ``fsWatcherEnabled``...)."""
        return self._mapping(await self._json("GET", f"/rest/config/folders/{folder}"), "folder config")

    async def device_names(self) -> dict[str, str]:
        """Device id -> configured name, for every device in the configuration (this one included)."""
        data = await self._json("GET", "/rest/config/devices")
        if not isinstance(data, list):
            raise SyncthingError("Syncthing's device list is not a list", status=200)
        return {str(d.get("deviceID")): str(d.get("name") or "") for d in data if isinstance(d, dict)}

    async def events(
        self, since: int = 0, *, kinds: Sequence[str] = (), limit: int | None = None, timeout: float = 0.0
    ) -> list[dict[str, Any]]:
        """Events with ``id > since``, long-polled for up to ``timeout`` seconds.

        A filtered subscription (``kinds``) is created by Syncthing on its first request and holds only
        events from then on: prime it with ``timeout=0`` before acting. Ids are per subscription.
        """
        params: dict[str, str] = {"since": str(since), "timeout": str(int(timeout))}
        if kinds:
            params["events"] = ",".join(kinds)
        if limit is not None:
            params["limit"] = str(limit)
        read = httpx.Timeout(self.timeout + timeout)
        data = await self._json("GET", "/rest/events", params=params, timeout=read)
        if data is None:
            return []
        if not isinstance(data, list):
            raise SyncthingError("Syncthing's events are not a list", status=200)
        return [e for e in data if isinstance(e, dict)]

    async def scan(self, folder: str) -> None:
        """Rescan ``folder`` now (returns once the scan is done), instead of waiting for the watcher."""
        await self._json("POST", "/rest/db/scan", params={"folder": folder}, timeout=httpx.Timeout(60.0))

    # -- plumbing ----------------------------------------------------------------
    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> Any:
        where = f"{method} {path}"
        try:
            extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
            response = await self._http.request(method, path, params=params, **extra)
        except httpx.TimeoutException as exc:
            raise SyncthingError(f"Syncthing at {self.base_url} did not answer {where} in time", status=0) from exc
        except httpx.TransportError as exc:
            raise SyncthingError(f"Syncthing at {self.base_url} is unreachable ({where}): {exc}", status=0) from exc
        if response.status_code in (401, 403):
            raise SyncthingError(
                f"Syncthing refused the API key ({where}: HTTP {response.status_code}); "
                "check syncthing_api_key against its <gui><apikey>",
                status=response.status_code,
            )
        if response.status_code >= 400:
            detail = response.text.strip()[:200]
            raise SyncthingError(
                f"Syncthing {where}: HTTP {response.status_code} {detail}", status=response.status_code
            )
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise SyncthingError(f"Syncthing {where}: the answer is not JSON", status=response.status_code) from exc

    @staticmethod
    def _mapping(data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise SyncthingError(f"Syncthing's {what} is not a JSON object", status=200)
        return data
