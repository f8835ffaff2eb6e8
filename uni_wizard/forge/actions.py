"""``Action``: one planned write to the forge, the unit the dispatcher and the reviewer plan in.

Both lanes plan first (a list of ``Action``) and apply after (``await action.apply()``), so a dry run shows
exactly what would be written and a check that found nothing to do is an ``Action`` without ``apply``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Action"]


@dataclass
class Action:
    """One planned write.

    ``kind`` is a bounded word (a metric label): the dispatcher's triage, assign, requeue, relabel or
    comment; the reviewer's review, approve, comment, label, dismiss or merge. ``apply`` is None when the
    check found nothing to write. ``leaves`` is the (status, house) an issue is in once the action is
    applied, when the action changes it (the dispatcher's bookkeeping; None otherwise).
    """

    kind: str
    description: str
    apply: Callable[[], Awaitable[object]] | None = field(default=None, repr=False)
    leaves: tuple[str, str | None] | None = None
