"""The reviewer's comment commands on pull requests (the grammar and the "once" rule: ``dispatch.commands``).

``steer_pull`` runs before the review of a PR: each comment holding commands the reviewer has not answered yet
gets its writes and one reply (oldest first), so the review and the merge pass that follow see the PR as the
commands left it.

- ``/hold``: the ``hold`` label (``hold_label``), which the merge gate honours: no merge until ``/unhold``.
- ``/unhold``: the label removed; the merge goes ahead once nothing else blocks it.
- ``/approve [<sha>]`` (the owner only): approves nothing. The reply says to approve head ``<sha>`` with the
  review button, and what else blocks the merge. Why not approve on the owner's word: the approval that counts
  stays one thing, a forge review by the owner, which the forge binds to the head, marks stale on a push,
  dismisses and counts for branch protection itself; Timmy's approval standing in for it would need a second
  path through the gate, the needs-owner rule and the held re-run, and could not exist on a PR Timmy opened.
- ``/explain``: what blocks the merge of the current head (``merging.plan_merge``), or that nothing does.
- ``/retry``, ``/route``: answered with where they work (the issues this PR closes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..dispatch.commands import (
    HOLD_COLOR,
    HOLD_DESCRIPTION,
    Authority,
    Command,
    CommandComment,
    Outcome,
    pending,
    render_reply,
)
from ..forge.models import Comment, PullRequest
from ..observe.events import EventKind, EventLog
from ..reporef import RepoRef
from .gate import short
from .merging import MergeDesk, plan_merge
from .types import Action

__all__ = ["SteerDesk", "steer_pull"]

log = logging.getLogger(__name__)


class SteerDesk(MergeDesk, Protocol):
    """What the commands use of the reviewer (``Reviewer`` is one)."""

    @property
    def authority(self) -> Authority: ...

    @property
    def events(self) -> EventLog | None: ...


@dataclass
class _Plan:
    labels: set[str]
    outcomes: list[Outcome] = field(default_factory=list)
    writes: list[Action] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


async def steer_pull(
    desk: SteerDesk, repo: str, pr: PullRequest, issues: Sequence[int], comments: Sequence[Comment]
) -> list[Action]:
    """The writes and the replies for ``pr``'s unanswered commands, in order (applied by the caller, in order)."""
    asked = pending(comments, desk.login)
    if not asked:
        return []
    labels = {label.name for label in pr.labels}
    actions: list[Action] = []
    for item in asked:
        plan = _Plan(labels)
        for command in item.commands:
            refusal = desk.authority.refusal(item.author, command)
            if refusal is not None:
                plan.outcomes.append(Outcome(command, f"not done, sorry @{item.author}: {refusal}.", acted=False))
            else:
                await _plan_command(desk, repo, pr, issues, command, plan)
        labels = plan.labels
        actions += [*plan.writes, _answer(desk, repo, pr.number, item, plan)]
    return actions


async def _plan_command(
    desk: SteerDesk, repo: str, pr: PullRequest, issues: Sequence[int], command: Command, plan: _Plan
) -> None:
    owner, name = RepoRef.parse(repo)
    hold, number, say = desk.config.hold_label, pr.number, plan.outcomes.append
    if command.name == "hold":
        if hold in plan.labels:
            say(Outcome(command, f"already held (`{hold}`): nothing to do.", acted=False))
            return
        plan.labels = plan.labels | {hold}
        add = lambda: _add_hold(desk, owner, name, number)  # noqa: E731
        plan.writes.append(Action("label", f"label {hold} (/hold)", add))
        say(Outcome(command, f"held: labelled `{hold}`; it is not merged until `/unhold`."))
    elif command.name == "unhold":
        if hold not in plan.labels:
            say(Outcome(command, "not held: nothing to do.", acted=False))
            return
        plan.labels = plan.labels - {hold}
        remove = lambda: _remove_hold(desk, owner, name, number)  # noqa: E731
        plan.writes.append(Action("label", f"remove {hold} (/unhold)", remove))
        say(Outcome(command, f"`{hold}` removed: it merges once nothing else blocks it (`/explain` says what does)."))
    elif command.name in ("approve", "explain"):
        await _explain(desk, repo, pr, command, plan)
    else:  # retry, route
        where = ", ".join(f"#{n}" for n in issues) or "the issue it closes"
        say(Outcome(command, f"`/{command.name}` works on issues: use it on {where}.", acted=False))


