"""Timmy's review and merge gate for pull requests in ``status/review`` (DESIGN §4, ADR-021).

    reviewer = reviewer_on(runtime, forge, config=load_review_config(), repos=["mesh/work"])  # assembly.reviewer
    await reviewer.review_once()   # verdicts: request changes, escalate, approve (auto_approve) or pre-review
    await reviewer.merge_once()    # merges what nothing blocks, with head_commit_id = the head checked

What lives here: ``reviewer.py`` (``Reviewer``: the waiting PRs, one review pass and one merge pass, the
writes applied unless ``dry_run``), ``checks.py`` (the checks of one head that produce its ``Findings``),
``verdict.py`` (the verdict and the writes that say it), ``merging.py`` (the merge plan and the merge),
``gate.py`` (pure: which approval counts, what blocks a merge), ``extension.py`` (the extension point),
``worktree.py`` (clean checkouts; ``filelock.py`` guards their bare caches across processes),
``concurrency.py`` (the pool of reviews run side by side, locks by key), ``proven.py`` (the trees whose tests
were re-run, kept in the host's store), ``provenance_check.py``, ``render.py`` (bodies and markers), ``paths.py``,
``types.py``, ``config.py`` (``configs/review.yaml``), ``loop.py`` (a pass every ``poll_seconds``) and
``forge_api.py`` (``ReviewForge``, the forge calls it makes). ``assembly.reviewer`` builds it from settings.
Approving and merging go through the house's Harness (tools ``gitea_approve_pr`` and ``gitea_merge_pr``,
which need ``rules.may_approve`` and ``rules.may_merge``).

What it may import: the floors below it (harness, tools, policy, forge, observe and the base: errors,
config, configfile, store); never a lane above it (upgrade, deployment, reconcile) nor the composition
(cli, daemon, demo, web, testing, assembly). What sits above review reaches into it through an extension.

How to write an extension: in the package that needs it (above review), a class with the methods of
``extension.ReviewExtension`` (a Protocol: no base class), importing only what ``review.extension``
exports; the composition passes it in::

    class Embargo:                                   # hold every PR of one repository until a date
        def handles(self, repo, pr): return repo == "mesh/work"
        def diff_limit(self, repo, pr): return None           # the reviewer's limit is enough
        def must_record(self, repo, pr): return False         # nothing to record
        def record(self, checked, report, *, waiting=None): return []
        def plan_verdict(self, checked, reviewer): return None   # the plain verdict
        def merge_blockers(self, repo, pr): return [] if date.today() >= LIFTED else ["embargoed"]
        async def sync(self): pass

    Reviewer(forge, ..., extensions=[Embargo()])  # or build_reviewer(..., extend=lambda reviewer, forge: [Embargo()])

``upgrade/hook.py`` (the self-upgrade queue) is the full example: it records each head it checks, gives
its own verdict and adds a merge blocker.

Floor: a lane, above work and mesh. May import: the base, policy, forge, observe, tools, harness, dispatch,
work; never upgrade (extensions come in through ``ReviewExtension``).
"""

from .config import ReviewConfig, default_review_path, load_review_config
from .extension import CheckedHead, ReviewerView, ReviewExtension, Verdict
from .gate import approval_problems, approval_valid, effective_approvers, merge_blockers
from .paths import linked_issues, matches
from .provenance_check import ProvenanceReport, check_provenance, check_records
from .reviewer import Reviewer
from .types import Action, MergeReport, ReviewReport
from .worktree import Checkout, HeadMoved, Worktrees

__all__ = [
    "Action",
    "CheckedHead",
    "Checkout",
    "HeadMoved",
    "MergeReport",
    "ProvenanceReport",
    "ReviewConfig",
    "ReviewExtension",
    "ReviewReport",
    "Reviewer",
    "ReviewerView",
    "Verdict",
    "Worktrees",
    "approval_problems",
    "approval_valid",
    "check_provenance",
    "check_records",
    "default_review_path",
    "effective_approvers",
    "linked_issues",
    "load_review_config",
    "matches",
    "merge_blockers",
]
