"""Pure: what the reconcilers' deploy statuses on a merged upgrade say (the contract in ARCHITECTURE.md).

Each host with the ``reconciler`` role posts ``uni-wizard/deploy/<host>`` on the merged sha: success once
it applied the sha and its health gate passed, failure (or error) once it rolled back.

    >>> from uni_wizard.forge.models import CommitStatus
    >>> ok = CommitStatus(status="success", context="uni-wizard/deploy/a")
    >>> deploy_outcome([ok], ("a", "b"), "uni-wizard/deploy/").outcome
    'waiting'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..forge.models import CommitStatus

__all__ = ["DeployOutcome", "deploy_outcome"]

FAILED = frozenset({"failure", "error"})


@dataclass(frozen=True)
class DeployOutcome:
    """``outcome``: applied (every host succeeded), failed (``actor`` is the first failing host, ``reason``
    its description) or waiting (``reason`` names the hosts not reported yet)."""

    outcome: str
    actor: str
    reason: str


def deploy_outcome(statuses: Iterable[CommitStatus], hosts: Sequence[str], prefix: str) -> DeployOutcome:
    """The outcome from the newest status per context (``statuses`` newest first, as the forge lists them)."""
    latest: dict[str, CommitStatus] = {}
    for status in statuses:
        if status.context.startswith(prefix):
            latest.setdefault(status.context[len(prefix) :], status)
    for host in sorted(latest):
        status = latest[host]
        if status.status in FAILED:
            return DeployOutcome("failed", host, status.description or f"{prefix}{host} is {status.status}")
    if not hosts:
        return DeployOutcome("waiting", "", "no host in the mesh configuration has the reconciler role")
    missing = [h for h in hosts if h not in latest or latest[h].status != "success"]
    if missing:
        return DeployOutcome("waiting", "", f"waiting for the deploy status of {', '.join(missing)}")
    return DeployOutcome("applied", "reconciler", f"applied and healthy on {', '.join(hosts)}")
