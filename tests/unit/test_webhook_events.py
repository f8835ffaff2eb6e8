"""Gitea webhook payloads into typed events; the signature check; the event-type headers."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.errors import WebhookRejected
from uni_wizard.forge.events import (
    ForgeEvent,
    IssueCommentEvent,
    IssueEvent,
    PullRequestEvent,
    PushEvent,
    ReviewEvent,
    StatusEvent,
    UnknownEvent,
)
from uni_wizard.forge.webhooks import (
    delivery_of,
    event_type_of,
    parse_event,
    signature_of,
    verify_signature,
)

ROOT = Path(__file__).resolve().parents[2]
WEBHOOKS = ROOT / "tests" / "fixtures" / "gitea-webhooks"  # real Gitea deliveries, copied from the shared reference
HEADERS_CAPTURE = WEBHOOKS / "webhook-headers-gitea-1.24.3.json"
SECRET = b"hook-secret"

# file -> (X-Gitea-Event-Type, event class, action), from GITEA_FACTS §6
EXPECTED: dict[str, tuple[str, type[ForgeEvent], str]] = {
    "webhook-issues-opened.json": ("issues", IssueEvent, "opened"),
    "webhook-issue_comment-created.json": ("issue_comment", IssueCommentEvent, "created"),
    "webhook-pull_request-reopened.json": ("pull_request", PullRequestEvent, "reopened"),
    "webhook-pull_request-closed-merged.json": ("pull_request", PullRequestEvent, "closed"),
    "webhook-pull_request-label_updated.json": ("pull_request_label", PullRequestEvent, "label_updated"),
    "webhook-pull_request_approved.json": ("pull_request_review_approved", ReviewEvent, "reviewed"),
    "webhook-pull_request_rejected.json": ("pull_request_review_rejected", ReviewEvent, "reviewed"),
}


def body_of(name: str) -> bytes:
    return (WEBHOOKS / name).read_bytes()


def payload_of(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body_of(name))
    return loaded


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


# -- the saved payloads -------------------------------------------------------------


def test_every_saved_payload_is_covered() -> None:
    saved = {p.name for p in WEBHOOKS.glob("webhook-*.json")} - {HEADERS_CAPTURE.name}
    assert saved == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_saved_payload_parses_into_its_typed_event(name: str) -> None:
    event_type, cls, action = EXPECTED[name]
    event = parse_event(event_type, body_of(name), delivery="0f1e2d3c")
    assert type(event) is cls
    assert isinstance(event, ForgeEvent)
    assert event.event_type == event_type
    assert event.action == action
    assert event.delivery == "0f1e2d3c"
    assert event.repository == payload_of(name)["repository"]["full_name"]
    assert event.sender == payload_of(name)["sender"]["login"]


def test_issue_opened() -> None:
    event = parse_event("issues", body_of("webhook-issues-opened.json"))
    assert isinstance(event, IssueEvent)
    assert event.kind == "issue"
    assert (event.number, event.title, event.state) == (3, "Test issue", "open")
    assert event.repository == "kostekIV/test"
    assert event.labels == () and event.assignees == ()  # "assignees": null in the 2019 payload
    assert event.updated_at is not None and event.updated_at.isoformat() == "2019-11-17T23:45:03+00:00"
    assert event.sender == "kostekIV"


def test_issue_comment_created() -> None:
    event = parse_event("issue_comment", body_of("webhook-issue_comment-created.json"))
    assert isinstance(event, IssueCommentEvent)
    assert (event.number, event.is_pull) == (3, False)
    assert (event.comment_id, event.comment_body, event.comment_user) == (24400, "test comment", "kostekIV")


def test_comment_on_a_pull_request_is_pull() -> None:
    event = parse_event("pull_request_comment", body_of("webhook-issue_comment-created.json"))
    assert isinstance(event, IssueCommentEvent) and event.is_pull


def test_pull_request_reopened() -> None:
    event = parse_event("pull_request", body_of("webhook-pull_request-reopened.json"))
    assert isinstance(event, PullRequestEvent)
    assert (event.number, event.state, event.merged) == (1, "open", False)
    assert event.head_sha == "36b5813240a9d2daa29b05046d56a53e18f39a3e"
    assert (event.head_ref, event.base_ref) == ("6543-patch-1", "main")
    assert event.updated_at is not None and event.updated_at.utcoffset() is not None  # "+02:00" kept


def test_pull_request_closed_and_merged() -> None:
    event = parse_event("pull_request", body_of("webhook-pull_request-closed-merged.json"))
    assert isinstance(event, PullRequestEvent)
    assert (event.action, event.state, event.merged) == ("closed", "closed", True)
    assert event.head_sha == "d555a5dd07f4d0148a58d4686ec381502ae6a2d4"


def test_pull_request_label_updated() -> None:
    event = parse_event("pull_request_label", body_of("webhook-pull_request-label_updated.json"))
    assert isinstance(event, PullRequestEvent)
    assert event.event_type == "pull_request_label"
    assert event.labels == ("bug", "help wanted")
    assert event.merged is False  # "merged" is absent from this payload


@pytest.mark.parametrize(
    ("name", "event_type", "verdict", "content"),
    [
        ("webhook-pull_request_approved.json", "pull_request_review_approved", "approved", "juhu thats a great idea"),
        ("webhook-pull_request_rejected.json", "pull_request_review_rejected", "rejected", "I decided otherwhies :O"),
    ],
)
def test_reviews(name: str, event_type: str, verdict: str, content: str) -> None:
    event = parse_event(event_type, body_of(name))
    assert isinstance(event, ReviewEvent)
    assert event.kind == "review"
    assert (event.number, event.verdict, event.review_type, event.content) == (7, verdict, event_type, content)
    assert event.reviewer == "a_nice_user" == event.sender
    assert event.commit_id is None  # the payload's commit_id is ""
    assert event.head_sha == "07977177c2cd7d46bad37b8472a9d50e7acb9d1f"


def test_review_commit_id_when_present() -> None:
    payload = payload_of("webhook-pull_request_approved.json") | {"commit_id": "07977177c2"}
    event = parse_event("pull_request_review_approved", json.dumps(payload).encode())
    assert isinstance(event, ReviewEvent) and event.commit_id == "07977177c2"


def test_review_comment_without_a_review_object() -> None:
    payload = payload_of("webhook-pull_request_approved.json")
    del payload["review"]
    event = parse_event("pull_request_review_comment", json.dumps(payload).encode())
    assert isinstance(event, ReviewEvent)
    assert (event.verdict, event.review_type, event.content) == ("comment", "pull_request_review_comment", "")


def test_every_pull_request_event_type_parses() -> None:
    body = body_of("webhook-pull_request-reopened.json")
    for event_type in PullRequestEvent.event_types:
        assert type(parse_event(event_type, body)) is PullRequestEvent
    for event_type in IssueEvent.event_types:
        assert type(parse_event(event_type, body_of("webhook-issues-opened.json"))) is IssueEvent


def test_status_event() -> None:
    payload = {
        "id": 12,
        "sha": "36b5813240a9d2daa29b05046d56a53e18f39a3e",
        "context": "ci/tests",
        "state": "success",
        "description": "all green",
        "target_url": "https://ci.example/1",
        "repository": {"id": 1, "full_name": "mesh/app"},
        "sender": {"login": "ci-bot"},
    }
    event = parse_event("status", json.dumps(payload).encode())
    assert isinstance(event, StatusEvent)
    assert (event.sha, event.context, event.state, event.action) == (payload["sha"], "ci/tests", "success", None)
    assert not hasattr(event, "number")


def test_push_event() -> None:
    payload = {
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": "b" * 40,
        "commits": [{"id": "b" * 40}, {"id": "c" * 40}],
        "total_commits": 2,
        "repository": {"full_name": "mesh/app"},
        "pusher": {"login": "timmy"},
        "sender": {"login": "timmy"},
    }
    event = parse_event("push", json.dumps(payload).encode())
    assert isinstance(event, PushEvent)
    assert (event.ref, event.before, event.after, event.commits, event.pusher) == (
        "refs/heads/main",
        "a" * 40,
        "b" * 40,
        2,
        "timmy",
    )
    del payload["total_commits"]
    counted = parse_event("push", json.dumps(payload).encode())
    assert isinstance(counted, PushEvent) and counted.commits == 2


def test_unknown_event_type() -> None:
    event = parse_event("release", json.dumps({"action": "published", "repository": {"full_name": "o/r"}}).encode())
    assert isinstance(event, UnknownEvent)
    assert (event.kind, event.event_type, event.action, event.repository) == ("unknown", "release", "published", "o/r")
    odd = parse_event("wiki", b'{"action": 5, "repository": []}')
    assert isinstance(odd, UnknownEvent) and odd.action is None and odd.repository is None


@pytest.mark.parametrize(
    ("event_type", "body"),
    [
        ("issues", b"not json"),
        ("issues", b""),
        ("issues", b"[1, 2]"),
        ("issues", b'"a string"'),
        ("issues", b"\xff\xfe\x00garbage"),
        ("release", b"null"),  # unknown types still need a JSON object
        ("issues", b'{"action": "opened"}'),  # no issue, no repository
        ("issues", b'{"issue": 5, "repository": {"full_name": "o/r"}}'),
        ("issues", b'{"issue": {"number": "x"}, "repository": {"full_name": "o/r"}}'),
        ("issues", b'{"issue": {"number": -1}, "repository": {"full_name": "o/r"}}'),
        ("issues", b'{"issue": {"number": 99999999999999999999999}, "repository": {"full_name": "o/r"}}'),
        ("issues", b'{"issue": {"number": 1}, "repository": {"full_name": ""}}'),
        ("issues", b'{"issue": {"number": 1}, "repository": {"full_name": "\\ud800"}}'),
        ("issue_comment", b'{"issue": {"number": 1}, "repository": {"full_name": "o/r"}}'),  # no comment
        ("pull_request", b'{"number": 1, "repository": {"full_name": "o/r"}}'),  # no pull_request
        ("pull_request", b'{"pull_request": {"number": 1, "merged": "perhaps"}, "repository": {"full_name": "o/r"}}'),
        ("status", b'{"sha": "", "state": "success", "repository": {"full_name": "o/r"}}'),
        ("push", b'{"ref": "refs/heads/main", "repository": {"full_name": "o/r"}}'),  # no after
        ("issues", b"[" * 100_000 + b"]" * 100_000),  # nesting beyond the recursion limit
    ],
)
def test_malformed_payloads_are_rejected(event_type: str, body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse_event(event_type, body)
    assert caught.value.status == 400


# -- the signature --------------------------------------------------------------------


def test_right_signature_passes() -> None:
    body = body_of("webhook-issues-opened.json")
    verify_signature(SECRET, body, sign(body))
    verify_signature(SECRET, body, sign(body).upper())  # hex is hex


@pytest.mark.parametrize(
    "signature",
    [None, "", "   ", "0" * 64, "not-hex", "é" * 64, "sha256=" + "0" * 64],
)
def test_wrong_or_missing_signature_is_rejected(signature: str | None) -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify_signature(SECRET, b"{}", signature)
    assert caught.value.status == 401


def test_signature_of_another_secret_is_rejected() -> None:
    body = body_of("webhook-issues-opened.json")
    with pytest.raises(WebhookRejected):
        verify_signature(SECRET, body, sign(body, b"another-secret"))


def test_body_altered_by_one_byte_is_rejected() -> None:
    body = body_of("webhook-issues-opened.json")
    signature = sign(body)
    for index in (0, len(body) // 2, len(body) - 1):
        altered = bytearray(body)
        altered[index] ^= 0x01
        with pytest.raises(WebhookRejected):
            verify_signature(SECRET, bytes(altered), signature)
    with pytest.raises(WebhookRejected):
        verify_signature(SECRET, body + b" ", signature)


def test_no_secret_means_nothing_verifies() -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify_signature(b"", b"{}", sign(b"{}", b""))
    assert caught.value.status == 503


# -- the headers ------------------------------------------------------------------------


def test_headers_of_the_capture_resolve_to_their_event() -> None:
    """The 1.24.3 capture: each delivery's headers and action give the right typed event."""
    deliveries = json.loads(HEADERS_CAPTURE.read_text())["deliveries"]
    assert deliveries
    for delivery in deliveries:
        headers = {k: v for k, v in delivery.items() if k.startswith("x-")}
        event_type = event_type_of(headers)
        assert event_type is not None and event_type == headers["x-gitea-event-type"]
        action = delivery["action"]
        if event_type == "pull_request_comment":
            payload = payload_of("webhook-issue_comment-created.json") | {"is_pull": True}
            expected: type[ForgeEvent] = IssueCommentEvent
        else:
            payload = payload_of("webhook-pull_request-reopened.json")
            expected = PullRequestEvent
        event = parse_event(event_type, json.dumps(payload | {"action": action}).encode())
        assert type(event) is expected
        assert event.action == action


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Gitea-Event-Type": "pull_request_sync", "X-Gitea-Event": "pull_request"}, "pull_request_sync"),
        ({"x-gitea-event-type": "issue_label"}, "issue_label"),
        ({"X-Gitea-Event": "issues"}, "issues"),
        ({"X-Gitea-Event": "pull_request_approved"}, "pull_request_review_approved"),
        ({"X-Gitea-Event": "pull_request_rejected"}, "pull_request_review_rejected"),
        ({"X-Gitea-Event": "pull_request_comment"}, "pull_request_review_comment"),
        ({"X-Gogs-Event-Type": "push"}, "push"),
        ({"X-GitHub-Event": "issue_comment"}, "issue_comment"),
        ({"X-Gitea-Event-Type": "  ", "X-Gitea-Event": "status"}, "status"),
        ({"Content-Type": "application/json"}, None),
        ({}, None),
    ],
)
def test_event_type_header_and_fallbacks(headers: dict[str, str], expected: str | None) -> None:
    assert event_type_of(headers) == expected


def test_delivery_and_signature_headers() -> None:
    assert delivery_of({"X-Gitea-Delivery": " 3f2a "}) == "3f2a"
    assert delivery_of({"X-GitHub-Delivery": "gh"}) == "gh"
    assert delivery_of({"X-Gitea-Delivery": ""}) is None
    assert signature_of({"X-Gitea-Signature": "abc", "X-Hub-Signature-256": "sha256=def"}) == "abc"
    assert signature_of({"X-Hub-Signature-256": "sha256=def"}) == "def"
    assert signature_of({"X-Gitea-Signature": ""}) == ""  # sent empty when the hook has no secret
    assert signature_of({}) is None
