"""The live feed's broadcaster: one follower of the event log per app, fanning each new event out to every
subscriber's bounded queue.

    broadcaster = Broadcaster(EventLog(store, host), queue_size=1024)
    sub = broadcaster.subscribe(FeedFilter.of(kinds=["issue.routed"]))  # on the event loop
    ... replay from the log, then: seq, kind, text = await sub.queue.get() ...
    broadcaster.unsubscribe(sub)

How it learns of a new event: ``EventLog.follow`` from the log's head. An event committed in this process,
through any ``EventLog`` of the store (the dispatcher's, a worker's, the Harness's), wakes it at once
(``call_soon_threadsafe`` after the commit); one committed by another process (the CLI) is found by the
follower's poll, every ``poll`` seconds (a ``seq > cursor`` range read on the primary key).

Fan-out costs one JSON encoding per event, shared by every subscriber, and one ``put_nowait`` per matching
subscriber: the follower never waits for a client. A subscriber whose queue is full (a client that does not
read) is dropped: removed at once, ``dropped`` set with the reason, ``uniwizard_feed_dropped_total`` counted;
its connection closes it (``feed.py``). The follower runs while anyone subscribes, and stops with the last.

The hand-over from replay to live loses nothing and duplicates nothing: ``subscribe`` registers the queue
first, so every event fanned out from then on reaches it; every event fanned out before is committed, so
the replay that follows (read until an empty page) reads it; the connection skips queued events whose
``seq`` the replay already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from ..metricset import MetricSet
from ..observe.events import Event, EventLog

__all__ = ["FEED_STOPPED", "QUEUE_SIZE", "TOO_SLOW", "Broadcaster", "FeedFilter", "FeedMetrics", "Subscriber"]

log = logging.getLogger(__name__)

QUEUE_SIZE = 1024  # events queued for one client before it counts as too slow and is dropped
POLL = 0.25  # seconds between the follower's reads when nothing in this process woke it
TOO_SLOW = 4000  # WebSocket close code of a client dropped for not reading
FEED_STOPPED = 1011  # ... of every client when the broadcaster cannot read the log any more
Message = tuple[int, str, str]  # seq, kind, the event's JSON


@dataclass(frozen=True)
class FeedFilter:
    """Which events a subscriber wants: ``kinds`` (empty: all), the ``house`` in the event's data, the
    issue ``repository`` and/or ``number``."""

    kinds: frozenset[str] = frozenset()
    house: str | None = None
    repository: str | None = None
    number: int | None = None

    @classmethod
    def of(
        cls, *, kinds: Iterable[str] | None = None, house: str | None = None, issue: str | None = None
    ) -> FeedFilter:
        """From the query: ``issue`` is ``owner/repo#12`` (that issue), ``owner/repo`` (its repository) or
        ``12`` (issue 12 of any repository)."""
        repository: str | None = None
        number: int | None = None
        if issue:
            repo, sep, num = issue.rpartition("#")
            if sep:
                repository, number = repo or None, int(num)
            elif issue.isdigit():
                number = int(issue)
            else:
                repository = issue
        return cls(frozenset(kinds or ()), house or None, repository, number)

    def matches(self, event: Event) -> bool:
        if self.kinds and event.kind not in self.kinds:
            return False
        if self.house is not None and event.data.get("house") != self.house:
            return False
        if self.repository is not None and event.repository != self.repository:
            return False
        return self.number is None or event.number == self.number


@dataclass(eq=False)
class Subscriber:
    """One client's bounded queue; ``dropped`` is set (with ``reason``) when the broadcaster lets it go."""

    filter: FeedFilter
    transport: str
    queue: asyncio.Queue[Message]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""
    code: int = TOO_SLOW  # the WebSocket close code that goes with ``reason``


class FeedMetrics(MetricSet):
    """``uniwizard_feed_clients{transport}``, ``uniwizard_feed_dropped_total{transport}`` and
    ``uniwizard_feed_events_total`` (events fanned out, each counted once)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.clients = Gauge(
            "uniwizard_feed_clients", "Clients of the live event feed.", ["transport"], registry=registry
        )
        self.dropped = Counter(
            "uniwizard_feed_dropped",
            "Feed clients dropped for falling a whole queue behind.",
            ["transport"],
            registry=registry,
        )
        self.events = Counter("uniwizard_feed_events", "Events fanned out to the feed's clients.", registry=registry)


def encode(event: Event) -> Message:
    """An event as the feed sends it: the JSON of ``GET /api/v1/events`` for one event."""
    return event.seq, event.kind, json.dumps(event.as_dict(), separators=(",", ":"))


class Broadcaster:
    """Follows ``log`` while anyone subscribes and hands each event to every matching subscriber."""

    def __init__(
        self,
        log: EventLog | Callable[[], EventLog],
        *,
        queue_size: int = QUEUE_SIZE,
        poll: float = POLL,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self._log = log  # or how to open it: the store is opened at the first subscriber, not with the app
        self.queue_size = queue_size
        self.poll = poll
        self.metrics = FeedMetrics.for_registry(registry)
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def log(self) -> EventLog:
        """The event log followed (opened now when it was given as a factory)."""
        if not isinstance(self._log, EventLog):
            self._log = self._log()
        return self._log

    def subscribe(self, feed_filter: FeedFilter, transport: str) -> Subscriber:
        """A new subscriber; every event committed after this call reaches its queue (call it on the loop)."""
        if self._task is None:
            # the head is read here, before the subscriber exists, so nothing after it can be missed
            stop = self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._follow(self.log.last_seq(), stop), name="feed-broadcaster")
        sub = Subscriber(feed_filter, transport, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        self.metrics.clients.labels(transport).inc()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget ``sub`` (no harm if it was dropped); the follower stops with the last subscriber."""
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.metrics.clients.labels(sub.transport).dec()
        if not self.subscribers and self._stop is not None:
            self._stop.set()
            self._stop = self._task = None

    async def aclose(self) -> None:
        """Stop the follower now (the app is shutting down); subscribers stay until their connections end."""
        task, stop = self._task, self._stop
        self._stop = self._task = None
        if stop is not None and task is not None:
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, since: int, stop: asyncio.Event) -> None:
        try:
            async for event in self.log.follow(since, self.poll, stop):
                self.publish(event)
        except Exception as exc:  # the feed must not die silently: say why, and the next subscriber restarts it
            log.exception("the event feed stopped following the log")
            if self._stop is stop:
                for sub in list(self.subscribers):  # they would wait forever: let them reconnect
                    self.drop(sub, f"the feed stopped reading the event log ({type(exc).__name__})", FEED_STOPPED)
                self._stop = self._task = None

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every matching subscriber; drop each one whose queue is full."""
        self.metrics.events.inc()
        message: Message | None = None
        for sub in list(self.subscribers):
            if not sub.filter.matches(event):
                continue
            if message is None:
                message = encode(event)
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                self.drop(sub, f"too slow: {self.queue_size} events queued unread")

    def drop(self, sub: Subscriber, reason: str, code: int = TOO_SLOW) -> None:
        """Let ``sub`` go: it gets no more events and its connection closes with ``code`` and ``reason``."""
        if sub not in self.subscribers:
            return
        self.subscribers.discard(sub)
        self.metrics.clients.labels(sub.transport).dec()
        self.metrics.dropped.labels(sub.transport).inc()
        sub.reason, sub.code = reason, code
        sub.dropped.set()
        if not self.subscribers and self._stop is not None:
            self._stop.set()
            self._stop = self._task = None
