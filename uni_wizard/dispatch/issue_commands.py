"""The dispatcher's comment commands on issues (the grammar and the "once" rule: ``commands.py``).

``steer`` runs before the dispatcher plans an issue: each comment holding commands it has not answered yet is
planned, applied and answered in turn (oldest first; the issue read again after each comment that changed it),
so the plan that follows sees the issue as the commands left it. In a dry run nothing is applied and the
plans all start from the issue as listed.

- ``/hold``: the ``hold`` label (``dispatcher.hold_label``); the dispatcher then neither triages, routes nor
  assigns the issue. An issue a house has already is left with it (the reply says so).
- ``/unhold``: the label removed; the next pass triages and routes the issue.
- ``/retry``: an issue in ``status/blocked`` goes back to ``status/triage``: triaged and routed again.
- ``/route <house>``: ``status/routed``, ``house/<house>`` and the house's forge user assigned, whatever the
  routing would choose; the reply is an audit comment (marker ``route-<comment id>``, the lease epoch)
  naming who asked and what routing had chosen. Refused for a house that does not take issues, and for an
  issue a house is working on or that waits for review (``/hold`` first, then ask the house).
- ``/explain``: the triage verdict and the routing table, as routing decides now.
- ``/approve``: answered with where approving happens (on a pull request, with the review button).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..forge.actions import Action
from ..forge.models import Comment, Issue
from ..observe.events import EventKind, EventLog
from ..policy.model import HousePolicy
from ..reporef import RepoRef
from .audit import decision_lines, footer, marker
from .commands import Authority, Command, CommandComment, Outcome, pending, render_reply
from .config import TriageConfig
from .forge_api import DispatchForge
from .lease import Lease
from .metrics import DispatchMetrics
from .state import relabeled
from .types import RoutingDecision, TriageResult

__all__ = ["QuietThreads", "SteerDesk", "steer"]

log = logging.getLogger(__name__)

ROUTABLE = (None, "triage", "routed", "blocked")  # the statuses /route may move an issue out of


class QuietThreads:
    """The issues whose thread was read and asked for nothing, each with the comment count and update time it
    had then: while both are unchanged (a new comment changes both) a sweep need not read the thread again.
    In memory only (a restart costs one read per issue) and bounded (the oldest half forgotten when full)."""

    def __init__(self, limit: int = 20_000) -> None:
        self._seen: dict[tuple[str, int], tuple[int, object]] = {}
        self._limit = limit

    @staticmethod
    def _mark(issue: Issue) -> tuple[int, object]:
        return issue.comments, issue.updated_at

    def unchanged(self, repo: str, issue: Issue) -> bool:
        return issue.updated_at is not None and self._seen.get((repo, issue.number)) == self._mark(issue)

    def remember(self, repo: str, issue: Issue) -> None:
        if len(self._seen) >= self._limit:
            for key in list(self._seen)[: self._limit // 2]:
                del self._seen[key]
        self._seen[(repo, issue.number)] = self._mark(issue)

    def forget(self, repo: str, issue: Issue) -> None:
        self._seen.pop((repo, issue.number), None)


class SteerDesk(Protocol):
    """What the commands use of the dispatcher (``Dispatcher`` is one)."""

    forge: DispatchForge
    login: str
    config: TriageConfig
    houses: dict[str, HousePolicy]
    lease: Lease
    host: str
    events: EventLog
    metrics: DispatchMetrics
    dry_run: bool
    authority: Authority
    quiet_threads: QuietThreads

    async def explain(self, repo: str, issue: Issue) -> tuple[TriageResult, RoutingDecision]: ...


@dataclass
class _Plan:
    """The issue as one comment's commands leave it: its labels, its assignee, and what the reply says."""

    labels: list[str]
    assignee: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    routed: str | None = None  # the house /route chose


