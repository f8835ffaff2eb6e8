"""The webhook queue stays small whatever an issue says: cut strings, payloads read only when asked for."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry

from uni_wizard.forge.events import IssueEvent
from uni_wizard.intake.queue import STORED_STRING_CHARS, WebhookIntake
from uni_wizard.store import Store

SECRET = "limits-secret"
WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "gitea-webhooks"


def delivery(body_text: str, *, repo: str = "mesh/work", number: int = 7) -> tuple[dict[str, str], bytes]:
    payload = json.loads((WEBHOOKS / "webhook-issues-opened.json").read_text())
    payload["issue"]["body"] = body_text
    payload["issue"]["number"] = number
    payload["repository"]["full_name"] = repo
    payload["deep"] = [[[[{"note": "x" * (STORED_STRING_CHARS + 5)}]]]]
    raw = json.dumps(payload).encode()
    headers = {
        "X-Gitea-Event-Type": "issues",
        "X-Gitea-Delivery": str(uuid.uuid4()),
        "X-Gitea-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest(),
    }
    return headers, raw


async def test_a_huge_issue_body_is_queued_cut_and_read_lazily(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db")
    intake = WebhookIntake(store, SECRET, CollectorRegistry())
    try:
        huge = "log line\n" * 400_000  # 3.6 MB
        assert (await intake.receive(*delivery(huge))).outcome == "accepted"
        assert (await intake.receive(*delivery("short", number=8))).outcome == "accepted"
        stored = [len(row[0]) for row in store.query("SELECT payload_json FROM event_queue ORDER BY id")]
        assert stored[0] < 3 * STORED_STRING_CHARS  # not 3.6 MB: every long string is cut
        assert intake.unclaimed(["mesh/work"]) and not intake.unclaimed(["mesh/other"])
        batch = await intake.next_batch(10)
        assert not intake.unclaimed(["mesh/work"])  # claimed now
        assert [q.size for q in batch] == stored  # what the consumer orders a batch by
        event = batch[0].event()  # read from the store and decoded only now
        assert isinstance(event, IssueEvent) and event.number == 7
        assert batch[0].payload["issue"]["body"] == huge[:STORED_STRING_CHARS]
        assert batch[0].payload["deep"][0][0][0][0]["note"] == "x" * STORED_STRING_CHARS
        assert batch[1].payload["issue"]["body"] == "short"
    finally:
        store.close()
