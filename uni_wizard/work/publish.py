"""What a worker writes on the forge besides labels: the proof (commit status and comment), the pull
request, and comments found again by their marker.

Everything here is idempotent, so a restarted worker that redoes a task writes nothing twice: the
proof status is not posted again when the newest ``uni-wizard/proof`` status of the sha already
says the same; the proof comment is found by its marker (house, issue and sha) and edited only when
its text changed; the pull request for the head branch is reused when one is open.

Without reads that cannot find anything: on a branch the forge did not have before this run (``fresh``) the
proof status is posted and the pull request created without listing first (a 409 "already exists" still
finds the open one); a run's comments are listed once (``CommentBook``) and the label ids once per
repository (``LabelIds``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import Conflict, ForgeError
from ..forge.models import Comment, PullRequest
from ..harness.result import Result
from ..reporef import RepoRef
from .forge_api import WorkForge
from .types import StepOutcome

__all__ = [
    "PROOF_CONTEXT",
    "CommentBook",
    "LabelIds",
    "Proof",
    "fence",
    "open_pull",
    "post_proof",
    "proof_command",
    "proof_marker",
    "pull_body",
    "upsert_comment",
]

log = logging.getLogger(__name__)
PROOF_CONTEXT = "uni-wizard/proof"
StatusState = Literal["pending", "success", "error", "failure", "warning"]


def fence(text: str, info: str = "") -> str:
    """``text`` in a fenced code block whose fence is longer than any backtick run inside it."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


class CommentBook:
    """The comments of issue ``number`` of ``repo`` as one run of the worker knows them: listed once (at the
    claim), then kept current with what the run itself writes, so that the proof and the report find their
    comment by marker without listing the issue's comments again. Only the house's own forge user writes
    the markers it looks for, and it works an issue under a claim, one run at a time; a run that starts later
    (a restart) lists again."""

    def __init__(self, forge: WorkForge, repo: str, number: int) -> None:
        self.forge, self.repo, self.number = forge, repo, number
        self._comments: list[Comment] | None = None

    async def comments(self) -> list[Comment]:
        if self._comments is None:
            owner, name = RepoRef.parse(self.repo)
            self._comments = await self.forge.list_comments(owner, name, self.number)
        return list(self._comments)

    def written(self, comment: Comment) -> Comment:
        """Note ``comment`` as this run wrote it (created, or edited in place)."""
        if self._comments is not None:
            self._comments = [c for c in self._comments if c.id != comment.id] + [comment]
        return comment


async def upsert_comment(
    forge: WorkForge, repo: str, number: int, marker: str, body: str, *, login: str, book: CommentBook | None = None
) -> Comment:
    """Post ``body`` on the issue, or edit the comment by ``login`` holding ``marker`` (only when its text
    changed): one comment per marker, however often this runs. ``book`` (this run's comments) spares the
    listing."""
    book = book or CommentBook(forge, repo, number)
    owner, name = RepoRef.parse(repo)
    for comment in await book.comments():
        if comment.user is not None and comment.user.login == login and marker in comment.body:
            if comment.body.strip() == body.strip():
                return comment
            return book.written(await forge.edit_comment(owner, name, comment.id, body))
    return book.written(await forge.create_comment(owner, name, number, body))


# -- the proof ------------------------------------------------------------------------------------


def proof_marker(house: str, number: int, sha: str) -> str:
    return f"<!-- uni-wizard:proof house={house} issue={number} sha={sha} -->"


@dataclass(frozen=True)
class Proof:
    """The verdict on a head sha: ``state`` as posted (success, failure or error) and its description."""

    sha: str
    state: StatusState
    description: str
    result: Result

    @property
    def ok(self) -> bool:
        return self.state == "success"


def judge_proof(sha: str, result: Result) -> Proof:
    """A run_tests ``Result`` as a proof: success only when the call worked and the run passed."""
    out: dict[str, Any] = result.output if isinstance(result.output, dict) else {}
    if not result.ok:
        why = result.error or result.reason or str(result.status)
        return Proof(sha, "error", f"the tests did not run: {why}"[:140], result)
    failed = int(out.get("failed", 0)) + int(out.get("errors", 0))
    description = f"{out.get('passed', 0)} passed, {failed} failed"
    if out.get("skipped"):
        description += f", {out['skipped']} skipped"
    if out.get("counts_known") is False:
        description = f"exit code {out.get('exit_code')}, counts unknown"
    return Proof(sha, "success" if out.get("ok") else "failure", description, result)


def proof_command(result: Result) -> str:
    """Which test command ran and why it was chosen, as one line (empty when the tests did not run)."""
    out: dict[str, Any] = result.output if isinstance(result.output, dict) else {}
    if not out:
        return ""
    command = " ".join(str(a) for a in out.get("command", []))
    why = f" ({out['why']})" if out.get("why") else ""
    return f"`{command}`{why}"


def render_proof(house: str, number: int, branch: str, proof: Proof, *, host: str) -> str:
    out: dict[str, Any] = proof.result.output if isinstance(proof.result.output, dict) else {}
    verdict = "passed" if proof.ok else "FAILED" if proof.state == "failure" else "could not run"
    lines = [
        proof_marker(house, number, proof.sha),
        f"**Proof** for `{proof.sha[:12]}` on `{branch}`: {verdict} ({proof.description}).",
        "",
    ]
    if out:
        lines.append(f"- test command {proof_command(proof.result)}")
        lines.append(f"- summary read as `{out.get('runner', '?')}`, exit code {out.get('exit_code')}")
        if out.get("note"):
            lines.append(f"- {out['note']}")
    lines.append(f"- commit status `{PROOF_CONTEXT}`: `{proof.state}`")
    lines.append(f"- provenance #{proof.result.provenance_id} on `{host}` (`uni-wizard provenance show <id>`)")
    tail = str(out.get("output_tail") or proof.result.error or "")
    if tail:
        lines += ["", "<details><summary>output (last lines)</summary>", "", fence(tail, "text"), "", "</details>"]
    return "\n".join(lines)


