"""Gitea webhook deliveries: the signature check, the headers, and the payload as a typed event.

    verify_signature(secret, body, headers["X-Gitea-Signature"])   # raises WebhookRejected
    event = parse_event(event_type_of(headers), body)               # IssueEvent, ..., or UnknownEvent

Gitea signs the raw JSON with ``hex(HMAC-SHA256(secret, body))`` and no
``sha256=`` prefix; without a secret it still sends the header, empty
(GITEA_FACTS §6). Every failure here is a ``WebhookRejected`` whose ``status``
is the HTTP answer: 401 for the signature, 400 for the headers and the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import WebhookRejected
from .events import ForgeEvent, UnknownEvent, from_payload

__all__ = [
    "check_delivery",
    "check_event_type",
    "decode_payload",
    "delivery_of",
    "event_from_payload",
    "event_type_of",
    "lower_headers",
    "parse_event",
    "signature_of",
    "verify_signature",
]

MAX_DELIVERY_LENGTH = 128
MAX_EVENT_TYPE_LENGTH = 100

# X-Gitea-Event (and its X-GitHub-Event copy) names review events differently from X-Gitea-Event-Type.
_EVENT_TO_EVENT_TYPE = {
    "pull_request_approved": "pull_request_review_approved",
    "pull_request_rejected": "pull_request_review_rejected",
    "pull_request_comment": "pull_request_review_comment",
}
_EVENT_TYPE_HEADERS = ("x-gitea-event-type", "x-gogs-event-type", "x-forgejo-event-type", "x-github-event-type")
_EVENT_HEADERS = ("x-gitea-event", "x-gogs-event", "x-forgejo-event", "x-github-event")
_DELIVERY_HEADERS = ("x-gitea-delivery", "x-gogs-delivery", "x-forgejo-delivery", "x-github-delivery")
_SIGNATURE_HEADERS = ("x-gitea-signature", "x-gogs-signature", "x-forgejo-signature")


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with lower-case names; of repeated names the first wins."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        lowered.setdefault(name.lower(), value)
    return lowered


def verify_signature(secret: bytes, body: bytes, signature: str | None) -> None:
    """Raise ``WebhookRejected`` (401) unless ``signature`` is the hex HMAC-SHA256 of ``body`` under
    ``secret``. A missing or empty signature is refused; the comparison is constant-time."""
    if not secret:
        raise WebhookRejected("no webhook secret is configured", status=503)
    if not signature:
        raise WebhookRejected("the delivery is not signed (X-Gitea-Signature is missing or empty)", status=401)
    given = signature.strip().lower()
    if not given.isascii():
        raise WebhookRejected("the signature does not match", status=401)
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise WebhookRejected("the signature does not match", status=401)


def signature_of(headers: Mapping[str, str]) -> str | None:
    """``X-Gitea-Signature`` (or its Gogs/Forgejo copy, or ``X-Hub-Signature-256`` without ``sha256=``)."""
    lowered = lower_headers(headers)
    for name in _SIGNATURE_HEADERS:
        if name in lowered:
            return lowered[name]
    hub = lowered.get("x-hub-signature-256")
    if hub is not None:
        return hub.removeprefix("sha256=")
    return None


def event_type_of(headers: Mapping[str, str]) -> str | None:
    """The event type: ``X-Gitea-Event-Type`` (or a copy), else ``X-Gitea-Event`` (or a copy) with the
    review events renamed to their event types; None when no header names one."""
    lowered = lower_headers(headers)
    for name in _EVENT_TYPE_HEADERS:
        value = lowered.get(name, "").strip()
        if value:
            return value
    for name in _EVENT_HEADERS:
        value = lowered.get(name, "").strip()
        if value:
            return _EVENT_TO_EVENT_TYPE.get(value, value)
    return None


def delivery_of(headers: Mapping[str, str]) -> str | None:
    """``X-Gitea-Delivery`` (or a copy), stripped; None when absent or empty."""
    lowered = lower_headers(headers)
    for name in _DELIVERY_HEADERS:
        value = lowered.get(name, "").strip()
        if value:
            return value
    return None


def _printable_ascii(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and value.isascii() and value.isprintable()


def check_event_type(event_type: str | None) -> str:
    """The event type, or ``WebhookRejected`` (400) when it is missing or not a short ASCII word."""
    if event_type is None:
        raise WebhookRejected("no event type: X-Gitea-Event-Type (or X-Gitea-Event) is missing", status=400)
    if not _printable_ascii(event_type, MAX_EVENT_TYPE_LENGTH):
        raise WebhookRejected("the event type header is malformed", status=400)
    return event_type


def check_delivery(delivery: str | None) -> str:
    """The delivery id, or ``WebhookRejected`` (400) when it is missing or malformed."""
    if delivery is None:
        raise WebhookRejected("no delivery id: X-Gitea-Delivery is missing", status=400)
    if not _printable_ascii(delivery, MAX_DELIVERY_LENGTH):
        raise WebhookRejected("the delivery id is malformed", status=400)
    return delivery


def decode_payload(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``; ``WebhookRejected`` (400) for anything else."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits, nesting
        raise WebhookRejected(f"the body is not JSON: {type(exc).__name__}", status=400) from None
    if not isinstance(payload, dict):
        raise WebhookRejected(f"the payload is a JSON {type(payload).__name__}, not an object", status=400)
    return payload


def parse_event(event_type: str, body: bytes, *, delivery: str | None = None) -> ForgeEvent | UnknownEvent:
    """The typed event for a delivery of ``event_type``; ``UnknownEvent`` for a type uni-wizard does not
    act on. Raises ``WebhookRejected`` (400) for a body that is not a JSON object, or a payload that
    lacks what its event needs (the repository, the issue or PR and its number, ...)."""
    return event_from_payload(event_type, decode_payload(body), delivery=delivery)


def event_from_payload(
    event_type: str, payload: dict[str, Any], *, delivery: str | None = None
) -> ForgeEvent | UnknownEvent:
    """``parse_event`` for a payload already decoded by ``decode_payload``."""
    try:
        return from_payload(event_type, payload, delivery=delivery)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.error_count() else {"loc": (), "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise WebhookRejected(f"the {event_type} payload is invalid at {where}: {first['msg']}", status=400) from None
