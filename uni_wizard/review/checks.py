"""The checks of one head that produce its ``Findings``: the proof status, the size of the diff, the tests
re-run in a clean worktree, sensitive paths, and whether the provenance shows the houses' policies held.

``check_proof`` is pure; ``check_head`` checks the head out (``worktree.py``) and runs the rest, or
returns the report of a head whose verdict must wait: its tests are held for the owner (it changes
``rerun_needs_owner_paths``), their re-run waits for a sovereign approval, or the head moved meanwhile. A
head whose tree was re-run already reuses that verdict (``proven.py``) unless ``reuse_proven_trees`` is off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..forge.models import CombinedStatus, PullRequest, Review
from ..harness.core import Harness
from ..harness.result import Result, Status
from ..reporef import RepoRef
from .extension import CheckedHead, ReviewExtension
from .gate import approval_valid, short
from .paths import matching
from .proven import TAIL_LINES, ProvenTrees, rerun_policy
from .provenance_check import ProvenanceReport, ProvenanceSources, check_provenance
from .render import Findings
from .types import ReviewReport
from .verdict import VerdictDesk, held_why, opened_by, plan_hold
from .worktree import Checkout, HeadMoved, Worktrees

__all__ = ["CheckDesk", "ProofCheck", "check_head", "check_proof", "diff_limit", "quoted_tail", "rerun_verdict"]


class CheckDesk(VerdictDesk, Protocol):
    """What the checks use of the reviewer (``Reviewer`` is one)."""

    @property
    def provenance(self) -> ProvenanceSources: ...

    @property
    def worktrees(self) -> Worktrees: ...

    @property
    def proven(self) -> ProvenTrees: ...

    def harness(self, task: str) -> Harness: ...


@dataclass(frozen=True)
class ProofCheck:
    """What the proof status of a head says: ``reasons`` reject it, ``notes`` inform, ``pending`` (the
    proof has not reported yet) is why the verdict waits."""

    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    pending: str | None = None


def check_proof(combined: CombinedStatus, proof_context: str, head: str) -> ProofCheck:
    """The worker's proof (the commit status ``proof_context``) on ``head``, from its combined status."""
    proof = next((s for s in combined.statuses if s.context == proof_context), None)
    context = f"`{proof_context}`"
    if proof is None:
        return ProofCheck(
            reasons=(f"head `{short(head)}` has no {context} status: the tests must run and report on this head",)
        )
    if proof.status == "pending":
        return ProofCheck(pending=f"the {context} status is still pending")
    if proof.status != "success":
        why = f"the {context} status of head `{short(head)}` is {proof.status}: {proof.description}"
        return ProofCheck(reasons=(why,))
    return ProofCheck(notes=(f"proof {context}: success ({proof.description or 'no description'})",))


def diff_limit(limit: int, repo: str, pr: PullRequest, extensions: Sequence[ReviewExtension]) -> int:
    """The smallest of ``limit`` (the reviewer's) and every extension's."""
    theirs = [own for extension in extensions if (own := extension.diff_limit(repo, pr)) is not None]
    return min([limit, *theirs])


async def check_head(
    desk: CheckDesk,
    repo: str,
    pr: PullRequest,
    issues: tuple[int, ...],
    *,
    proof: ProofCheck,
    reviews: Sequence[Review],
    extensions: Sequence[ReviewExtension],
) -> CheckedHead | ReviewReport:
    """Check ``pr``'s head out and check it (after ``proof``); a report instead when the verdict must wait."""
    owner, name = RepoRef.parse(repo)
    number, head = pr.number, pr.head_sha
    limit = diff_limit(desk.config.max_diff_lines, repo, pr, extensions)
    reasons, notes = list(proof.reasons), list(proof.notes)
    clone_url = (await desk.forge.get_repo(owner, name)).clone_url
    try:
        async with desk.worktrees.checkout(clone_url, owner, name, number, head, pr.base_ref) as co:
            too_large = co.lines > limit
            if too_large:
                reasons.append(
                    f"the diff is too large: {co.lines} lines changed against the limit of "
                    f"{limit}; split it into smaller pull requests"
                )
            waits = await _check_tests(desk, repo, pr, co, reviews, reasons, notes, pending=proof.pending is not None)
            if waits is not None:
                return waits
            provenance = await _check_provenance(desk, repo, issues, co)
            digest = await desk.worktrees.diff_digest(co) if extensions else ""
    except HeadMoved as exc:
        return ReviewReport(repo, number, head, "waiting", notes=[str(exc)])
    reasons += provenance.problems
    notes += [provenance.summary(), *provenance.notes]
    sensitive = tuple(matching(co.paths, desk.config.sensitive_paths))
    findings = Findings(number, head, tuple(reasons), tuple(notes), sensitive, len(co.files), co.lines)
    return CheckedHead(repo, pr, findings, co, digest, too_large, opened_by(desk.login, pr))