async def post_proof(
    forge: WorkForge,
    repo: str,
    number: int,
    *,
    house: str,
    login: str,
    branch: str,
    sha: str,
    result: Result,
    host: str,
    fresh: bool = False,
    book: CommentBook | None = None,
) -> Proof:
    """Post the ``uni-wizard/proof`` status on ``sha`` and the proof comment (both idempotent). ``fresh``: this
    run made ``sha`` (a commit on a branch the forge did not have), so it carries no status yet and the
    statuses are not listed first; ``book``: this run's comments of the issue."""
    owner, name = RepoRef.parse(repo)
    proof = judge_proof(sha, result)
    latest = None
    if not fresh:
        statuses = [s for s in await forge.list_statuses(owner, name, sha) if s.context == PROOF_CONTEXT]
        latest = statuses[0] if statuses else None  # newest first
    if latest is None or (latest.status, latest.description) != (proof.state, proof.description):
        await forge.create_status(owner, name, sha, proof.state, PROOF_CONTEXT, description=proof.description)
    body = render_proof(house, number, branch, proof, host=host)
    await upsert_comment(forge, repo, number, proof_marker(house, number, sha), body, login=login, book=book)
    return proof


# -- the pull request -----------------------------------------------------------------------------


def pull_body(
    number: int,
    title: str,
    outcomes: Sequence[StepOutcome],
    *,
    house: str,
    host: str,
    task: str,
    proof: Proof | None,
) -> str:
    lines = [f"Closes #{number}", "", f"{title}, done by `{house}` through its Harness.", ""]
    for index, outcome in enumerate(outcomes, 1):
        step = outcome.step
        label = f" ({step.name})" if step.name else ""
        mark = "ok" if outcome.ok else str(outcome.result.status)
        lines.append(f"{index}. `{step.tool}`{label}: {mark}, provenance #{outcome.result.provenance_id}")
    if proof is not None:
        lines += ["", f"Proof: `{PROOF_CONTEXT}` {proof.state} on `{proof.sha[:12]}` ({proof.description})."]
    ids = ", ".join(f"#{o.result.provenance_id}" for o in outcomes if o.result.provenance_id is not None)
    lines += [
        "",
        f"Provenance: records {ids or 'none'} on host `{host}`, task `{task}` "
        f"(`uni-wizard provenance tail --task '{task}'`, `uni-wizard provenance show <id>`).",
    ]
    return "\n".join(lines)


class LabelIds:
    """The repositories' label ids by name, listed once per repository (a pull request is created with its
    label ids); ``forget`` drops a listing that proved stale."""

    def __init__(self) -> None:
        self._ids: dict[str, dict[str, int]] = {}

    async def of(self, forge: WorkForge, repo: str) -> dict[str, int]:
        if repo not in self._ids:
            owner, name = RepoRef.parse(repo)
            self._ids[repo] = {label.name: label.id for label in await forge.list_labels(owner, name)}
        return self._ids[repo]

    def forget(self, repo: str) -> None:
        self._ids.pop(repo, None)


async def _find_pull(forge: WorkForge, repo: str, branch: str) -> PullRequest | None:
    owner, name = RepoRef.parse(repo)
    for pull in await forge.list_pulls(owner, name, state="open"):
        if pull.head_ref == branch:
            return pull
    return None


async def _create_pull(
    forge: WorkForge, repo: str, *, branch: str, base: str, title: str, body: str, label_ids: list[int]
) -> PullRequest | None:
    """The pull request created from ``branch``; None when one is open already (a previous run's)."""
    owner, name = RepoRef.parse(repo)
    try:
        return await forge.create_pull(owner, name, head=branch, base=base, title=title, body=body, labels=label_ids)
    except Conflict:  # "pull request already exists for these targets"
        return None


async def open_pull(
    forge: WorkForge,
    repo: str,
    *,
    branch: str,
    base: str,
    title: str,
    body: str,
    label: str,
    fresh: bool = False,
    labels: LabelIds | None = None,
    opened: Callable[[], None] | None = None,
) -> PullRequest:
    """The open pull request from ``branch``, created when there is none (its body refreshed when there
    is), labelled ``label``. ``fresh``: the forge had no ``branch`` before this run pushed it, so no pull
    request can be open from it and it is created straight away (a conflict still finds the open one);
    ``labels``: the label ids known from an earlier call; ``opened`` is called when this call created it."""
    owner, name = RepoRef.parse(repo)
    labels = labels or LabelIds()
    known = await labels.of(forge, repo)
    label_ids = [known[label]] if label in known else []
    pull = None if fresh else await _find_pull(forge, repo, branch)
    created = pull is None
    if pull is None:
        pull = await _create_pull(forge, repo, branch=branch, base=base, title=title, body=body, label_ids=label_ids)
    if pull is None:  # opened meanwhile (a previous run's request that got through)
        created, pull = False, await _find_pull(forge, repo, branch)
        if pull is None:
            raise Conflict(f"{repo}: a pull request from {branch} exists, but none is open")
    if created and opened is not None:
        opened()
    if not created and pull.body.strip() != body.strip():
        try:
            await forge.edit_issue(owner, name, pull.number, body=body)
        except ForgeError as exc:
            log.warning("%s#%d: could not refresh the pull request's body: %s", repo, pull.number, exc)
    if label not in {lab.name for lab in pull.labels}:
        labels.forget(repo)  # an id that no longer names the label, or a label made since: by name, once
        await forge.add_labels(owner, name, pull.number, [label])
    return pull
