"""Timmy's review and merge gate for pull requests in ``status/review`` (DESIGN §4, ADR-021).

    reviewer = Reviewer(forge, runtime=runtime, config=load_review_config(), repos=["mesh/work"])
    await reviewer.review_once()   # verdicts: request changes, escalate, approve (auto_approve) or pre-review
    await reviewer.merge_once()    # merges what nothing blocks, with head_commit_id = the head checked

The gate (``approval_valid``, ``merge_blockers``) is pure; approving and merging go through the
house's Harness (tools ``gitea_approve_pr`` and ``gitea_merge_pr``, which need ``rules.may_approve``
and ``rules.may_merge``).
"""

from .config import ReviewConfig, default_review_path, load_review_config
from .gate import approval_problems, approval_valid, effective_approvers, merge_blockers
from .paths import linked_issues, matches
from .provenance_check import ProvenanceReport, check_provenance, check_records
from .reviewer import Reviewer
from .types import Action, MergeReport, ReviewReport
from .worktree import Checkout, HeadMoved, Worktrees

__all__ = [
    "Action",
    "Checkout",
    "HeadMoved",
    "MergeReport",
    "ProvenanceReport",
    "ReviewConfig",
    "ReviewReport",
    "Reviewer",
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
