"""The reviewer's loop: one review pass and one merge pass every ``poll_seconds``, or at once when woken.

``wake`` is set by whatever learns that a pull request changed: in the daemon, a ``QueueHint`` that sees a
webhook about a review, a status, a push, a label or a comment queued for one of the reviewer's repositories
(``assembly.reviewer.REVIEW_HINTS``). A woken pass is a whole pass, as a timed one is, so nothing depends on
the hint: a dropped webhook costs at most ``poll_seconds``, and the poll repairs it. Each pass re-derives
every PR from the forge; the reviewer logs its own decisions (``journal.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..errors import UniWizardError
from .reviewer import Reviewer
from .types import MergeReport, ReviewReport

__all__ = ["review_pass", "run_reviewer"]

log = logging.getLogger(__name__)


async def review_pass(reviewer: Reviewer) -> tuple[list[ReviewReport], list[MergeReport]]:
    """One ``review_once`` then one ``merge_once``."""
    return await reviewer.review_once(), await reviewer.merge_once()


async def run_reviewer(
    reviewer: Reviewer, stop: asyncio.Event, poll_seconds: float, *, wake: asyncio.Event | None = None
) -> None:
    """Review and merge every ``poll_seconds``, or as soon as ``wake`` is set, until ``stop``; a failed pass is
    logged and the loop goes on. A wake during a pass starts the next pass right after it."""
    while not stop.is_set():
        if wake is not None:
            wake.clear()  # what arrives from now on is seen by this pass or wakes the next
        try:
            await review_pass(reviewer)
        except UniWizardError as exc:
            log.warning("reviewer pass failed: %s: %s (retrying in %.0f s)", type(exc).__name__, exc, poll_seconds)
        await _pause(stop, wake, poll_seconds)


async def _pause(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Until ``stop``, ``wake`` or ``seconds``."""
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waits, return_exceptions=True)
