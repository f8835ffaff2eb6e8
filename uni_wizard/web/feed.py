"""The live activity feed: ``GET /ws/events`` (WebSocket) and ``GET /api/v1/events/stream`` (Server-Sent Events).

    app.include_router(feed_router(Broadcaster(EventLog(store, host), registry=registry)))

Both take ``since`` (a cursor: events with a greater ``seq``), ``kind`` (repeatable), ``house`` (the house
in the event's data) and ``issue`` (``owner/repo#12``, ``owner/repo`` or ``12``). Both replay the log from
the cursor, oldest first, in pages of ``MAX_PAGE``, then stream each new event as it is committed (the
hand-over is in ``broadcast.py``: nothing is lost, nothing sent twice). Each WebSocket message, and each SSE
``data:`` line, is the JSON of one event as ``GET /api/v1/events`` gives it; reconnecting with ``since`` set
to the last ``seq`` received resumes exactly there.

Authentication is ``auth.viewer``: the API token or the viewer token as a bearer header (programs), or the
dashboard's session cookie (a browser cannot set headers on a WebSocket). A WebSocket without either is
accepted and closed at once with 1008 and the reason (a browser sees the code; it cannot see a refused
handshake's status); the SSE endpoint answers 401.

A client whose queue (``QUEUE_SIZE`` events) fills because it does not read is dropped: the WebSocket is
closed with ``TOO_SLOW`` (4000) and a reason naming the ``since`` to reconnect with; the SSE stream ends
after a ``: dropped`` comment. Should the broadcaster stop reading the log (the store failed), every
client is let go the same way, with 1011 (``FEED_STOPPED``). Closing waits at most ``CLOSE_WAIT`` seconds
for a client that reads nothing.
The SSE stream sends ``id: <seq>``, ``event: <kind>``, ``data: <json>`` per event, ``retry: 2000`` first,
and a ``: keepalive`` comment after ``heartbeat`` seconds (15) without an event; ``Last-Event-ID`` (what a
reconnecting ``EventSource`` sends) takes the place of ``since``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, WebSocket, WebSocketException
from pydantic import StringConstraints
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..observe.events import KIND_PATTERN, MAX_KIND_CHARS, MAX_KINDS, MAX_PAGE, EventLog
from .auth import Identity, viewer
from .broadcast import TOO_SLOW, Broadcaster, FeedFilter, Message, Subscriber, encode

__all__ = ["CLOSE_WAIT", "HEARTBEAT", "ISSUE_PATTERN", "TOO_SLOW", "feed_router"]

CLOSE_WAIT = 5.0  # seconds a close may wait for a client that reads nothing
HEARTBEAT = 15.0  # seconds of silence before an SSE keepalive comment
ISSUE_PATTERN = r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(#[0-9]{1,9})?|[0-9]{1,9})$"
Kind = Annotated[str, StringConstraints(pattern=KIND_PATTERN, max_length=MAX_KIND_CHARS)]
Deliver = Callable[[Message], Awaitable[None]]


class _Cursor:
    """The ``seq`` of the last event sent (or skipped by the filter) to one client."""

    def __init__(self, seq: int) -> None:
        self.seq = seq


async def relay(
    log: EventLog,
    sub: Subscriber,
    cursor: _Cursor,
    deliver: Deliver,
    *,
    idle: Callable[[], Awaitable[None]] | None = None,
    idle_seconds: float = HEARTBEAT,
) -> None:
    """Replay ``log`` after ``cursor`` through ``deliver``, then what reaches ``sub``'s queue, forever; ``idle``
    is awaited after ``idle_seconds`` without an event."""
    kinds = sorted(sub.filter.kinds)
    while True:  # the replay: until a page comes back short, which is after every event queued live
        page = await asyncio.to_thread(log.tail, cursor.seq, MAX_PAGE, kinds)
        for event in page:
            if sub.filter.matches(event):
                await deliver(encode(event))
            cursor.seq = event.seq
        if len(page) < MAX_PAGE:
            break
    while True:
        try:
            message = await asyncio.wait_for(sub.queue.get(), idle_seconds) if idle else await sub.queue.get()
        except TimeoutError:
            if idle is not None:
                await idle()
            continue
        if message[0] <= cursor.seq:  # the replay sent it already
            continue
        await deliver(message)
        cursor.seq = message[0]


def feed_router(broadcaster: Broadcaster, *, heartbeat: float = HEARTBEAT) -> APIRouter:
    """The two feed endpoints on ``broadcaster``; ``heartbeat``: seconds between SSE keepalives."""
    router = APIRouter()

    @router.websocket("/ws/events")
    async def ws_events(
        websocket: WebSocket,
        since: int = Query(0, ge=0),
        kind: list[Kind] | None = Query(None, max_length=MAX_KINDS),
        house: str | None = Query(None, max_length=64),
        issue: str | None = Query(None, pattern=ISSUE_PATTERN),
    ) -> None:
        """The event log from ``since``, then live; one JSON event per message."""
        await websocket.accept()
        try:
            viewer(websocket)
        except WebSocketException as refused:
            await websocket.close(refused.code, refused.reason)
            return
        sub = broadcaster.subscribe(FeedFilter.of(kinds=kind, house=house, issue=issue), "websocket")
        cursor = _Cursor(since)
        try:
            await _serve_websocket(websocket, broadcaster.log, sub, cursor)
        finally:
            broadcaster.unsubscribe(sub)

    @router.get("/api/v1/events/stream")
    def sse_events(
        since: int = Query(0, ge=0, description="Only events with a greater seq (a cursor)."),
        kind: list[Kind] | None = Query(None, max_length=MAX_KINDS, description="Only these kinds (repeatable)."),
        house: str | None = Query(None, max_length=64, description="Only events whose data names this house."),
        issue: str | None = Query(None, pattern=ISSUE_PATTERN, description="owner/repo#12, owner/repo or 12."),
        last_event_id: int | None = Header(None, ge=0, description="Resume after this seq (EventSource)."),
        who: Identity = Depends(viewer),
    ) -> EventStream:
        """The event log from ``since`` (or ``Last-Event-ID``), then live, as ``text/event-stream``."""
        feed_filter = FeedFilter.of(kinds=kind, house=house, issue=issue)
        start = last_event_id if last_event_id is not None else since
        return EventStream(broadcaster, feed_filter, start, heartbeat)

    return router


async def _serve_websocket(websocket: WebSocket, log: EventLog, sub: Subscriber, cursor: _Cursor) -> None:
    async def deliver(message: Message) -> None:
        await websocket.send_text(message[2])

    async def listen() -> None:  # until the client goes away; what it says is ignored
        while (await websocket.receive())["type"] != "websocket.disconnect":
            continue

    outcome = await _race(relay(log, sub, cursor, deliver), listen(), sub)
    if outcome == "dropped":
        reason = f"{sub.reason}; reconnect with since={cursor.seq}"[:123]
        with contextlib.suppress(Exception):  # a client that reads nothing cannot take the close frame either
            await asyncio.wait_for(websocket.close(sub.code, reason), CLOSE_WAIT)


async def _race(pump: Awaitable[None], listen: Awaitable[None], sub: Subscriber) -> str:
    """Run ``pump`` until the client leaves (``listen`` returns), ``sub`` is dropped, or sending fails;
    ``"dropped"`` or ``"ended"``."""
    tasks = {
        asyncio.ensure_future(pump): "ended",
        asyncio.ensure_future(listen): "ended",
        asyncio.ensure_future(sub.dropped.wait()): "dropped",
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return "dropped" if any(tasks[t] == "dropped" for t in done) else "ended"


class EventStream(Response):
    """The SSE answer: it subscribes when it is sent, and streams until the client leaves or is dropped."""

    media_type = "text/event-stream"

    def __init__(self, broadcaster: Broadcaster, feed_filter: FeedFilter, since: int, heartbeat: float) -> None:
        super().__init__()
        self.broadcaster, self.filter, self.since, self.heartbeat = broadcaster, feed_filter, since, heartbeat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # a proxy in front must not hold events back
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def chunk(text: str) -> None:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

        async def deliver(message: Message) -> None:
            seq, kind, data = message
            await chunk(f"id: {seq}\nevent: {kind}\ndata: {data}\n\n")

        async def keepalive() -> None:
            await chunk(": keepalive\n\n")

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                continue

        sub = self.broadcaster.subscribe(self.filter, "sse")
        try:
            await chunk("retry: 2000\n\n")
            cursor = _Cursor(self.since)
            pump = relay(self.broadcaster.log, sub, cursor, deliver, idle=keepalive, idle_seconds=self.heartbeat)
            if await _race(pump, listen(), sub) == "dropped":
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(chunk(f": dropped: {sub.reason}; resume after {cursor.seq}\n\n"), CLOSE_WAIT)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(send({"type": "http.response.body", "body": b""}), CLOSE_WAIT)
        finally:
            self.broadcaster.unsubscribe(sub)
