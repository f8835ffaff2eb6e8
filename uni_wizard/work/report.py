"""The report comment a house leaves on an issue it worked on, and the artifacts too long for it.

One report comment per house and issue, found again by ``report_marker`` (the same marker for the
work report and the "blocked" comment, so a later run replaces the earlier comment instead of adding
one). Outputs of at most ``INLINE_LIMIT`` characters (as text, or as JSON) are shown in the comment;
longer ones are written by ``ArtifactStore`` under the host's artifact folder and named by path and
sha256. Secret-looking keys (token, password...) are redacted in both.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import PlaybookError
from ..harness.provenance import redact
from .types import AgentRun, StepOutcome

__all__ = [
    "INLINE_LIMIT",
    "Artifact",
    "ArtifactStore",
    "agent_notes",
    "render_blocked",
    "render_report",
    "report_marker",
]

INLINE_LIMIT = 1_500
# Beyond this many characters of inline outputs, later outputs go to artifacts too (comments stay readable).
COMMENT_BUDGET = 40_000

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def report_marker(house: str, number: int) -> str:
    return f"<!-- uni-wizard:report house={house} issue={number} -->"


class Artifact(NamedTuple):
    """Where an artifact was written: ``path`` relative to the store's root, its sha256 and size in bytes."""

    path: str
    sha256: str
    size: int


class ArtifactStore:
    """Writes step outputs as JSON under ``root/<repo-slug>/<issue>/<step>-<tool>.json``, atomically.

    >>> ArtifactStore(Path("/srv/sync/host1/artifacts")).save("ops/mesh", 12, 2, "run_tests", {...})
    Artifact(path='ops__mesh/12/2-run_tests.json', sha256='...', size=48213)
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, repo: str, issue: int, index: int, tool: str) -> str:
        return f"{_slug(repo)}/{int(issue)}/{int(index)}-{_slug(tool)}.json"

    def save(self, repo: str, issue: int, index: int, tool: str, data: Any) -> Artifact:
        relative = self.path_for(repo, issue, index, tool)
        payload = (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode()
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Artifact(relative, hashlib.sha256(payload).hexdigest(), len(payload))


def _slug(text: str) -> str:
    """One safe path component: ``owner/name`` becomes ``owner__name``; never empty, ``.`` or ``..``."""
    parts = (_UNSAFE.sub("-", part).strip(".-") for part in text.split("/"))
    return "__".join(part for part in parts if part) or "unnamed"


def render_report(
    house: str,
    number: int,
    outcomes: Sequence[StepOutcome],
    *,
    artifacts: ArtifactStore,
    repo: str,
    pr_url: str | None,
    status: str,
    reason: str,
    host: str,
) -> str:
    """The report comment: status and reason, a table of the steps, their outputs, the pull request.

    ``repo`` (``owner/name``) names the artifact folder; ``status`` is the issue's new state
    (``review``, ``done``, ``blocked``...) and ``reason`` one sentence on why.
    """
    lines = [report_marker(house, number), f"**Work report** by `{house}`: **{_cell(status)}**", ""]
    if reason:
        lines += [reason, ""]
    if pr_url:
        lines += [f"Pull request: {pr_url}", ""]
    if not outcomes:
        lines += ["No step ran.", ""]
    else:
        lines += ["| # | step | tool | status | provenance | duration |", "|---|---|---|---|---|---|"]
        for index, outcome in enumerate(outcomes, start=1):
            result = outcome.result
            provenance = f"#{result.provenance_id}" if result.provenance_id is not None else "-"
            lines.append(
                f"| {index} | {_cell(outcome.step.name) or '-'} | `{_cell(outcome.step.tool)}` "
                f"| {_step_status(outcome)} | {provenance} | {result.duration:.2f} s |"
            )
        lines.append("")
        budget = COMMENT_BUDGET
        for index, outcome in enumerate(outcomes, start=1):
            section, used = _section(index, outcome, artifacts, repo, number, host, house, budget)
            budget -= used
            lines += section
    lines.append(f"<sub>uni-wizard worker `{house}` on `{host}`</sub>")
    return "\n".join(lines)


def _step_status(outcome: StepOutcome) -> str:
    if not outcome.result.ok:
        return str(outcome.result.status)
    return "ok" if outcome.ok else "expectation failed"


def _section(
    index: int,
    outcome: StepOutcome,
    artifacts: ArtifactStore,
    repo: str,
    number: int,
    host: str,
    house: str,
    budget: int,
) -> tuple[list[str], int]:
    """The step's heading, its error and failed expectations, and its output (inline or as an artifact)."""
    step, result = outcome.step, outcome.result
    title = f"{step.name} (`{step.tool}`)" if step.name else f"`{step.tool}`"
    lines = [f"**Step {index}**: {_cell(title)}: {_step_status(outcome)}", ""]
    problem = result.error or (result.reason if not result.ok else None)
    if problem:
        kind = f" ({result.error_type})" if result.error_type else ""
        lines += [f"Error{kind}:", *_fenced(problem, "text"), ""]
    if outcome.failures:
        lines += [f"- expectation failed: {_inline(failure)}" for failure in outcome.failures]
        lines.append("")
    if result.output is None:
        return lines, 0
    output = redact(result.output)
    text, lang = (output, "text") if isinstance(output, str) else (_json(output), "json")
    if len(text) <= INLINE_LIMIT and len(text) <= budget:
        lines += [*_fenced(text, lang), ""]
        return lines, len(text)
    saved = artifacts.save(
        repo,
        number,
        index,
        step.tool,
        {
            "house": house,
            "repo": repo,
            "issue": number,
            "step": index,
            "name": step.name,
            "tool": step.tool,
            "status": str(result.status),
            "provenance_id": result.provenance_id,
            "output": output,
        },
    )
    kind = "text" if lang == "text" else "JSON"
    lines += [
        f"Output: {len(text):,} characters of {kind}, saved on `{host}` as artifact `{saved.path}` "
        f"({saved.size:,} bytes, sha256 `{saved.sha256}`).",
        "",
    ]
    return lines, 0