async def _explain(desk: SteerDesk, repo: str, pr: PullRequest, command: Command, plan: _Plan) -> None:
    """``/explain``: what blocks the merge now; ``/approve``: how to approve, and the same."""
    head = pr.head_sha
    blockers = (await plan_merge(desk, repo, pr.number)).reasons
    held = desk.config.hold_label in plan.labels
    blockers = [b for b in blockers if desk.config.hold_label not in b] + (
        [f"the `{desk.config.hold_label}` label is set: `/unhold` lifts it"] if held else []
    )
    if command.name == "approve":
        named = command.arg.split()[0] if command.arg else ""
        other = f" (`{named}` is not the head)" if named and not head.startswith(named.lower()) else ""
        plan.outcomes.append(
            Outcome(
                command,
                f"nothing approved here{other}: approve head `{short(head)}` with the review button (Review → "
                "Approve). The forge binds that approval to this head and makes it stale on a push; as the owner "
                "you are on the approvals whitelist, so it counts, and the merge follows within seconds.",
                acted=False,
            )
        )
    else:
        plan.outcomes.append(Outcome(command, f"head `{short(head)}`:"))
    if blockers:
        plan.extra += ["", f"What blocks the merge of `{short(head)}` now:", *(f"- {b}" for b in blockers)]
    else:
        plan.extra += ["", f"Nothing blocks the merge of `{short(head)}`: it merges on the reviewer's next pass."]


async def _add_hold(desk: SteerDesk, owner: str, name: str, number: int) -> None:
    hold = desk.config.hold_label
    await desk.forge.ensure_label(owner, name, hold, HOLD_COLOR, description=HOLD_DESCRIPTION)
    await desk.forge.add_labels(owner, name, number, [hold])


async def _remove_hold(desk: SteerDesk, owner: str, name: str, number: int) -> None:
    """The hold label off the PR, found on it now (nothing to do when someone removed it meanwhile)."""
    labels = (await desk.forge.get_pull(owner, name, number)).labels
    for label in labels:
        if label.name == desk.config.hold_label:
            await desk.forge.remove_label(owner, name, number, label.id)


def _answer(desk: SteerDesk, repo: str, number: int, asked: CommandComment, plan: _Plan) -> Action:
    """The reply to ``asked``, then its event and log line."""
    owner, name = RepoRef.parse(repo)
    body = render_reply(
        asked, plan.outcomes, footer=f"<sub>uni-wizard reviewer on `{desk.host}`</sub>", extra=plan.extra
    )
    refused = all(not o.acted and o.text.startswith("not done, sorry") for o in plan.outcomes)

    async def answer() -> None:
        await desk.forge.create_comment(owner, name, number, body)
        what = "; ".join(f"{o.command.line}: {o.text}" for o in plan.outcomes)
        verb = "refused" if refused else "answered"
        log.info("%s commands of %s on %s!%d: %s", verb, asked.author, repo, number, what)
        if desk.events is not None:
            kind = EventKind.COMMAND_REFUSED if refused else EventKind.COMMAND_HANDLED
            data = {"author": asked.author, "commands": [c.line for c in asked.commands]}
            data["acted"] = [o.command.name for o in plan.outcomes if o.acted]
            key = f"command:{repo}#{number}:{asked.comment_id}"
            await desk.events.emit(kind, key, repository=repo, number=number, data=data)

    return Action("comment", f"answer the commands of comment {asked.comment_id}", answer)
