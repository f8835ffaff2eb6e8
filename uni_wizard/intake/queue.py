"""The webhook intake: verify, de-duplicate and queue Gitea deliveries; answer once they are durable.

    intake = WebhookIntake(store, secret, registry)
    result = await intake.receive(headers, body)      # IntakeResult, or WebhookRejected(.status)
    batch = await intake.next_batch(50)               # the consumer claims queued events ...
    await intake.mark_done([e.id for e in batch])     # ... and marks them done

Webhooks are hints; the sweep is the truth (DESIGN §6). Gitea delivers once
with a 5 s timeout, so the intake does the least it can before it answers:
one group-committed transaction records the delivery id (``INSERT OR IGNORE``:
a redelivery, even after a restart, is a duplicate) and queues the event, its
payload's strings cut to ``STORED_STRING_CHARS`` (64 KiB: an issue body of
megabytes would cost every delivery about it a multi-megabyte write).
Parsing happens before that transaction and is cheap; acting on the event is
the consumer's business. A claimed event that is not marked done within
``reclaim_after`` is handed out again.

Metrics: ``uniwizard_webhooks_received_total{event_type,outcome}`` (outcome
accepted, duplicate, ignored or rejected; event types other than the known
ones count as ``other``) and ``uniwizard_webhook_queue_depth`` (events not yet
done, read from the store at scrape time).
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
import urllib.parse
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..errors import ConfigError, StoreError, WebhookRejected
from ..forge.events import EVENT_KINDS, ForgeEvent, from_payload
from ..forge.webhooks import (
    check_delivery,
    check_event_type,
    decode_payload,
    delivery_of,
    event_from_payload,
    event_type_of,
    lower_headers,
    signature_of,
    verify_signature,
)
from ..metricset import MetricSet
from ..store import Store, utc_text

__all__ = [
    "KNOWN_EVENT_TYPES",
    "MAX_BODY_BYTES",
    "STORED_STRING_CHARS",
    "IntakeResult",
    "QueueDepthCollector",
    "QueuedEvent",
    "WebhookIntake",
    "WebhookMetrics",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024
STORED_STRING_CHARS = 64 * 1024  # a queued payload's strings are stored cut to this
RECLAIM_AFTER = timedelta(minutes=5)
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(t for cls in EVENT_KINDS.values() for t in cls.event_types)
OUTCOMES = ("accepted", "duplicate", "ignored", "rejected")

Outcome = Literal["accepted", "duplicate", "ignored"]


@dataclass(frozen=True)
class IntakeResult:
    """What became of an authentic delivery: queued, seen before, or of a type not acted on."""

    outcome: Outcome
    delivery: str
    event_type: str

    def as_json(self) -> dict[str, str]:
        if self.outcome == "accepted":
            return {"status": "accepted", "delivery": self.delivery}
        return {"status": self.outcome}


@dataclass(frozen=True)
class QueuedEvent:
    """An event handed to the consumer; ``payload`` is the delivery's JSON object, read from the store and
    decoded only when asked for (the dispatcher needs the repository and number alone: a batch of deliveries
    of megabytes each is neither loaded nor decoded on the event loop)."""

    id: int
    delivery: str
    event_type: str
    kind: str
    repository: str
    number: int | None
    received_at: str
    claimed_at: str | None
    attempts: int
    read_payload: Callable[[], str] = field(repr=False, compare=False)
    size: int = 0  # characters of the stored payload

    @property
    def payload(self) -> dict[str, Any]:
        value = json.loads(self.read_payload())
        if not isinstance(value, dict):
            raise StoreError(f"queued event {self.id} holds no JSON object")
        return value

    def event(self) -> ForgeEvent:
        """The typed event, parsed again from the stored payload."""
        event = from_payload(self.event_type, self.payload, delivery=self.delivery)
        if not isinstance(event, ForgeEvent):
            raise StoreError(f"queued event {self.id} has the unknown event type {self.event_type!r}")
        return event


# -- metrics ---------------------------------------------------------------------


def event_type_label(event_type: str | None) -> str:
    """A bounded label value: a known event type as it is, anything else ``other``."""
    return event_type if event_type in KNOWN_EVENT_TYPES else "other"


class QueueDepthCollector(Collector):
    """``uniwizard_webhook_queue_depth``: queued events not yet done, counted in the stores at scrape."""

    def __init__(self) -> None:
        self.stores: weakref.WeakSet[Store] = weakref.WeakSet()

    def add(self, store: Store) -> None:
        self.stores.add(store)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = 0
        seen: set[str] = set()
        for store in list(self.stores):
            key = str(store.path.resolve())
            if key in seen:
                continue
            seen.add(key)
            try:
                depth += int(store.query("SELECT count(*) FROM event_queue WHERE done_at IS NULL")[0][0])
            except StoreError as exc:  # a scrape reports what it can; /health reports the store
                log.warning("cannot read the webhook queue depth: %s", exc)
        yield GaugeMetricFamily(
            "uniwizard_webhook_queue_depth", "Webhook events queued and not yet marked done.", value=depth
        )


class WebhookMetrics(MetricSet):
    """The webhook counters and the queue-depth collector, created once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.received = Counter(
            "uniwizard_webhooks_received",
            "Webhook deliveries by event type ('other' for unknown types) and outcome.",
            ["event_type", "outcome"],
            registry=registry,
        )
        self.depth = QueueDepthCollector()
        registry.register(self.depth)

    def count(self, event_type: str | None, outcome: str) -> None:
        self.received.labels(event_type_label(event_type), outcome).inc()