def agent_notes(run: AgentRun) -> str:
    """The model planner's part of a report: how its loop ended, what it cost, and its answer."""
    text = "Model planner: " + run.summary()
    answer = run.answer.strip()
    if answer:
        if len(answer) > INLINE_LIMIT:
            answer = answer[:INLINE_LIMIT] + f"\n[... {len(answer) - INLINE_LIMIT:,} more characters not shown]"
        text += "\n\nIts answer:\n\n" + "\n".join(_fenced(answer, "text"))
    return text


def render_blocked(
    house: str, number: int, error: PlaybookError | str, *, blocked_label: str = "status/blocked"
) -> str:
    """The comment for an issue the house cannot work on as written (a bad playbook, or no plan at all)."""
    lines = [report_marker(house, number), f"**Blocked**: `{house}` cannot work on this issue as it is written.", ""]
    if isinstance(error, PlaybookError):
        where = f" (line {error.line} of the issue body)" if error.line is not None else ""
        lines += [
            f"The `uni-wizard` playbook in the issue body is not valid{where}:",
            "",
            *_fenced(str(error), "text"),
            "",
            "Nothing was run. Fix the playbook by editing the issue body; the grammar is in the "
            "docstring of `uni_wizard/work/playbook.py`.",
        ]
    else:
        lines.append(error.strip())
    lines += ["", f"The issue is now `{blocked_label}`.", "", f"<sub>uni-wizard worker `{house}`</sub>"]
    return "\n".join(lines)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _fenced(text: str, lang: str) -> list[str]:
    """``text`` in a fenced block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", text, fence]


def _cell(text: str) -> str:
    """``text`` safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _inline(text: str) -> str:
    return " ".join(text.split())