async def steer(
    desk: SteerDesk, repo: str, issue: Issue, epoch: int
) -> tuple[list[Action], Issue, list[Comment] | None]:
    """Act on ``issue``'s unanswered commands (see the module's docstring): the actions (applied unless dry-run),
    the issue as they left it, and its comments when they were read and nothing was written since (None
    otherwise: whoever needs them reads them)."""
    if issue.state != "open" or issue.comments == 0 or desk.quiet_threads.unchanged(repo, issue):
        return [], issue, None
    owner, name = RepoRef.parse(repo)
    thread = await desk.forge.list_comments(owner, name, issue.number)
    asked = pending(thread, desk.login)
    if not asked:
        desk.quiet_threads.remember(repo, issue)
        return [], issue, thread
    desk.quiet_threads.forget(repo, issue)
    actions: list[Action] = []
    for item in asked:
        planned = await _plan_comment(desk, repo, issue, item, epoch)
        for action in planned:
            if desk.dry_run or action.apply is None:
                continue
            if desk.lease.ensure() != epoch:  # deposed meanwhile: stop; the next holder answers the rest
                return actions, issue, None
            await action.apply()
            desk.metrics.sweep_repairs.labels(action.kind).inc()
        actions += planned
        if not desk.dry_run and any(a.apply is not None and a.kind != "command" for a in planned):
            issue = await desk.forge.get_issue(owner, name, issue.number)
    return actions, issue, None


async def _plan_comment(desk: SteerDesk, repo: str, issue: Issue, asked: CommandComment, epoch: int) -> list[Action]:
    """The writes one comment's commands need (labels, assignee), then the reply that answers it and records
    it (event, log line)."""
    owner, name = RepoRef.parse(repo)
    number = issue.number
    current = [label.name for label in issue.labels]
    plan = _Plan(list(current))
    for command in asked.commands:
        refusal = desk.authority.refusal(asked.author, command)
        if refusal is not None:
            plan.outcomes.append(Outcome(command, f"not done, sorry @{asked.author}: {refusal}.", acted=False))
        else:
            await _plan_command(desk, repo, issue, command, plan)
    actions = []
    target = sorted(plan.labels)
    if target != sorted(current):
        write = lambda: desk.forge.replace_labels(owner, name, number, target)  # noqa: E731
        actions.append(Action("relabel", f"labels {', '.join(target)} (commands of comment {asked.comment_id})", write))
    if plan.assignee is not None and [u.login for u in issue.assignees] != [plan.assignee]:
        user = plan.assignee
        assign = lambda: desk.forge.edit_issue(owner, name, number, assignees=[user])  # noqa: E731
        actions.append(Action("assign", f"assign to @{user} (/route)", assign))
    audit = marker(f"route-{asked.comment_id}", number) if plan.routed else ""
    body = render_reply(asked, plan.outcomes, footer=footer(desk.host, epoch), extra=plan.extra, audit=audit)

    async def answer() -> None:
        await desk.forge.create_comment(owner, name, number, body)
        await _record(desk, repo, number, asked, plan, epoch)

    actions.append(Action("command", f"answer the commands of comment {asked.comment_id}", answer))
    return actions


