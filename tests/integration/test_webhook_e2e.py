"""Webhook delivery from the devforge to the daemon, end to end, over real loopback HTTP.

A devforge (``DevforgeServer``) and the daemon's app (``create_app`` on a private runtime, with a
webhook secret) are each served by uvicorn from a background thread on an ephemeral loopback port.
The mesh is bootstrapped only through ``GiteaClient``: users, a token, an organisation, a repository,
a collaborator, a label and a hook pointing at the daemon's ``/hooks/gitea``. Then forge activity
must end up, parsed and in order, in the daemon's durable event queue.

Waits are bounded polls (``POLL`` s apart, ``TIMEOUT`` s at most): nothing asserts how fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.devforge import DevforgeServer
from uni_wizard.forge import GiteaClient, Hook, Issue, Label
from uni_wizard.forge.events import IssueCommentEvent, IssueEvent
from uni_wizard.harness.runtime import Runtime
from uni_wizard.intake.queue import WebhookIntake
from uni_wizard.testing import make_runtime
from uni_wizard.threaded_server import ThreadedServer
from uni_wizard.web.app import create_app

ADMIN = ("root", "root-password-1")
SECRET = "e2e-webhook-secret"
WRONG_SECRET = "not-the-daemons-secret"
EVENTS = ("issues", "issue_comment", "pull_request", "pull_request_review", "status", "push")
SCOPES = ("write:repository", "write:issue", "read:user", "write:organization")
ORG, REPO = "mesh", "coordination"
TIMEOUT = 30.0  # seconds, for any one wait
POLL = 0.02

T = TypeVar("T")


@dataclass
class Mesh:
    forge: DevforgeServer
    daemon: ThreadedServer
    runtime: Runtime
    reader: WebhookIntake  # a consumer of the daemon's queue (same store), for the assertions
    alice: GiteaClient  # owner of the org (token)
    bob: GiteaClient  # collaborator with write access (token)
    hook: Hook
    label: Label

    @property
    def hook_url(self) -> str:
        return f"{self.daemon.url}/hooks/gitea"

    def deliveries(self, hook_id: int) -> list[dict[str, Any]]:
        assert self.forge.forge.deliverer is not None
        return self.forge.forge.deliverer.deliveries(hook_id)

    def queued_rows(self) -> list[Any]:
        return self.runtime.store.query("SELECT * FROM event_queue ORDER BY id")


async def eventually(check: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL)


async def attempted(mesh: Mesh, hook_id: int, count: int) -> list[dict[str, Any]]:
    """The hook's deliveries once ``count`` of them were attempted (status or error recorded)."""

    def check() -> list[dict[str, Any]] | None:
        rows = mesh.deliveries(hook_id)
        done = [r for r in rows if r["status_code"] is not None or r["error"] is not None]
        return rows if len(rows) >= count and len(done) == len(rows) else None

    return await eventually(check, f"{count} attempted deliveries of hook {hook_id}")