# -- the intake ------------------------------------------------------------------


def _signed_json(content_type: str, body: bytes) -> bytes:
    """The JSON the signature covers: the body, or for ``content_type=form`` its ``payload`` field."""
    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        return body
    try:
        fields = urllib.parse.parse_qs(body.decode("ascii"), max_num_fields=64, errors="strict")
    except ValueError:  # not ASCII, bad percent-escapes, too many fields
        raise WebhookRejected("the form body is malformed", status=400) from None
    values = fields.get("payload")
    if not values:
        raise WebhookRejected("the form body has no payload field", status=400)
    return values[0].encode("utf-8")


class WebhookIntake:
    """Receives Gitea deliveries into ``store``'s event queue; ``secret`` is the hook's secret."""

    def __init__(
        self,
        store: Store,
        secret: bytes | str,
        registry: CollectorRegistry = REGISTRY,
        *,
        max_body: int = MAX_BODY_BYTES,
        reclaim_after: timedelta = RECLAIM_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not self._secret:
            raise ConfigError("the webhook secret is empty", key="webhook_secret")
        self.max_body = max_body
        self.reclaim_after = reclaim_after
        self.clock = clock
        self.metrics = WebhookMetrics.for_registry(registry)
        self.metrics.depth.add(store)

    def _now(self, offset: float = 0.0) -> str:
        return utc_text(datetime.fromtimestamp(self.clock() + offset, UTC))

    def _reject(self, error: WebhookRejected, event_type: str | None, delivery: str | None) -> WebhookRejected:
        self.metrics.count(event_type, "rejected")
        log.log(
            logging.WARNING if error.status == 401 else logging.INFO,
            "webhook delivery %r (%s) rejected with %d: %s",
            (delivery or "?")[:64],
            event_type_label(event_type),
            error.status,
            error,
        )
        return error

    # -- receiving ----------------------------------------------------------------
    async def handle(self, headers: Mapping[str, str], chunks: AsyncIterable[bytes]) -> tuple[int, dict[str, str]]:
        """Read (at most ``max_body`` bytes) and receive one HTTP delivery: the status and JSON to answer."""
        try:
            body = await self.read_body(headers, chunks)
            result = await self.receive(headers, body)
        except WebhookRejected as error:
            return error.status, {"detail": str(error)}
        return 200, result.as_json()

    async def read_body(self, headers: Mapping[str, str], chunks: AsyncIterable[bytes]) -> bytes:
        """The request body, or ``WebhookRejected`` (413) as soon as it exceeds ``max_body``."""
        lowered = lower_headers(headers)
        too_large = WebhookRejected(f"the body exceeds {self.max_body} bytes", status=413)
        declared = lowered.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_body:
            raise self._reject(too_large, event_type_of(lowered), delivery_of(lowered))
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_body:
                raise self._reject(too_large, event_type_of(lowered), delivery_of(lowered))
            parts.append(chunk)
        return b"".join(parts)

    async def receive(self, headers: Mapping[str, str], body: bytes) -> IntakeResult:
        """Verify → parse → de-duplicate and queue in one durable transaction.

        Raises ``WebhookRejected`` with ``status`` 413 (too large), 401 (signature), 400 (headers or
        payload) or 503 (the store cannot take it); nothing is recorded for a rejected delivery.
        """
        lowered = lower_headers(headers)
        raw_type, raw_delivery = event_type_of(lowered), delivery_of(lowered)
        try:
            if len(body) > self.max_body:
                raise WebhookRejected(f"the body exceeds {self.max_body} bytes", status=413)
            signed = _signed_json(lowered.get("content-type", ""), body)
            verify_signature(self._secret, signed, signature_of(lowered))
            event_type = check_event_type(raw_type)
            delivery = check_delivery(raw_delivery)
            payload = decode_payload(signed)
            event = event_from_payload(event_type, payload, delivery=delivery)
            stored = _stored_json(payload) if isinstance(event, ForgeEvent) else None
            outcome = await self._record(delivery, event_type, event if isinstance(event, ForgeEvent) else None, stored)
        except WebhookRejected as error:
            raise self._reject(error, raw_type, raw_delivery) from None
        self.metrics.count(event_type, outcome)
        return IntakeResult(outcome, delivery, event_type)

    async def _record(self, delivery: str, event_type: str, event: ForgeEvent | None, stored: str | None) -> Outcome:
        received = self._now()
        number = getattr(event, "number", None)

        def job(db: sqlite3.Connection) -> Outcome:
            status: Outcome = "accepted" if event is not None else "ignored"
            inserted = db.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (delivery, event_type, received_at, status) VALUES (?,?,?,?)",
                (delivery, event_type, received, status),
            )
            if inserted.rowcount == 0:
                return "duplicate"
            if event is not None:
                db.execute(
                    "INSERT INTO event_queue (delivery, event_type, kind, repository, number, payload_json, "
                    "received_at) VALUES (?,?,?,?,?,?,?)",
                    (delivery, event_type, event.kind, event.repository, number, stored, received),
                )
            return status

        try:
            return await self.store.asubmit(job)
        except StoreError as exc:
            log.error("the webhook intake cannot write to the store: %s", exc)
            raise WebhookRejected("the store cannot take the delivery now", status=503) from exc

    # -- consuming ----------------------------------------------------------------
    async def next_batch(self, limit: int = 50) -> list[QueuedEvent]:
        """Claim up to ``limit`` events, oldest first: never claimed, or claimed more than
        ``reclaim_after`` ago and still not done."""
        now = self._now()
        stale = self._now(-self.reclaim_after.total_seconds())

        def job(db: sqlite3.Connection) -> list[sqlite3.Row]:
            rows = db.execute(
                "SELECT id, delivery, event_type, kind, repository, number, received_at, attempts,"
                " length(payload_json) AS size FROM event_queue"
                " WHERE done_at IS NULL AND (claimed_at IS NULL OR claimed_at <= ?) ORDER BY id LIMIT ?",
                (stale, max(0, limit)),
            ).fetchall()
            db.executemany(
                "UPDATE event_queue SET claimed_at = ?, attempts = attempts + 1 WHERE id = ?",
                [(now, row["id"]) for row in rows],
            )
            return rows

        rows = await self.store.asubmit(job)
        return [
            QueuedEvent(
                id=row["id"],
                delivery=row["delivery"],
                event_type=row["event_type"],
                kind=row["kind"],
                repository=row["repository"],
                number=row["number"],
                received_at=row["received_at"],
                claimed_at=now,
                attempts=row["attempts"] + 1,
                read_payload=functools.partial(self._payload_json, int(row["id"])),
                size=int(row["size"] or 0),
            )
            for row in rows
        ]

    def _payload_json(self, event_id: int) -> str:
        rows = self.store.query("SELECT payload_json FROM event_queue WHERE id = ?", (event_id,))
        if not rows:
            raise StoreError(f"queued event {event_id} is no longer in the store")
        return str(rows[0][0])

    async def mark_done(self, ids: Iterable[int]) -> int:
        """Mark claimed events done; returns how many were not done before."""
        done = self._now()
        wanted = [(done, int(i)) for i in ids]

        def job(db: sqlite3.Connection) -> int:
            cursor = db.executemany("UPDATE event_queue SET done_at = ? WHERE id = ? AND done_at IS NULL", wanted)
            return max(cursor.rowcount, 0)

        return await self.store.asubmit(job) if wanted else 0

    def unclaimed(self, repos: Iterable[str]) -> bool:
        """Whether an event for one of ``repos`` is queued and not claimed yet (one query on the pending index)."""
        rows = self.store.query(
            "SELECT DISTINCT repository FROM event_queue WHERE done_at IS NULL AND claimed_at IS NULL"
        )
        return not set(repos).isdisjoint(row[0] for row in rows)

    def depth(self) -> int:
        """Events queued and not yet done."""
        return int(self.store.query("SELECT count(*) FROM event_queue WHERE done_at IS NULL")[0][0])

    async def prune(self, older_than: timedelta) -> int:
        """Forget done events and delivery ids received more than ``older_than`` ago (a redelivery of
        such an old delivery would then be queued again; the sweep makes that harmless)."""
        cutoff = self._now(-older_than.total_seconds())

        def job(db: sqlite3.Connection) -> int:
            events = db.execute("DELETE FROM event_queue WHERE done_at IS NOT NULL AND received_at < ?", (cutoff,))
            deliveries = db.execute(
                "DELETE FROM webhook_deliveries WHERE received_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM event_queue q WHERE q.delivery = webhook_deliveries.delivery)",
                (cutoff,),
            )
            return int(events.rowcount) + int(deliveries.rowcount)

        return await self.store.asubmit(job)


def _cut_strings(value: Any, limit: int) -> None:
    """Cut, in place, every string of a decoded JSON value to its first ``limit`` characters (iteratively:
    the nesting is as deep as the sender made it)."""
    stack = [value]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, item in items:
            if isinstance(item, str):
                if len(item) > limit:
                    node[key] = item[:limit]
            elif isinstance(item, dict | list):
                stack.append(item)


def _stored_json(payload: dict[str, Any]) -> str:
    """The payload as ASCII JSON (lone surrogates escaped, so SQLite can always store it), every string cut to
    ``STORED_STRING_CHARS``: an issue body of megabytes is the forge's to keep, not the queue's (nothing reads
    more than the numbers and names from a queued event; the handler reads the issue from the forge)."""
    _cut_strings(payload, STORED_STRING_CHARS)
    try:
        return json.dumps(payload, separators=(",", ":"))
    except (ValueError, RecursionError):  # pragma: no cover - json.loads made it, so dumps does too
        raise WebhookRejected("the payload cannot be stored", status=400) from None