async def _plan_command(desk: SteerDesk, repo: str, issue: Issue, command: Command, plan: _Plan) -> None:
    """Plan one allowed command into ``plan`` (labels, assignee, outcome)."""
    hold = desk.config.dispatcher.hold_label
    status, house = _scoped(plan.labels, "status/"), _scoped(plan.labels, "house/")
    say = plan.outcomes.append
    if command.name == "hold":
        if hold in plan.labels:
            say(Outcome(command, f"already held (`{hold}`): nothing to do.", acted=False))
            return
        plan.labels.append(hold)
        with_house = f" It is already with `{house}` (status/{status}): tell them too." if house else ""
        say(Outcome(command, f"held: labelled `{hold}`; it is not routed until `/unhold`.{with_house}"))
    elif command.name == "unhold":
        if hold not in plan.labels:
            say(Outcome(command, "not held: nothing to do.", acted=False))
            return
        plan.labels.remove(hold)
        say(Outcome(command, f"`{hold}` removed: the next pass triages and routes it."))
    elif command.name == "retry":
        if status != "blocked":
            say(Outcome(command, f"not blocked (status/{status or 'none'}): nothing to retry.", acted=False))
            return
        plan.labels = relabeled(plan.labels, {"status/triage"})
        say(Outcome(command, "back to `status/triage`: the next pass triages and routes it again."))
    elif command.name == "route":
        await _plan_route(desk, repo, issue, command, plan, status)
    elif command.name == "explain":
        verdict, decision = await desk.explain(repo, issue)
        say(Outcome(command, "the triage and routing, as they decide now:"))
        plan.extra += ["", *decision_lines(verdict, decision, None)]
    else:  # approve
        say(Outcome(command, "approving happens on a pull request, with the review button.", acted=False))


async def _plan_route(
    desk: SteerDesk, repo: str, issue: Issue, command: Command, plan: _Plan, status: str | None
) -> None:
    """``/route <house>``: the house's labels and assignee, or why not."""
    say = plan.outcomes.append
    house = command.arg.split()[0].lower().lstrip("@") if command.arg else ""
    policy = _house(desk.houses, house)
    takers = sorted(n for n, p in desk.houses.items() if p.rules.may_take_issues)
    if policy is None or not policy.rules.may_take_issues:
        named = f"`{house}` is not a house that takes issues" if house else "which house?"
        say(Outcome(command, f"not done: {named}; usage `/route <house>`, one of {', '.join(takers)}.", acted=False))
        return
    if status not in ROUTABLE:
        why = f"it is status/{status}: `/hold` it, and ask the house working on it to stop first"
        say(Outcome(command, f"not re-routed: {why}.", acted=False))
        return
    was = _scoped(plan.labels, "house/")
    plan.labels = relabeled(plan.labels, {"status/routed", f"house/{house}"})
    plan.assignee, plan.routed = policy.gitea_user, house
    before = f", overriding routing (it had chosen `{was}`)" if was and was != house else ", overriding routing"
    say(Outcome(command, f"**routed to `{house}`** (assigned to @{policy.gitea_user}){before}."))


def _scoped(labels: Sequence[str], scope: str) -> str | None:
    return next((n.split("/", 1)[1] for n in labels if n.startswith(scope)), None)


def _house(houses: Mapping[str, HousePolicy], name: str) -> HousePolicy | None:
    return houses.get(name) if name else None


async def _record(desk: SteerDesk, repo: str, number: int, asked: CommandComment, plan: _Plan, epoch: int) -> None:
    """One event and one log line for an answered comment (and ``issue.routed`` for ``/route``)."""
    acted = [o.command.name for o in plan.outcomes if o.acted]
    refused = all(not o.acted and o.text.startswith("not done, sorry") for o in plan.outcomes)
    kind = EventKind.COMMAND_REFUSED if refused else EventKind.COMMAND_HANDLED
    data = {"author": asked.author, "commands": [c.line for c in asked.commands], "acted": acted, "epoch": epoch}
    await desk.events.emit(
        kind, f"command:{repo}#{number}:{asked.comment_id}", repository=repo, number=number, data=data
    )
    what = "; ".join(f"{o.command.line}: {o.text}" for o in plan.outcomes)
    log.info("%s commands of %s on %s#%d: %s", "refused" if refused else "answered", asked.author, repo, number, what)
    if plan.routed is not None:
        desk.metrics.routing.labels(plan.routed).inc()
        await desk.events.emit(
            EventKind.ISSUE_ROUTED,
            f"routed:{repo}#{number}:{plan.routed}:{epoch}:command-{asked.comment_id}",
            repository=repo,
            number=number,
            data={"house": plan.routed, "override": True, "by": asked.author, "epoch": epoch},
        )
