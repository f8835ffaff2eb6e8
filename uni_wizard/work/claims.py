"""A house's claim on an issue: ``status/in-progress`` plus a claim comment naming its expiry.

The claim comment carries the dispatcher's ``CLAIM_MARKER`` (``dispatch/state.py``); the worker
renews it (edits the expiry) every third of the TTL while the work runs. A claim that is not
renewed lapses, and the dispatcher's sweep requeues the issue (``status/routed``): a worker killed
mid-task loses its claim that way. There is one claim comment per house and issue: claiming again
(after a restart or a requeue) edits it, so restarts never pile up claim comments.

The claim comment is written before the label, so an issue ``status/in-progress`` always has a
claim the dispatcher can read; a crash between the two leaves a routed issue with a claim comment,
which the next poll claims again (editing that comment).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType

from ..dispatch.state import CLAIM_MARKER
from ..errors import ForgeError, ForgeUnavailable
from ..forge.models import Comment, Issue
from ..reporef import RepoRef
from .forge_api import WorkForge
from .publish import CommentBook

__all__ = ["ClaimKeeper", "claim", "claim_body", "find_claim", "relabel_status", "renew", "set_status", "stamp"]

log = logging.getLogger(__name__)
Clock = Callable[[], float]


def stamp(when: datetime) -> str:
    """``when`` as the claim marker writes it: UTC, whole seconds, ``Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claim_body(house: str, expires: datetime) -> str:
    """A sentence a person can read, then the exact marker the dispatcher parses."""
    at = stamp(expires)
    return (
        f"**Claimed by `{house}`** until {at} (UTC). The claim is renewed while the work runs; "
        "if it lapses, the dispatcher requeues the issue.\n\n"
        f"<!-- uni-wizard:claim house={house} expires={at} -->"
    )


def find_claim(comments: Sequence[Comment], house: str, login: str) -> Comment | None:
    """This house's claim comment (written by its forge user ``login``), if there is one."""
    for comment in comments:
        match = CLAIM_MARKER.search(comment.body)
        if match and match["house"] == house and comment.user is not None and comment.user.login == login:
            return comment
    return None


def relabeled(labels: Sequence[str], status: str) -> list[str]:
    """``labels`` with every ``status/*`` label replaced by ``status/<status>``; the rest kept."""
    return sorted({n for n in labels if not n.startswith("status/")} | {f"status/{status}"})


async def relabel_status(forge: WorkForge, repo: str, issue: Issue, status: str) -> bool:
    """Set the issue's status label (house, kind, priority and every other label stay); False when it
    already had exactly that."""
    current = [label.name for label in issue.labels]
    if sorted(current) == relabeled(current, status):
        return False
    await set_status(forge, repo, issue.number, status)
    return True


async def set_status(forge: WorkForge, repo: str, number: int, status: str) -> list[str]:
    """Make ``status/<status>`` the issue's one status label without reading the issue first, and return its
    labels: the label is added (the dispatcher's ``status/*`` labels are exclusive scoped labels, so the forge
    drops the other statuses itself: one call, and no other label is touched), and only when another status
    stays (labels made without ``exclusive``) are the labels replaced in a second call."""
    owner, name = RepoRef.parse(repo)
    names = [label.name for label in await forge.add_labels(owner, name, number, [f"status/{status}"])]
    wanted = relabeled(names, status)
    if sorted(names) == wanted:
        return names
    return [label.name for label in await forge.replace_labels(owner, name, number, wanted)]


def _expiry(clock: Clock, ttl: float) -> datetime:
    return datetime.fromtimestamp(clock() + ttl, UTC)


async def claim(
    forge: WorkForge,
    repo: str,
    issue: Issue,
    house: str,
    ttl: float,
    *,
    login: str | None = None,
    clock: Clock = time.time,
    book: CommentBook | None = None,
) -> Comment:
    """Claim ``issue`` for ``house`` for ``ttl`` seconds: post the claim comment (or edit this house's
    existing one, written by ``login``: the forge user ``forge`` acts as, asked when not given), then
    relabel ``status/in-progress``. ``book`` keeps the comments listed here for the rest of the run."""
    owner, name = RepoRef.parse(repo)
    login = login or (await forge.me()).login
    body = claim_body(house, _expiry(clock, ttl))
    book = book or CommentBook(forge, repo, issue.number)
    existing = find_claim(await book.comments(), house, login)
    if existing is None:
        comment = await forge.create_comment(owner, name, issue.number, body)
    else:
        comment = await forge.edit_comment(owner, name, existing.id, body)
    book.written(comment)
    await relabel_status(forge, repo, issue, "in-progress")
    return comment


async def renew(
    forge: WorkForge, repo: str, comment_id: int, house: str, ttl: float, *, clock: Clock = time.time
) -> Comment:
    """Move the claim's expiry to ``ttl`` seconds from now (edits the claim comment)."""
    owner, name = RepoRef.parse(repo)
    return await forge.edit_comment(owner, name, comment_id, claim_body(house, _expiry(clock, ttl)))


class ClaimKeeper:
    """Renews a claim every ``ttl / 3`` seconds while the block runs::

        async with ClaimKeeper(forge, repo, comment.id, house, ttl):
            ...  # the work

    A renewal that fails (the forge is away) is logged and tried again at the next interval; the
    claim survives two missed renewals. ``renewals`` counts the successful ones.
    """

    def __init__(
        self,
        forge: WorkForge,
        repo: str,
        comment_id: int,
        house: str,
        ttl: float,
        *,
        clock: Clock = time.time,
        interval: float | None = None,
    ) -> None:
        self.forge, self.repo, self.comment_id, self.house, self.ttl = forge, repo, comment_id, house, ttl
        self.clock = clock
        self.interval = interval if interval is not None else ttl / 3
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await renew(self.forge, self.repo, self.comment_id, self.house, self.ttl, clock=self.clock)
                self.renewals += 1
            except (ForgeError, ForgeUnavailable) as exc:
                log.warning("%s: could not renew the claim of %s: %s", self.repo, self.house, exc)

    async def __aenter__(self) -> ClaimKeeper:
        self._task = asyncio.create_task(self._keep(), name=f"claim:{self.repo}:{self.comment_id}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
