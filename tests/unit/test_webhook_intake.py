"""POST /hooks/gitea through ``TestClient``, and the intake queue underneath it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.parse
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from uni_wizard.config import Settings
from uni_wizard.errors import ConfigError, WebhookRejected
from uni_wizard.forge.events import IssueEvent, ReviewEvent
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.queue import WebhookIntake
from uni_wizard.store import MIGRATIONS, Store
from uni_wizard.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

SECRET = "hook-secret"
WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "gitea-webhooks"  # real Gitea deliveries
ISSUE_OPENED = (WEBHOOKS / "webhook-issues-opened.json").read_bytes()
APPROVED = (WEBHOOKS / "webhook-pull_request_approved.json").read_bytes()


def make_runtime(data_dir: Path) -> Runtime:
    settings = Settings(data_dir=data_dir, workspace=data_dir / "ws", host="test-host")
    return Runtime(settings, metrics_registry=CollectorRegistry())


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "data")
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, webhook_secret=SECRET)) as c:
        yield c


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(body: bytes, event_type: str = "issues", delivery: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitea-Delivery": delivery or str(uuid.uuid4()),
        "X-Gitea-Event": event_type,
        "X-Gitea-Event-Type": event_type,
        "X-Gitea-Signature": sign(body),
        **extra,
    }


def queued(store: Store) -> list[dict[str, Any]]:
    return [dict(row) for row in store.query("SELECT * FROM event_queue ORDER BY id")]


def deliveries(store: Store) -> list[dict[str, Any]]:
    return [dict(row) for row in store.query("SELECT * FROM webhook_deliveries ORDER BY delivery")]


def samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = client.get("/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def delivered(client: TestClient, event_type: str, outcome: str) -> float:
    key = (("event_type", event_type), ("outcome", outcome))
    return samples(client, "uniwizard_webhooks_received_total").get(key, 0.0)


# -- the endpoint --------------------------------------------------------------------


def test_accepted_delivery_is_queued(client: TestClient, runtime: Runtime) -> None:
    sent = headers(ISSUE_OPENED, delivery="d-accepted")
    response = client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "delivery": "d-accepted"}
    [row] = queued(runtime.store)
    assert (row["delivery"], row["event_type"], row["kind"], row["repository"], row["number"]) == (
        "d-accepted",
        "issues",
        "issue",
        "kostekIV/test",
        3,
    )
    assert row["claimed_at"] is None and row["done_at"] is None
    assert json.loads(row["payload_json"]) == json.loads(ISSUE_OPENED)
    assert deliveries(runtime.store)[0]["status"] == "accepted"
    assert delivered(client, "issues", "accepted") == 1


@pytest.mark.parametrize(
    "signature",
    [None, "", sign(ISSUE_OPENED, "another-secret"), sign(ISSUE_OPENED + b" "), "zz"],
)
def test_bad_signature_is_401_and_nothing_is_queued(
    client: TestClient, runtime: Runtime, signature: str | None
) -> None:
    sent = headers(ISSUE_OPENED)
    if signature is None:
        del sent["X-Gitea-Signature"]
    else:
        sent["X-Gitea-Signature"] = signature
    response = client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent)
    assert response.status_code == 401
    assert queued(runtime.store) == [] and deliveries(runtime.store) == []
    assert delivered(client, "issues", "rejected") == 1


def test_duplicate_delivery_is_not_queued_twice(client: TestClient, runtime: Runtime) -> None:
    sent = headers(ISSUE_OPENED, delivery="d-dup")
    assert client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent).json()["status"] == "accepted"
    again = client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert len(queued(runtime.store)) == 1
    assert delivered(client, "issues", "duplicate") == 1


def test_duplicate_after_a_restart(tmp_path: Path) -> None:
    sent = headers(ISSUE_OPENED, delivery="d-restart")
    first = make_runtime(tmp_path / "data")
    with TestClient(create_app(first, webhook_secret=SECRET)) as c:
        assert c.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent).json()["status"] == "accepted"
    first.close()

    second = make_runtime(tmp_path / "data")  # a new process: new store object, new app, new intake
    try:
        with TestClient(create_app(second, webhook_secret=SECRET)) as c:
            response = c.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent)
            assert response.json() == {"status": "duplicate"}
            other = c.post("/hooks/gitea", content=ISSUE_OPENED, headers=headers(ISSUE_OPENED, delivery="d-new"))
            assert other.json()["status"] == "accepted"
        assert [row["delivery"] for row in queued(second.store)] == ["d-restart", "d-new"]
    finally:
        second.close()


def test_unknown_event_type_is_ignored_and_counted(client: TestClient, runtime: Runtime) -> None:
    body = json.dumps({"action": "published", "repository": {"full_name": "o/r"}}).encode()
    response = client.post("/hooks/gitea", content=body, headers=headers(body, "release", delivery="d-release"))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert queued(runtime.store) == []
    assert deliveries(runtime.store)[0]["status"] == "ignored"
    assert delivered(client, "other", "ignored") == 1  # the label is bounded: unknown types are "other"
    again = client.post("/hooks/gitea", content=body, headers=headers(body, "release", delivery="d-release"))
    assert again.json() == {"status": "duplicate"}


def test_oversized_body_is_413(runtime: Runtime) -> None:
    intake = WebhookIntake(runtime.store, SECRET, runtime.metrics.registry, max_body=1024)
    big = b'{"pad": "' + b"x" * 2048 + b'"}'
    with pytest.raises(WebhookRejected) as caught:
        asyncio.run(intake.receive(headers(big), big))
    assert caught.value.status == 413

    with TestClient(create_app(runtime, webhook_secret=SECRET)) as c:
        huge = b"x" * (5 * 1024 * 1024 + 1)
        response = c.post("/hooks/gitea", content=huge, headers=headers(huge))
        assert response.status_code == 413
        assert queued(runtime.store) == []


def test_oversized_stream_without_content_length_is_413(runtime: Runtime) -> None:
    intake = WebhookIntake(runtime.store, SECRET, runtime.metrics.registry, max_body=1000)

    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 300

    status, body = asyncio.run(intake.handle({"X-Gitea-Event-Type": "issues"}, chunks()))
    assert status == 413 and "exceeds" in body["detail"]


def test_no_secret_is_503(runtime: Runtime) -> None:
    for secret in (None, ""):
        with TestClient(create_app(runtime, webhook_secret=secret)) as c:
            response = c.post("/hooks/gitea", content=ISSUE_OPENED, headers=headers(ISSUE_OPENED))
            assert response.status_code == 503
            assert response.json()["detail"] == "webhook intake is off: set webhook_secret"
    assert queued(runtime.store) == []


@pytest.mark.parametrize(
    ("body", "event_type"),
    [
        (b"not json", "issues"),
        (b"[]", "issues"),
        (b'{"issue": 5, "repository": {"full_name": "o/r"}}', "issues"),
        (b'{"action": "opened"}', "issues"),
        (b"\x00\xff", "release"),
    ],
)
def test_malformed_body_is_400(client: TestClient, runtime: Runtime, body: bytes, event_type: str) -> None:
    response = client.post("/hooks/gitea", content=body, headers=headers(body, event_type))
    assert response.status_code == 400
    assert queued(runtime.store) == [] and deliveries(runtime.store) == []


def test_missing_event_type_is_400_and_fallbacks_work(client: TestClient, runtime: Runtime) -> None:
    sent = headers(ISSUE_OPENED)
    del sent["X-Gitea-Event-Type"], sent["X-Gitea-Event"]
    assert client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent).status_code == 400
    assert delivered(client, "other", "rejected") == 1

    sent = headers(APPROVED, "pull_request_approved", delivery="d-old-gitea")
    del sent["X-Gitea-Event-Type"]  # X-Gitea-Event: pull_request_approved → pull_request_review_approved
    response = client.post("/hooks/gitea", content=APPROVED, headers=sent)
    assert response.json()["status"] == "accepted"
    assert queued(runtime.store)[0]["event_type"] == "pull_request_review_approved"

    sent = headers(ISSUE_OPENED, delivery="d-github-copy")
    del sent["X-Gitea-Event-Type"], sent["X-Gitea-Event"]
    sent["X-GitHub-Event"] = "issues"
    assert client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent).json()["status"] == "accepted"


def test_missing_delivery_id_is_400(client: TestClient, runtime: Runtime) -> None:
    sent = headers(ISSUE_OPENED)
    del sent["X-Gitea-Delivery"]
    assert client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent).status_code == 400
    sent["X-Gitea-Delivery"] = "x" * 500
    assert client.post("/hooks/gitea", content=ISSUE_OPENED, headers=sent).status_code == 400
    assert queued(runtime.store) == []


def test_form_delivery_is_verified_over_its_json(client: TestClient, runtime: Runtime) -> None:
    form = urllib.parse.urlencode({"payload": ISSUE_OPENED.decode()}).encode()
    sent = headers(ISSUE_OPENED, delivery="d-form") | {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/hooks/gitea", content=form, headers=sent)
    assert response.json() == {"status": "accepted", "delivery": "d-form"}
    sent = headers(form) | {"Content-Type": "application/x-www-form-urlencoded"}  # signed over the form: wrong
    assert client.post("/hooks/gitea", content=form, headers=sent).status_code == 401


def test_metrics_count_outcomes_and_read_the_queue_depth(client: TestClient, runtime: Runtime) -> None:
    assert samples(client, "uniwizard_webhook_queue_depth") == {(): 0.0}
    for delivery in ("m1", "m2", "m2"):
        client.post("/hooks/gitea", content=ISSUE_OPENED, headers=headers(ISSUE_OPENED, delivery=delivery))
    client.post("/hooks/gitea", content=APPROVED, headers=headers(APPROVED, "pull_request_review_approved"))
    client.post("/hooks/gitea", content=b"{}", headers=headers(b"{}", "weird type \x7f"))
    client.post("/hooks/gitea", content=ISSUE_OPENED, headers={"X-Gitea-Event-Type": "issues"})
    assert delivered(client, "issues", "accepted") == 2
    assert delivered(client, "issues", "duplicate") == 1
    assert delivered(client, "issues", "rejected") == 1
    assert delivered(client, "pull_request_review_approved", "accepted") == 1
    assert delivered(client, "other", "rejected") == 1
    assert {label for key in samples(client, "uniwizard_webhooks_received_total") for _, label in key} <= {
        "issues",
        "pull_request_review_approved",
        "other",
        "accepted",
        "duplicate",
        "ignored",
        "rejected",
    }
    assert samples(client, "uniwizard_webhook_queue_depth") == {(): 3.0}


def test_existing_endpoints_still_work(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.post("/api/v1/execute", json={"house": "timmy", "tool": "x"}).status_code == 503


def test_two_apps_on_one_registry(runtime: Runtime) -> None:
    create_app(runtime, webhook_secret=SECRET)
    with TestClient(create_app(runtime, webhook_secret=SECRET)) as c:  # the metrics register once
        assert c.post("/hooks/gitea", content=ISSUE_OPENED, headers=headers(ISSUE_OPENED)).status_code == 200
        assert samples(c, "uniwizard_webhook_queue_depth") == {(): 1.0}


# -- the queue -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_claim_done_and_reclaim(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db")
    clock = Clock()
    intake = WebhookIntake(store, SECRET, CollectorRegistry(), reclaim_after=timedelta(minutes=5), clock=clock)
    try:
        for delivery in ("a", "b", "c"):
            result = await intake.receive(headers(ISSUE_OPENED, delivery=delivery), ISSUE_OPENED)
            assert result.outcome == "accepted" and result.delivery == delivery and result.event_type == "issues"
        await intake.receive(headers(APPROVED, "pull_request_review_approved", delivery="d"), APPROVED)
        assert intake.depth() == 4

        first = await intake.next_batch(2)
        assert [e.delivery for e in first] == ["a", "b"]
        assert all(e.attempts == 1 and e.claimed_at is not None for e in first)
        event = first[0].event()
        assert isinstance(event, IssueEvent) and event.number == 3 and event.delivery == "a"
        second = await intake.next_batch(10)
        assert [e.delivery for e in second] == ["c", "d"]  # claimed ones are not handed out again
        assert isinstance(second[1].event(), ReviewEvent)
        assert await intake.next_batch(10) == []

        assert await intake.mark_done([first[0].id, second[0].id]) == 2
        assert await intake.mark_done([first[0].id]) == 0  # already done
        assert await intake.mark_done([]) == 0
        assert intake.depth() == 2

        clock.now += 301  # the claims on "b" and "d" time out: they are handed out again
        again = await intake.next_batch(10)
        assert [(e.delivery, e.attempts) for e in again] == [("b", 2), ("d", 2)]
        assert await intake.mark_done(e.id for e in again) == 2
        assert intake.depth() == 0

        clock.now += 86400 * 30
        assert await intake.prune(timedelta(days=7)) == 8  # 4 done events and their 4 delivery ids
        assert store.query("SELECT count(*) FROM event_queue")[0][0] == 0
    finally:
        store.close()


def test_migration_is_appended(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 2
        names = {row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"webhook_deliveries", "event_queue"} <= names
    finally:
        store.close()


def test_empty_secret_is_a_config_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        with pytest.raises(ConfigError):
            WebhookIntake(store, b"", CollectorRegistry())
    finally:
        store.close()


def test_settings_read_the_webhook_secret_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text("from-file\n")
    settings = Settings(data_dir=tmp_path, webhook_secret_file=secret_file)
    assert settings.secret("webhook_secret") == "from-file"
    assert "from-env" not in repr(Settings(data_dir=tmp_path, webhook_secret="from-env"))
