"""The webhook intake: Gitea deliveries verified, de-duplicated and queued durably in the host's store,
and the hints that wake a role when an event for its repositories waits.

Floor: above the forge client (it parses deliveries with ``forge.webhooks``/``forge.events``) and the
store; below the lanes, which consume the queue. Imports: errors, store, forge.
"""

from .hints import QueueHint
from .queue import KNOWN_EVENT_TYPES, MAX_BODY_BYTES, IntakeResult, QueuedEvent, WebhookIntake

__all__ = ["KNOWN_EVENT_TYPES", "MAX_BODY_BYTES", "IntakeResult", "QueueHint", "QueuedEvent", "WebhookIntake"]
