"""Fuzzing POST /hooks/gitea: whatever arrives, the answer is 200, 400, 401 or 413, never a 500.

Bodies are signed with the test secret when the test wants the parser reached,
so the random input gets past the signature check and into the JSON decoder
and the payload models.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from uni_wizard.config import Settings
from uni_wizard.errors import WebhookRejected
from uni_wizard.forge.events import ForgeEvent, UnknownEvent
from uni_wizard.forge.webhooks import parse_event
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.queue import KNOWN_EVENT_TYPES, MAX_BODY_BYTES
from uni_wizard.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

SECRET = b"fuzz-secret"
WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "gitea-webhooks"  # real Gitea deliveries
PAYLOADS = {p.name: p.read_bytes() for p in sorted(WEBHOOKS.glob("webhook-*.json")) if "headers" not in p.name}
EVENT_TYPES = [*sorted(KNOWN_EVENT_TYPES), "release", "wiki", "create", "delete", "fork", "repository"]
KNOWN_KEYS = [
    "action", "number", "issue", "pull_request", "comment", "review", "repository", "sender", "is_pull",
    "commit_id", "full_name", "title", "state", "labels", "assignees", "updated_at", "merged", "head",
    "base", "sha", "ref", "id", "user", "login", "name", "body", "content", "type", "before", "after",
    "commits", "total_commits", "pusher", "context",
]  # fmt: skip
ALLOWED = {200, 400, 401, 413}
_deliveries = itertools.count()  # a fresh delivery id per example, so accepted events reach the queue


def fresh_delivery() -> str:
    return f"fuzz-{next(_deliveries)}"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
event_types = st.sampled_from(EVENT_TYPES) | st.text(max_size=30)


def _header_safe(value: bytes) -> bytes:
    return value.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"")


header_values = st.binary(max_size=60).map(_header_safe)
header_names = st.sampled_from(
    [
        "x-gitea-event",
        "x-gitea-event-type",
        "x-gitea-delivery",
        "x-gitea-signature",
        "x-gogs-event-type",
        "x-github-event",
        "x-hub-signature-256",
        "content-type",
    ]
) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("UNIWIZARD_")}
    data = tmp_path_factory.mktemp("fuzz")
    runtime = Runtime(Settings(data_dir=data, workspace=data / "ws", host="fuzz"), metrics_registry=CollectorRegistry())
    try:
        with TestClient(create_app(runtime, webhook_secret=SECRET.decode())) as c:
            yield c
    finally:
        runtime.close()
        os.environ.update(saved)


def sign(body: bytes) -> str:
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest()


def post(client: TestClient, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    response = client.post("/hooks/gitea", content=body, headers=headers)
    assert response.status_code in ALLOWED, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    return int(response.status_code)


def signed_headers(body: bytes, event_type: str, delivery: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"x-gitea-event-type", _header_safe(event_type.encode("utf-8", "surrogatepass"))),
        (b"x-gitea-delivery", delivery.encode()),
        (b"x-gitea-signature", sign(body).encode()),
    ]


def dict_nodes(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    """A real payload with a few known keys, anywhere in it, set to random JSON values or removed."""
    payload = copy.deepcopy(json.loads(PAYLOADS[draw(st.sampled_from(sorted(PAYLOADS)))]))
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(dict_nodes(payload)))
        key = draw(st.sampled_from(KNOWN_KEYS))
        if draw(st.booleans()):
            target[key] = draw(json_values)
        else:
            target.pop(key, None)
    return json.dumps(payload).encode()


# -- the parser alone -------------------------------------------------------------------


@FUZZ
@given(event_type=event_types, body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_parse_event_returns_an_event_or_rejects(event_type: str, body: bytes) -> None:
    try:
        event = parse_event(event_type, body)
    except WebhookRejected as rejected:
        assert rejected.status == 400
    else:
        assert isinstance(event, ForgeEvent | UnknownEvent)


@FUZZ
@given(event_type=st.sampled_from(sorted(KNOWN_EVENT_TYPES)), body=mutated_payloads())
def test_parse_event_on_mutated_payloads(event_type: str, body: bytes) -> None:
    try:
        event = parse_event(event_type, body)
    except WebhookRejected as rejected:
        assert rejected.status == 400
    else:
        assert isinstance(event, ForgeEvent)
        assert event.repository


# -- the endpoint ---------------------------------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=2000), event_type=event_types, signed=st.booleans())
def test_random_bytes(client: TestClient, body: bytes, event_type: str, signed: bool) -> None:
    headers = signed_headers(body, event_type, fresh_delivery())
    if not signed:
        headers[-1] = (b"x-gitea-signature", b"0" * 64)
    status = post(client, body, headers)
    if not signed:
        assert status == 401


@FUZZ
@given(value=json_values, event_type=event_types)
def test_random_json_signed(client: TestClient, value: Any, event_type: str) -> None:
    body = json.dumps(value).encode()
    assert post(client, body, signed_headers(body, event_type, fresh_delivery())) in {200, 400}


@FUZZ
@given(body=mutated_payloads(), event_type=st.sampled_from(EVENT_TYPES))
def test_mutated_real_payloads_signed(client: TestClient, body: bytes, event_type: str) -> None:
    assert post(client, body, signed_headers(body, event_type, fresh_delivery())) in {200, 400}


@FUZZ
@given(name=st.sampled_from(sorted(PAYLOADS)), cut=st.floats(0, 1), event_type=st.sampled_from(EVENT_TYPES))
def test_truncated_real_payloads(client: TestClient, name: str, cut: float, event_type: str) -> None:
    whole = PAYLOADS[name]
    body = whole[: int(len(whole) * cut)]
    status = post(client, body, signed_headers(body, event_type, fresh_delivery()))
    assert status == 400 or body.strip() == whole.strip()  # only the whole payload is still JSON


@settings(max_examples=12, deadline=None)
@given(extra=st.integers(-16, 16), signed=st.booleans())
def test_huge_bodies(client: TestClient, extra: int, signed: bool) -> None:
    body = b"{" + b" " * (MAX_BODY_BYTES + extra - 2) + b"}"
    headers = signed_headers(body, "issues", fresh_delivery())
    if not signed:
        headers.pop()
    status = post(client, body, headers)
    if len(body) > MAX_BODY_BYTES:
        assert status == 413
    else:
        assert status in ({400} if signed else {401})  # "{ ... }" is an empty object: no issue in it


@FUZZ
@given(
    random_headers=st.lists(st.tuples(header_names, header_values), max_size=8),
    body=st.binary(max_size=200) | mutated_payloads(),
    sign_it=st.booleans(),
)
def test_random_headers(
    client: TestClient, random_headers: list[tuple[str, bytes]], body: bytes, sign_it: bool
) -> None:
    headers = [(name.encode(), value) for name, value in random_headers]
    if sign_it:
        headers.insert(0, (b"x-gitea-signature", sign(body).encode()))
    post(client, body, headers)