async def _check_tests(
    desk: CheckDesk,
    repo: str,
    pr: PullRequest,
    co: Checkout,
    reviews: Sequence[Review],
    reasons: list[str],
    notes: list[str],
    *,
    pending: bool,
) -> ReviewReport | None:
    """Re-run the tests when code changed and nothing rejects the head yet (adding a sentence to ``reasons``
    or ``notes``); a report instead when the verdict must wait (held for the owner, or for an approval)."""
    config = desk.config
    code = matching(co.paths, config.rerun_tests_paths)
    guarded = matching(co.paths, config.rerun_needs_owner_paths)
    if not (code or guarded):
        notes.append("tests not re-run: no changed file matches rerun_tests_paths")
        return None
    if reasons or pending:
        notes.append("tests not re-run: the head is rejected already")
        return None
    if guarded and approval_valid(reviews, pr.head_sha, {desk.owner}) is None:
        return plan_hold(desk, repo, pr, guarded)
    if guarded:
        notes.append(f"tests re-run once @{desk.owner} approved this head: {held_why(guarded)}")
    agreed, sentence = await _rerun(desk, repo, pr, co)
    if agreed is None:
        return ReviewReport(repo, pr.number, pr.head_sha, "waiting", notes=[sentence])
    (notes if agreed else reasons).append(sentence)
    return None


async def _rerun(desk: CheckDesk, repo: str, pr: PullRequest, co: Checkout) -> tuple[bool | None, str]:
    """Re-run the tests of the head in its worktree (sandboxed, through the Harness), or reuse the verdict of a
    re-run of the same tree under the same policy (``proven.py``) unless ``reuse_proven_trees`` is off; a re-run
    that ran is recorded."""
    config = desk.config
    tree = await desk.worktrees.tree(co)
    policy = rerun_policy(config.test_timeout)
    async with desk.proven.claim(tree, policy):
        known = await desk.proven.find(tree, policy) if config.reuse_proven_trees else None
        if known is not None:
            return known.passed, known.reused(repo)
        task = f"review:{repo}#{pr.number}@{short(pr.head_sha)}"
        result = await desk.harness(task).aexecute(
            "run_tests", workspace=str(co.path), timeout=config.test_timeout, tail_lines=TAIL_LINES
        )
        agreed, sentence = rerun_verdict(result, pr.head_sha)
        if agreed is not None and result.ok:
            await desk.proven.remember(
                tree, policy, passed=agreed, sentence=sentence, repository=repo, number=pr.number, head=pr.head_sha
            )
        return agreed, sentence


def rerun_verdict(result: Result, head: str) -> tuple[bool | None, str]:
    """What a re-run of the tests of ``head`` says: ``(agrees with the proof, sentence)``, None: not yet."""
    where = f"a clean worktree of `{short(head)}`"
    if result.status is Status.PENDING_APPROVAL:  # SOVEREIGN mode: run_tests waits for a sovereign approval
        return None, f"re-running the tests waits for approval {result.approval_id}: {result.reason}"
    if not result.ok:
        return False, f"the tests could not be re-run in {where} ({result.status}): {result.error}"
    out = result.output
    counts = f"{out['passed']} passed, {out['failed']} failed, {out['errors']} errors"
    if out["ok"]:
        return True, f"tests re-run in {where}: {counts}; they agree with the proof"
    sentence = f"the proof says success, but the tests re-run in {where} fail: {counts} (exit {out['exit_code']})"
    return False, sentence + quoted_tail(out)


def quoted_tail(output: Mapping[str, object]) -> str:
    """The tail of a test run's output as a fenced block after a blank line ("" when there is none), indented to
    stay inside the numbered list item a reason becomes."""
    tail = [line.replace("```", "'''") for line in str(output.get("output_tail") or "").splitlines()]
    if not tail:
        return ""
    return "\n\n" + "\n".join(f"   {line}" for line in ["```", *tail, "```"])


async def _check_provenance(desk: CheckDesk, repo: str, issues: tuple[int, ...], co: Checkout) -> ProvenanceReport:
    """Re-decide the calls the provenance of the closed issues' tasks shows, with the houses' policies."""
    sources = desk.provenance
    return await asyncio.to_thread(
        check_provenance,
        sources.log,
        [f"{repo}#{issue}" for issue in issues],
        sources.policies(),
        sources.tools,
        host=desk.host,
        base_files=co.base_files,
    )