def signed_headers(secret: str, body: bytes, delivery: dict[str, Any], guid: str | None = None) -> dict[str, str]:
    """The headers the devforge sends with a delivery (the ones the intake reads)."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GiteaServer",
        "X-Gitea-Delivery": guid or delivery["uuid"],
        "X-Gitea-Event": delivery["event"],
        "X-Gitea-Event-Type": delivery["event_type"],
        "X-Gitea-Signature": signature,
    }


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    runtime = make_runtime(tmp_path / "daemon")
    forge = DevforgeServer(tmp_path / "devforge", ADMIN).start()
    daemon = ThreadedServer(create_app(runtime, webhook_secret=SECRET), name="daemon").start()
    clients: list[GiteaClient] = []
    try:
        async with GiteaClient(forge.url, username=ADMIN[0], password=ADMIN[1]) as root:
            for login in ("alice", "bob"):
                await root.create_user(login, f"{login}@example.com", f"{login}-password-1")
        tokens = {}
        for login in ("alice", "bob"):
            async with GiteaClient(forge.url, username=login, password=f"{login}-password-1") as basic:
                tokens[login] = (await basic.create_token(login, "e2e", scopes=SCOPES)).sha1
        alice = GiteaClient(forge.url, tokens["alice"])
        bob = GiteaClient(forge.url, tokens["bob"])
        clients += [alice, bob]
        await alice.create_org(ORG)
        await alice.create_repo(REPO, org=ORG)
        await alice.add_collaborator(ORG, REPO, "bob", "write")
        label = await alice.create_label(ORG, REPO, "status/todo", "#00aa00")
        hook = await alice.create_hook(ORG, REPO, f"{daemon.url}/hooks/gitea", SECRET, events=EVENTS)
        reader = WebhookIntake(runtime.store, SECRET, CollectorRegistry())
        yield Mesh(forge, daemon, runtime, reader, alice, bob, hook, label)
    finally:
        for client in clients:
            await client.aclose()
        daemon.stop()
        forge.stop()
        runtime.close()


async def test_forge_activity_is_queued_in_order_and_a_replay_is_a_duplicate(mesh: Mesh) -> None:
    assert mesh.hook.active
    assert set(EVENTS) <= set(mesh.hook.events)
    assert mesh.hook.url == mesh.hook_url

    issue: Issue = await mesh.alice.create_issue(ORG, REPO, "Wire the webhook", "end to end")
    comment = await mesh.bob.create_comment(ORG, REPO, issue.number, "on it")
    await mesh.alice.add_labels(ORG, REPO, issue.number, [mesh.label.id])

    # The devforge attempted every delivery, once each, and the daemon answered 200.
    deliveries = await attempted(mesh, mesh.hook.id, 3)
    assert [d["event_type"] for d in deliveries] == ["issues", "issue_comment", "issue_label"]
    assert [(d["status_code"], d["error"]) for d in deliveries] == [(200, None)] * 3

    # The daemon's durable queue holds the three parsed events, in delivery order.
    await eventually(lambda: mesh.reader.depth() >= 3, "three queued events")
    batch = await mesh.reader.next_batch(10)
    assert [q.delivery for q in batch] == [d["uuid"] for d in deliveries]
    assert [(q.kind, q.event_type, q.repository, q.number) for q in batch] == [
        ("issue", "issues", f"{ORG}/{REPO}", issue.number),
        ("issue_comment", "issue_comment", f"{ORG}/{REPO}", issue.number),
        ("issue", "issue_label", f"{ORG}/{REPO}", issue.number),
    ]
    opened, commented, labelled = (q.event() for q in batch)

    assert isinstance(opened, IssueEvent)
    assert (opened.event_type, opened.action) == ("issues", "opened")
    assert (opened.repository, opened.number, opened.title) == (f"{ORG}/{REPO}", issue.number, "Wire the webhook")
    assert opened.sender == "alice"
    assert opened.delivery == deliveries[0]["uuid"]

    assert isinstance(commented, IssueCommentEvent)
    assert (commented.event_type, commented.action) == ("issue_comment", "created")
    assert (commented.repository, commented.number) == (f"{ORG}/{REPO}", issue.number)
    assert (commented.comment_id, commented.comment_body, commented.comment_user) == (comment.id, "on it", "bob")
    assert not commented.is_pull

    assert isinstance(labelled, IssueEvent)
    assert (labelled.event_type, labelled.action) == ("issue_label", "label_updated")
    assert (labelled.repository, labelled.number) == (f"{ORG}/{REPO}", issue.number)
    assert labelled.labels == ("status/todo",)

    rows = mesh.queued_rows()
    assert [(r["kind"], r["repository"], r["number"]) for r in rows] == [
        ("issue", f"{ORG}/{REPO}", issue.number),
        ("issue_comment", f"{ORG}/{REPO}", issue.number),
        ("issue", f"{ORG}/{REPO}", issue.number),
    ]

    # A second delivery of the same X-Gitea-Delivery (the recorded body, re-signed like the forge
    # signs it) is answered "duplicate" and not queued again.
    first = deliveries[0]
    raw = mesh.forge.forge.db.scalar("SELECT payload FROM deliveries WHERE id = ?", (first["id"],))
    body = str(raw).encode()
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        replay = await http.post(mesh.hook_url, content=body, headers=signed_headers(SECRET, body, first))
        assert replay.status_code == 200, replay.text
        assert replay.json() == {"status": "duplicate"}
        assert len(mesh.queued_rows()) == 3
        assert (
            mesh.runtime.store.query("SELECT count(*) FROM event_queue WHERE delivery = ?", (first["uuid"],))[0][0] == 1
        )

        # Control: the very same bytes under a new delivery id are accepted, so the replay above was
        # authentic and well-formed, and "duplicate" came from the delivery id alone.
        fresh = signed_headers(SECRET, body, first, guid=f"{first['uuid']}-again")
        again = await http.post(mesh.hook_url, content=body, headers=fresh)
        assert again.status_code == 200, again.text
        assert again.json() == {"status": "accepted", "delivery": f"{first['uuid']}-again"}
        assert len(mesh.queued_rows()) == 4

        metrics = (await http.get(f"{mesh.daemon.url}/metrics")).text
    assert 'uniwizard_webhooks_received_total{event_type="issues",outcome="duplicate"} 1.0' in metrics
    assert 'uniwizard_webhooks_received_total{event_type="issues",outcome="accepted"} 2.0' in metrics
    assert len(mesh.deliveries(mesh.hook.id)) == 3  # the replays were by hand: the forge sent nothing more


async def test_a_hook_with_the_wrong_secret_gets_401_and_nothing_is_queued(mesh: Mesh) -> None:
    await mesh.alice.create_repo("elsewhere", org=ORG)
    bad = await mesh.alice.create_hook(ORG, "elsewhere", mesh.hook_url, WRONG_SECRET, events=EVENTS)

    issue = await mesh.alice.create_issue(ORG, "elsewhere", "Signed with the wrong secret")
    await mesh.bob.create_comment(ORG, "elsewhere", issue.number, "still wrong")

    deliveries = await attempted(mesh, bad.id, 2)
    assert [d["event_type"] for d in deliveries] == ["issues", "issue_comment"]
    assert [(d["status_code"], d["error"]) for d in deliveries] == [(401, None)] * 2

    # Nothing was queued, and no delivery id was recorded (a rejected delivery leaves no trace).
    assert mesh.reader.depth() == 0
    assert mesh.queued_rows() == []
    assert mesh.runtime.store.query("SELECT count(*) FROM webhook_deliveries")[0][0] == 0
    assert mesh.deliveries(mesh.hook.id) == []  # the good hook is on the other repository

    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        metrics = (await http.get(f"{mesh.daemon.url}/metrics")).text
    assert 'uniwizard_webhooks_received_total{event_type="issues",outcome="rejected"} 1.0' in metrics
    assert 'uniwizard_webhooks_received_total{event_type="issue_comment",outcome="rejected"} 1.0' in metrics
