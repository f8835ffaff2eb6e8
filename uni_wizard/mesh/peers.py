"""Peer health: each daemon probes its peers' ``/health`` every ``probe_seconds``, all at once.

    prober = PeerProber(mesh.peers_of(settings.host), mesh.peers)
    await prober.probe_once()           # or: await prober.run(stop)
    prober.results["vps-a"].up          # True, False, or None before the first probe

A peer is up when ``GET <url>/health`` answers 200 with ``{"status": "ok"}`` within ``timeout_seconds``
and names the host the mesh config says is there. A slow peer does not delay the others.

The heartbeat age of a peer (``heartbeat_age``) comes from its Syncthing heartbeat file when the
spool has read one, else from the last successful probe: without Syncthing, a ``/health`` answer is the
heartbeat (it carries host and version).

A peer's comings and goings are events (``peer_events``): ``peer.joined`` when it answers after being down
or not yet probed, ``peer.left`` when it stops answering after being up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..errors import UniWizardError
from ..meshfile.schema import HostEntry, PeerSettings
from ..observe.events import EventKind, EventLog
from .spool_reader import PeerHeartbeat

__all__ = ["OnChange", "PeerCollector", "PeerHealth", "PeerProber", "heartbeat_age", "peer_events"]

log = logging.getLogger(__name__)
OnChange = Callable[["PeerHealth", "PeerHealth"], Awaitable[None]]  # (before, after) of a peer that came or went


@dataclass(frozen=True)
class PeerHealth:
    """The last probe of one peer. ``up`` is None before the first probe."""

    name: str
    url: str
    up: bool | None = None
    status: int | None = None
    error: str | None = None
    latency_seconds: float | None = None
    checked_at: float | None = None
    last_up_at: float | None = None
    version: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "up": self.up,
            "status": self.status,
            "error": self.error,
            "latency_seconds": self.latency_seconds,
            "checked_at": self.checked_at,
            "last_up_at": self.last_up_at,
            "version": self.version,
        }


class PeerProber:
    """Probes ``peers`` with ``settings`` (interval and timeout).

    ``transport`` is the httpx seam (tests); ``clock`` gives UNIX time and ``timer`` measures latency;
    ``on_change`` hears each peer that joined or left (``peer_events``).
    """

    def __init__(
        self,
        peers: Sequence[HostEntry],
        settings: PeerSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        on_change: OnChange | None = None,
    ) -> None:
        self.peers = tuple(peers)
        self.on_change = on_change
        self.settings = settings
        self.clock = clock
        self.timer = timer
        self.results: dict[str, PeerHealth] = {p.name: PeerHealth(p.name, p.url) for p in self.peers}
        self._http = httpx.AsyncClient(transport=transport, timeout=settings.timeout_seconds, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def probe_once(self) -> dict[str, PeerHealth]:
        """Probe every peer concurrently; the new results (also kept in ``results``)."""
        fresh = await asyncio.gather(*(self._probe(peer) for peer in self.peers))
        changed = []
        for health in fresh:
            before, self.results[health.name] = self.results[health.name], health
            if (health.up is True) != (before.up is True) and (health.up or before.up):
                changed.append((before, health))
        if self.on_change is not None:
            for before, health in changed:
                await self.on_change(before, health)
        return dict(self.results)

    async def run(self, stop: asyncio.Event) -> None:
        """``probe_once`` every ``probe_seconds`` until ``stop`` is set."""
        while not stop.is_set():
            await self.probe_once()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.probe_seconds)
            except TimeoutError:
                continue

    async def _probe(self, peer: HostEntry) -> PeerHealth:
        before = self.results[peer.name]
        started, now = self.timer(), self.clock()
        try:
            response = await self._http.get(peer.url.rstrip("/") + "/health")
        except httpx.TimeoutException:
            return self._down(before, now, None, f"no answer within {self.settings.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return self._down(before, now, None, f"unreachable: {type(exc).__name__}: {exc}")
        latency = self.timer() - started
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._down(before, now, response.status_code, "/health did not answer a JSON object")
        if response.status_code != 200 or body.get("status") != "ok":
            return self._down(before, now, response.status_code, f"unhealthy: status {body.get('status')!r}")
        if body.get("host") != peer.name:
            return self._down(
                before, now, response.status_code, f"{peer.url} answers as host {body.get('host')!r}, not {peer.name!r}"
            )
        version = body.get("version")
        return PeerHealth(
            peer.name,
            peer.url,
            up=True,
            status=response.status_code,
            latency_seconds=latency,
            checked_at=now,
            last_up_at=now,
            version=str(version) if version is not None else None,
        )

    @staticmethod
    def _down(before: PeerHealth, now: float, status: int | None, error: str) -> PeerHealth:
        return replace(before, up=False, status=status, error=error, latency_seconds=None, checked_at=now)


def heartbeat_age(now: float, beat: PeerHeartbeat | None, health: PeerHealth | None) -> tuple[float | None, str | None]:
    """Seconds since the peer's last heartbeat and where it came from (``syncthing`` or ``http``).

    A Syncthing heartbeat carries the writer's clock: the age is ``now - time`` (never below 0; a peer
    whose clock runs ahead looks fresh by that much). Without one, the last successful ``/health``
    probe stands in, on this host's clock.
    """
    if beat is not None:
        return max(0.0, now - beat.time), "syncthing"
    if health is not None and health.last_up_at is not None:
        return max(0.0, now - health.last_up_at), "http"
    return None, None


class PeerCollector(Collector):
    """``uniwizard_peer_up{peer}`` and ``uniwizard_peer_heartbeat_age_seconds{peer}``, read at scrape time.

    ``heartbeats`` gives the spool's heartbeats (empty without Syncthing). A peer not probed yet has no
    ``peer_up`` sample; one never heard from has no heartbeat age.
    """

    def __init__(
        self,
        prober: PeerProber,
        heartbeats: Callable[[], Mapping[str, PeerHeartbeat]] = dict,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prober = prober
        self.heartbeats = heartbeats
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "uniwizard_peer_up", "1 when the peer's /health answered ok at the last probe.", labels=["peer"]
        )
        age = GaugeMetricFamily(
            "uniwizard_peer_heartbeat_age_seconds",
            "Seconds since the peer's last heartbeat (Syncthing heartbeat file, else the last ok /health).",
            labels=["peer"],
        )
        now, beats = self.clock(), self.heartbeats()
        for name, health in sorted(self.prober.results.items()):
            if health.up is not None:
                up.add_metric([name], 1.0 if health.up else 0.0)
            seconds, _ = heartbeat_age(now, beats.get(name), health)
            if seconds is not None:
                age.add_metric([name], seconds)
        yield up
        yield age


def peer_events(events: Callable[[], EventLog], *, clock: Callable[[], float] = time.time) -> OnChange:
    """``PeerProber(on_change=...)`` logging ``peer.joined`` and ``peer.left`` (peer, status, error; no URL) in the
    log ``events`` opens (at the first change: building a node opens no store)."""
    opened: list[EventLog] = []

    async def changed(before: PeerHealth, after: PeerHealth) -> None:
        kind = EventKind.PEER_JOINED if after.up else EventKind.PEER_LEFT
        data = {"peer": after.name, "status": after.status, "error": (after.error or "")[:300] or None}
        if after.up:
            data["version"] = after.version
        try:
            if not opened:
                opened.append(events())
            log_ = opened[0]
            await log_.emit(kind, f"{kind}:{log_.host}:{after.name}:{clock():.6f}", data=data)
        except UniWizardError as exc:  # the probes go on without the event
            log.warning("cannot log %s of %s: %s", kind, after.name, exc)

    return changed
