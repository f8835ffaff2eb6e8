"""The review extension point: what another package may add to Timmy's review of a pull request.

An extension is passed in by the composition (``Reviewer(..., extensions=[...])``, or a factory given to
``assembly.reviewer.build_reviewer(..., extend=...)``); the review package never imports one. For every pull request the
reviewer lists, reviews or merges, it asks each extension whether it ``handles`` it; only an extension
that does is asked anything else about that PR:

- ``diff_limit``: the most lines changed it accepts; the smallest limit of the reviewer's and every
  extension's applies, and ``CheckedHead.too_large`` says whether the diff went over it;
- ``must_record``: whether the head must be checked and ``record``-ed even though its verdict is on the
  forge already or its proof is still pending;
- ``record``: the writes that record the checked head, applied before the verdict's (alone when the
  verdict is written already; with a note of why when the verdict waits for the proof);
- ``plan_verdict``: the verdict the reviewer writes instead of its plain one (None: the plain one);
- ``merge_blockers``: sentences added to the merge gate's (``gate.merge_blockers``);
- ``sync``: run before and after every merge pass (not in a dry run); a ``UniWizardError`` is logged.

Everything an extension may use of the review package is exported here (``__all__``): the types above,
the gate's rule for approvals, the markers, the path globs, and the reviewer as an extension sees it
(``ReviewerView``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..forge.models import PullRequest
from .config import ReviewConfig
from .forge_api import ReviewForge
from .gate import approval_valid, effective_approvers, short
from .paths import matches, matching
from .render import Findings, marker
from .types import Action, ReviewReport
from .worktree import Checkout

__all__ = [
    "Action",
    "CheckedHead",
    "Checkout",
    "Findings",
    "ReviewConfig",
    "ReviewExtension",
    "ReviewReport",
    "ReviewerView",
    "Verdict",
    "VerdictKind",
    "approval_valid",
    "effective_approvers",
    "marker",
    "matches",
    "matching",
    "short",
]

VerdictKind = Literal["changes_requested", "escalated", "approved", "pre_reviewed"]


@dataclass(frozen=True)
class CheckedHead:
    """One head the reviewer checked, as an extension sees it.

    ``checkout``'s worktree is removed by the time an extension is asked: use its data (head, merge base,
    paths, lines), not its path. ``diff_sha256`` is the sha256 of the binary diff from the merge base to
    the head (what an approval of the head approves). ``too_large``: the diff is over the smallest limit.
    ``why_owner``: why the reviewer may not approve the head itself (it opened the pull request).
    """

    repo: str
    pr: PullRequest
    findings: Findings
    checkout: Checkout
    diff_sha256: str
    too_large: bool
    why_owner: tuple[str, ...] = ()

    @property
    def number(self) -> int:
        return self.pr.number

    @property
    def head(self) -> str:
        return self.findings.head


@dataclass(frozen=True)
class Verdict:
    """A verdict the reviewer writes on a checked head, bound to it.

    ``kind``: changes_requested (a REQUEST_CHANGES review), approved (an APPROVED review through the
    house's Harness), escalated (a comment asking the owner; the needs-owner label when sensitive paths
    changed) or pre_reviewed (a comment: ready for the owner's approval). Unless the changes are
    requested, the reviewer's own earlier REQUEST_CHANGES are dismissed first. ``description`` names the
    write (default: the plain verdict's); ``why_owner`` is shown when escalated; ``lines`` are added to
    the body after the findings; ``then`` runs once the write succeeded, in the same ``Action``.
    """

    kind: VerdictKind
    description: str = ""
    why_owner: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    then: Callable[[], Awaitable[object]] | None = None


class ReviewerView(Protocol):
    """What an extension (and the factory building it) may read of the reviewer; ``Reviewer`` is one."""

    @property
    def forge(self) -> ReviewForge: ...  # the reviewer's forge user's client

    @property
    def config(self) -> ReviewConfig: ...

    @property
    def repos(self) -> Sequence[str]: ...

    @property
    def login(self) -> str: ...  # the reviewer's forge user

    @property
    def owner(self) -> str: ...  # the owner's forge user

    @property
    def approvers(self) -> frozenset[str]: ...  # whose approval counts: the reviewer's and the owner's


class ReviewExtension(Protocol):
    """What an extension may say about a pull request under review; see the module's docstring."""

    def handles(self, repo: str, pr: PullRequest) -> bool:
        """Whether it takes part in the review of ``pr``; a PR it handles is reviewed even without the
        review label. Nothing else is asked about a PR it does not handle."""
        ...

    def diff_limit(self, repo: str, pr: PullRequest) -> int | None:
        """The most lines (additions plus deletions) it accepts for ``pr``; None: no limit of its own."""
        ...

    def must_record(self, repo: str, pr: PullRequest) -> bool:
        """Whether ``pr``'s head must be checked and recorded although its verdict is written already or
        its proof is still pending (the record would otherwise be missing)."""
        ...

    def record(self, checked: CheckedHead, report: ReviewReport, *, waiting: str | None = None) -> list[Action]:
        """The writes that record ``checked``, applied before the verdict's. ``waiting``: the verdict waits
        (the proof is pending) and this is why. The actions may add notes to ``report``, whose actions
        they become."""
        ...

    def plan_verdict(self, checked: CheckedHead, reviewer: ReviewerView) -> Verdict | None:
        """The verdict instead of the plain one, from ``checked.findings`` (reasons reject); None: the plain
        one. Pure: writes belong in ``Verdict.then``."""
        ...

    def merge_blockers(self, repo: str, pr: PullRequest) -> list[str]:
        """What it adds to the merge gate at ``pr``'s current head, as sentences; empty: nothing."""
        ...

    async def sync(self) -> None:
        """Catch up with the forge; run before and after each merge pass (not in a dry run)."""
        ...
