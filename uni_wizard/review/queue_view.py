"""What the merge queue holds now, read from the forge as the next merge pass will read it (nothing is kept
between passes): per repository and target branch, the PRs nothing blocks in the order they land (oldest
first), the held ones (``/hold``, the ``hold`` label: out of the queue until ``/unhold``), and, with
``everything``, the others waiting for review with what blocks them.
"""

from __future__ import annotations

from ..errors import UniWizardError
from .merging import plan_merge
from .reviewer import Reviewer
from .types import QueueLine

__all__ = ["QueueLine", "read_queue"]


async def read_queue(reviewer: Reviewer, *, everything: bool = False) -> list[QueueLine]:
    """The queue of every repository of ``reviewer``; held PRs are listed, blocked ones only with ``everything``."""
    lines: list[QueueLine] = []
    hold = reviewer.config.hold_label
    for repo in reviewer.repos:
        positions: dict[str, int] = {}
        for pr, _ in sorted(await reviewer.waiting(repo), key=lambda found: found[0].number):
            try:
                plan = await plan_merge(reviewer, repo, pr.number)
            except UniWizardError as exc:
                reasons: tuple[str, ...] = (f"{type(exc).__name__}: {exc}",)
                lines.append(
                    QueueLine(repo, pr.base_ref, pr.number, pr.head_sha, pr.title, "blocked", None, None, reasons)
                )
                continue
            if plan.outcome == "ready":
                position = positions[pr.base_ref] = positions.get(pr.base_ref, 0) + 1
                line = QueueLine(
                    repo, pr.base_ref, pr.number, plan.head, pr.title, "queued", position, plan.approved_by
                )
            elif hold in {label.name for label in pr.labels}:
                line = QueueLine(repo, pr.base_ref, pr.number, plan.head, pr.title, "held", reasons=tuple(plan.reasons))
            elif everything:
                line = QueueLine(
                    repo, pr.base_ref, pr.number, plan.head, pr.title, "blocked", reasons=tuple(plan.reasons)
                )
            else:
                continue
            lines.append(line)
    return lines
