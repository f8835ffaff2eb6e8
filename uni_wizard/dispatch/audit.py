"""Audit comments: every automated decision is a comment a person can read, found again by a hidden marker.

One audit comment per issue and purpose (``triage``, ``requeue-<claim>``...). Re-handling an issue
finds it by its marker (and its author: markers in other people's comments are ignored) and edits
it only when the text changed, so handling an issue twice never duplicates a comment.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..forge.models import Comment
from .routing import format_table
from .types import RoutingDecision, TriageResult

__all__ = ["decision_lines", "find_audit", "footer", "marker", "render_requeue", "render_triage"]


def marker(purpose: str, number: int) -> str:
    return f"<!-- uni-wizard:audit {purpose} issue={number} -->"


def find_audit(comments: Sequence[Comment], purpose: str, number: int, author: str) -> Comment | None:
    tag = marker(purpose, number)
    for comment in comments:
        if comment.user is not None and comment.user.login == author and tag in comment.body:
            return comment
    return None


def footer(host: str, epoch: int) -> str:
    return f"<sub>uni-wizard dispatcher on `{host}`, lease epoch {epoch}</sub>"


def render_triage(
    number: int, verdict: TriageResult, decision: RoutingDecision, *, host: str, epoch: int, assignee: str | None
) -> str:
    lines = [marker("triage", number), "**Triage** (automated, by Allegro)", ""]
    lines += decision_lines(verdict, decision, assignee)
    lines += ["", footer(host, epoch)]
    return "\n".join(lines)


def decision_lines(verdict: TriageResult, decision: RoutingDecision, assignee: str | None) -> list[str]:
    """The triage verdict and the routing decision with its table, as the audit comment shows them."""
    lines = [
        f"- kind: `{verdict.kind}` ({verdict.classifier}); priority: `{verdict.priority}` ({verdict.priority_rule})"
    ]
    lines += [f"- {reason}" for reason in verdict.reasons]
    if verdict.epic:
        lines.append("- please split this epic into child issues")
    if verdict.needs_info:
        lines.append("- please add acceptance criteria (a checklist or an *Acceptance criteria* section)")
    if verdict.duplicates:
        lines.append("- the possible duplicates are not closed automatically: a person decides")
    lines.append("")
    if decision.chosen is not None:
        runner = f"; runner-up `{decision.runner_up}`" if decision.runner_up else ""
        who = f" (assigned to @{assignee})" if assignee else ""
        lines.append(f"**Routed to `{decision.chosen}`**{who}{runner}. {decision.reason}")
    else:
        lines.append(f"**Not routed**: {decision.reason}")
    lines += ["", "```", format_table(decision), "```"]
    predicted = [c for c in decision.candidates if c.eligible]
    if predicted:
        parts = [f"{c.house} {c.history:.2f} ± {c.uncertainty:.2f} ({c.samples})" for c in predicted]
        lines.append(f"Predicted success on `{verdict.kind}` (outcomes behind it): {', '.join(parts)}.")
    return lines


def render_requeue(number: int, house: str, expired: str, *, host: str, epoch: int) -> str:
    return "\n".join(
        [
            marker(f"requeue-{expired}", number),
            f"**Requeued**: the claim of `{house}` expired at {expired} without being renewed; "
            f"the issue is back in `status/routed` for `{house}` to pick up again.",
            "",
            footer(host, epoch),
        ]
    )
