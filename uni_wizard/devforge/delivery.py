"""Webhook delivery as Gitea's: one attempt, 5 s timeout, from a background queue, headers of §6.

Each delivery is recorded in ``deliveries`` (status code or error); ``Deliverer.deliveries()`` and
``wait_idle()`` are the accessors tests use. ``X-Gitea-Signature`` is the hex HMAC-SHA256 of the raw
JSON body with the hook's secret (empty when there is no secret); for ``content_type=form`` the body
is ``payload=<urlencoded JSON>`` but the signature still covers the JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx

from .db import Clock, Database, fmt_time

__all__ = ["DELIVER_TIMEOUT", "Deliverer", "event_header"]

log = logging.getLogger(__name__)
DELIVER_TIMEOUT = 5.0

_EVENT_HEADER = {
    "issues": "issues",
    "issue_assign": "issues",
    "issue_label": "issues",
    "issue_milestone": "issues",
    "issue_comment": "issue_comment",
    "pull_request": "pull_request",
    "pull_request_assign": "pull_request",
    "pull_request_label": "pull_request",
    "pull_request_milestone": "pull_request",
    "pull_request_sync": "pull_request",
    "pull_request_review_request": "pull_request",
    "pull_request_comment": "issue_comment",
    "pull_request_review_approved": "pull_request_approved",
    "pull_request_review_rejected": "pull_request_rejected",
    "pull_request_review_comment": "pull_request_comment",
}


def event_header(event_type: str) -> str:
    """``X-Gitea-Event`` for an event type (``X-Gitea-Event-Type``)."""
    return _EVENT_HEADER.get(event_type, event_type)


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    url: str
    content_type: str
    secret: str
    authorization: str
    event_type: str
    guid: str
    body: bytes


class Deliverer:
    def __init__(self, db: Database, clock: Clock, *, timeout: float = DELIVER_TIMEOUT) -> None:
        self.db = db
        self.clock = clock
        self.timeout = timeout
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._client: httpx.Client | None = None

    def enqueue(self, hook: Any, event_type: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload, indent=2).encode()
        guid = str(uuid.uuid4())
        delivery_id = self.db.run(
            "INSERT INTO deliveries (hook_id, uuid, event, event_type, payload, queued) VALUES (?, ?, ?, ?, ?, ?)",
            (hook["id"], guid, event_header(event_type), event_type, body.decode(), int(self.clock())),
        )
        job = _Job(
            delivery_id,
            hook["url"],
            hook["content_type"],
            hook["secret"],
            hook["authorization_header"],
            event_type,
            guid,
            body,
        )
        self._ensure_worker()
        self._queue.put(job)
        return delivery_id

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False)
                self._thread = threading.Thread(target=self._work, name="devforge-webhooks", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._deliver(job)
            except Exception:  # the worker must outlive one bad delivery; the failure is logged
                log.exception("webhook delivery failed")
            finally:
                self._queue.task_done()

    def _deliver(self, job: _Job) -> None:
        assert self._client is not None
        sig256 = sig1 = ""
        if job.secret:
            sig256 = hmac.new(job.secret.encode(), job.body, hashlib.sha256).hexdigest()
            sig1 = hmac.new(job.secret.encode(), job.body, hashlib.sha1).hexdigest()
        event = event_header(job.event_type)
        headers = {
            "User-Agent": "GiteaServer",
            "X-Gitea-Delivery": job.guid,
            "X-Gitea-Event": event,
            "X-Gitea-Event-Type": job.event_type,
            "X-Gitea-Signature": sig256,
            "X-Gitea-Hook-Installation-Target-Type": "repository",
            "X-Gogs-Delivery": job.guid,
            "X-Gogs-Event": event,
            "X-Gogs-Event-Type": job.event_type,
            "X-Gogs-Signature": sig256,
            "X-Hub-Signature": f"sha1={sig1}",
            "X-Hub-Signature-256": f"sha256={sig256}",
            "X-GitHub-Delivery": job.guid,
            "X-GitHub-Event": event,
            "X-GitHub-Event-Type": job.event_type,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
        }
        if job.authorization:
            headers["Authorization"] = job.authorization
        if job.content_type == "form":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = b"payload=" + quote_plus(job.body.decode()).encode()
        else:
            headers["Content-Type"] = "application/json"
            content = job.body
        status: int | None = None
        error: str | None = None
        try:
            response = self._client.post(job.url, content=content, headers=headers)
            status = response.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.info("webhook delivery %s to %s failed: %s", job.guid, job.url, error)
        self.db.run(
            "UPDATE deliveries SET status_code = ?, error = ?, delivered = ? WHERE id = ?",
            (status, error, int(self.clock()), job.delivery_id),
        )

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery was attempted (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def deliveries(self, hook_id: int | None = None) -> list[dict[str, Any]]:
        """Every recorded delivery, oldest first: id, hook_id, uuid, event, event_type, payload, status, error."""
        if hook_id is None:
            rows = self.db.all("SELECT * FROM deliveries ORDER BY id")
        else:
            rows = self.db.all("SELECT * FROM deliveries WHERE hook_id = ? ORDER BY id", (hook_id,))
        return [
            {
                "id": r["id"],
                "hook_id": r["hook_id"],
                "uuid": r["uuid"],
                "event": r["event"],
                "event_type": r["event_type"],
                "payload": json.loads(r["payload"]),
                "status_code": r["status_code"],
                "error": r["error"],
                "queued_at": fmt_time(r["queued"]),
                "delivered_at": fmt_time(r["delivered"]),
            }
            for r in rows
        ]

    def close(self) -> None:
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=self.timeout + 2)
        if self._client is not None:
            self._client.close()
            self._client = None
