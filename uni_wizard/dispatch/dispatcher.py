"""The dispatcher: re-derive an issue's state from the forge and repair what is missing, under the lease.

``handle`` plans the actions an issue needs (triage and route, assign, requeue an expired claim,
mark done) and, unless ``dry_run``, applies them. It is idempotent: an issue already in the state
it should be in produces no action, and the audit comment is found by its marker and edited,
never duplicated. The order of writes makes a crash at any point harmless: the audit comment
first, then the labels, then the assignee; the next sweep sees what is missing and finishes.

Nothing is written unless the lease is held; every write re-checks it, and the audit comment
names the epoch that decided.

Before planning, ``handle`` acts on the issue's comment commands (``/hold``, ``/route <house>``, ...; see
``issue_commands.py``), each comment once, and an issue carrying the hold label is neither triaged, routed
nor assigned. Each decision is one INFO line of this module's logger.

Triage, duplicate detection and routing read bounded text and run off the event loop (``engine.py``):
an issue of megabytes neither stalls the loop (``/health``, the webhook intake, the watchdog pings)
nor delays the next issue by more than its first ``limits.body_chars`` characters cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from ..forge.actions import Action
from ..forge.models import Comment, Issue
from ..memory import MemoryIndex
from ..observe.events import EventKind, EventLog
from ..policy.model import HousePolicy
from ..reporef import RepoRef
from ..store import Store
from .audit import find_audit, render_requeue, render_triage
from .bids import BidLedger
from .commands import Authority
from .config import TriageConfig
from .engine import TriageEngine
from .forge_api import DispatchForge
from .history import RoutingLedger
from .issue_commands import QuietThreads, steer
from .issue_states import IssueStates
from .lease import Lease
from .metrics import DispatchMetrics
from .offload import Offload
from .state import IssueState, derive, latest_claim, relabeled
from .triage import Duplicates
from .types import Candidate, Classifier, IssueText, RoutingDecision, TriageResult
from .waiting import WaitLine, entry_of, free_slots, waiting_entry

__all__ = ["Action", "Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    """Allegro's lane for a set of repositories.

    ``forge`` acts as the dispatcher house's forge user (``login``). ``houses`` are the policies
    routing chooses from; ``config`` is ``configs/triage.yaml``; ``clock`` (wall time) dates the claims it
    reads and the triage latency it measures. ``owner`` (the owner's forge user) and the forge users of the
    houses that may approve (Timmy) may use the comment commands.
    """

    def __init__(
        self,
        forge: DispatchForge,
        *,
        login: str,
        store: Store,
        config: TriageConfig,
        houses: Mapping[str, HousePolicy],
        lease: Lease,
        host: str,
        events: EventLog,
        metrics: DispatchMetrics,
        classifier: Classifier | None = None,
        clock: Callable[[], float] = time.time,
        dry_run: bool = False,
        offload: Offload | None = None,
        owner: str = "owner",
        memory: MemoryIndex | None = None,
    ) -> None:
        self.forge = forge
        self.login = login
        self.store = store
        self.config = config
        self.houses = dict(houses)
        self.lease = lease
        self.host = host
        self.events = events
        self.metrics = metrics
        self.classifier = classifier
        self.clock = clock
        self.dry_run = dry_run
        self.memory = memory  # duplicate detection searches it when given (else the bag-of-stems cosine)
        self.ledger = RoutingLedger(store)
        self.states = IssueStates(store)
        self.engine = TriageEngine(config, offload)
        self.open_issues: dict[str, dict[int, IssueText]] = {}  # bounded texts, for duplicate detection
        self._users = {p.gitea_user: name for name, p in self.houses.items()}
        sovereigns = frozenset(p.gitea_user for p in self.houses.values() if p.rules.may_approve)
        self.authority = Authority(owner, sovereigns)
        self.quiet_threads = QuietThreads()
        self.waiting = WaitLine(config.dispatcher.hold_label, clock)  # triaged, not routed: in routing order
        metrics.watch_line(self.waiting)

    # -- planning and applying -------------------------------------------------------
    async def handle(self, repo: str, issue: Issue) -> list[Action]:
        """Plan what ``issue`` needs and apply it (unless dry-run); return the actions."""
        if issue.is_pull:
            return []
        epoch = self.lease.ensure() if not self.dry_run else self.lease.epoch
        steered, issue, thread = await steer(self, repo, issue, epoch)  # applied one comment at a time
        self.waiting.observe(repo, issue)
        actions = await self._plan(repo, issue, epoch, thread)
        for action in actions:
            if self.dry_run or action.apply is None:
                continue
            if self.lease.ensure() != epoch:  # deposed (and re-elected) meanwhile: stop here
                break
            await action.apply()
            self.metrics.sweep_repairs.labels(action.kind).inc()
            if action.kind not in ("triage", "comment"):  # triage logs its own line (record)
                log.info("%s#%d: %s", repo, issue.number, action.description)
        if not self.dry_run:
            self.states.remember(repo, issue.number, derive(issue), actions)
            _settle(self, repo, derive(issue))
            if any(a.leaves is not None and a.leaves[0] != "triage" for a in actions if a.apply is not None):
                self.waiting.drop(repo, issue.number)
        return [*steered, *actions]

    async def explain(self, repo: str, issue: Issue) -> tuple[TriageResult, RoutingDecision]:
        """The triage verdict and routing decision for ``issue`` as they would be made now (``/explain``)."""
        text = self.engine.bound(IssueText(issue.number, issue.title, issue.body, tuple(issue.label_names)))
        return await self._decide(repo, text, again=True)

    async def _plan(self, repo: str, issue: Issue, epoch: int, thread: Sequence[Comment] | None) -> list[Action]:
        state = derive(issue)
        self._track_open(repo, issue)
        if not state.open:
            if state.status not in (None, "done") and state.house:
                return [
                    self._relabel(repo, issue, {"status/done"}, "closed: mark it done", leaves=("done", state.house))
                ]
            return []
        if state.status == "triage" and self._held(repo, issue, state.labels):
            return []  # triaged and held for lack of a free house: nothing can change until one frees up
        if self.config.dispatcher.hold_label in state.labels and state.status in (None, "triage", "routed"):
            return []  # held by a person (/hold): neither triaged, routed nor assigned
        if state.untriaged:
            return await self._triage_and_route(repo, issue, epoch, thread)
        if state.status == "routed" and state.house and not state.assignees:
            return [self._assign(repo, issue, state.house, "routed without an assignee: assign it")]
        if state.status == "in-progress" and state.house:
            return await self._check_claim(repo, issue, state.house, epoch, thread)
        return []

    def _held(self, repo: str, issue: Issue, labels: tuple[str, ...]) -> bool:
        """Whether an issue in ``status/triage`` already carries its triage and must keep waiting (no house has
        room, or an issue that sorts before it waits: ``waiting.py``). Such an issue was triaged and explained
        before (the audit comment is written first); re-triaging it on every sweep would cost a read of its
        comments and a triage each time for nothing."""
        triaged = any(n.startswith("kind/") for n in labels) and any(n.startswith("priority/") for n in labels)
        entry = waiting_entry(repo, issue, self.config.dispatcher.hold_label)
        return (
            triaged and entry is not None and self.waiting.blocked(entry, free_slots(self.houses, self.states.load()))
        )

    async def _comments(self, repo: str, number: int, thread: Sequence[Comment] | None) -> Sequence[Comment]:
        """The issue's comments: ``thread`` when the commands read them already (and wrote nothing)."""
        owner, name = RepoRef.parse(repo)
        return thread if thread is not None else await self.forge.list_comments(owner, name, number)

    async def _triage_and_route(
        self, repo: str, issue: Issue, epoch: int, thread: Sequence[Comment] | None
    ) -> list[Action]:
        owner, name = RepoRef.parse(repo)
        labels = tuple(label.name for label in issue.labels)
        text = self.engine.bound(IssueText(issue.number, issue.title, issue.body, labels))
        comments = await self._comments(repo, issue.number, thread)
        existing = find_audit(comments, "triage", issue.number, self.login)
        verdict, decision = await self._decide(repo, text, again=existing is not None)
        decision = self.waiting.gate(entry_of(repo, issue, verdict.priority), decision)  # never past the line
        chosen = decision.chosen
        user = self.houses[chosen].gitea_user if chosen else None
        body = render_triage(issue.number, verdict, decision, host=self.host, epoch=epoch, assignee=user)
        actions: list[Action] = []
        if self.config.dispatcher.triage_comment and (existing is None or existing.body.strip() != body.strip()):
            write = (
                (lambda: self.forge.create_comment(owner, name, issue.number, body))
                if existing is None
                else (lambda: self.forge.edit_comment(owner, name, existing.id, body))
            )
            actions.append(Action("comment", "post the triage and routing audit comment", write))
        wanted = set(verdict.labels) | ({"status/routed", f"house/{chosen}"} if chosen else {"status/triage"})
        leaves = ("routed", chosen) if chosen else ("triage", None)
        actions.append(
            self._relabel(repo, issue, wanted, f"label {', '.join(sorted(wanted))}", leaves=leaves, flags=True)
        )
        if chosen is not None and user is not None:
            actions.append(self._assign(repo, issue, chosen, f"assign to {chosen} (@{user})"))
        if all(action.apply is None for action in actions):
            return actions  # triaged again, routed to nobody again, explained already: nothing to record

        async def record() -> None:
            await _record_decision(self, repo, issue, verdict, decision, epoch)

        actions.append(Action("triage", f"record the decision: {chosen or 'nobody'}", record, leaves=leaves))
        return actions

    async def _decide(self, repo: str, text: IssueText, *, again: bool) -> tuple[TriageResult, RoutingDecision]:
        """Triage ``text`` (bounded) against the open issues of ``repo``, then route it: off the event loop."""
        others = [t for n, t in self.open_issues.get(repo, {}).items() if n != text.number]
        duplicates, search = await self.engine.duplicates_of(repo, text, others, self.memory)
        verdict = await self._triage(text, duplicates, search, again=again)
        history, load, weights = self.ledger.history(verdict.kind), self.states.load(), self.config.routing
        decision = await self.engine.route(text, verdict.kind, self.houses, history=history, load=load, weights=weights)
        return verdict, decision

    async def _triage(self, text: IssueText, duplicates: Duplicates, search: str, *, again: bool) -> TriageResult:
        """The verdict on ``text``. Triaged ``again`` (our audit comment is there: no house took the issue, or
        a person asked for a re-triage), its ``kind/*`` and ``priority/*`` labels are likely our own last
        verdict: when the verdict without them gives the same labels, it stands (so the audit comment does
        not change); a label a person changed still decides."""
        own = {label for label in text.labels if label.startswith(("kind/", "priority/"))}
        if again and own:
            bare = replace(text, labels=tuple(label for label in text.labels if label not in own))
            verdict = await self.engine.triage(bare, duplicates, self.classifier, search)
            if own <= set(verdict.labels):
                return verdict
        return await self.engine.triage(text, duplicates, self.classifier, search)

    def _relabel(
        self,
        repo: str,
        issue: Issue,
        wanted: set[str],
        why: str,
        *,
        leaves: tuple[str, str | None],
        flags: bool = False,
        kind: str = "relabel",
    ) -> Action:
        """Replace the labels of the scopes in ``wanted`` (and, with ``flags``, the epic and needs-info
        flags); every other label, managed or not, stays as it is."""
        owner, name = RepoRef.parse(repo)
        current = [label.name for label in issue.labels]
        target = relabeled(current, wanted, flags=flags)
        if sorted(current) == target:
            return Action(kind, f"labels already {', '.join(target)}", leaves=leaves)
        return Action(kind, why, lambda: self.forge.replace_labels(owner, name, issue.number, target), leaves=leaves)

    def _assign(self, repo: str, issue: Issue, house: str, why: str) -> Action:
        owner, name = RepoRef.parse(repo)
        policy = self.houses.get(house)
        if policy is None:
            return Action("assign", f"house {house!r} is unknown: cannot assign")
        if [u.login for u in issue.assignees] == [policy.gitea_user]:
            return Action("assign", f"already assigned to @{policy.gitea_user}")
        user = policy.gitea_user
        return Action("assign", why, lambda: self.forge.edit_issue(owner, name, issue.number, assignees=[user]))

    async def _check_claim(
        self, repo: str, issue: Issue, house: str, epoch: int, thread: Sequence[Comment] | None
    ) -> list[Action]:
        owner, name = RepoRef.parse(repo)
        comments = await self._comments(repo, issue.number, thread)
        claim = latest_claim(comments, self._users)
        ttl = self.config.dispatcher.claim_ttl_minutes * 60
        now = datetime.fromtimestamp(self.clock(), UTC)
        if claim is not None and claim.expires > now:
            return []
        if claim is None and issue.updated_at is not None and (now - issue.updated_at).total_seconds() < ttl:
            return []  # in progress without a claim comment yet: give the worker its TTL
        expired = claim.expires.strftime("%Y-%m-%dT%H:%M:%SZ") if claim else "unknown"
        body = render_requeue(issue.number, house, expired, host=self.host, epoch=epoch)
        actions: list[Action] = []
        if find_audit(comments, f"requeue-{expired}", issue.number, self.login) is None:
            actions.append(
                Action(
                    "comment",
                    "say why it is requeued",
                    lambda: self.forge.create_comment(owner, name, issue.number, body),
                )
            )
        actions.append(
            self._relabel(
                repo,
                issue,
                {"status/routed", f"house/{house}"},
                "requeue: the claim expired",
                leaves=("routed", house),
                kind="requeue",
            )
        )
        return actions

    # -- what the dispatcher keeps locally -------------------------------------------
    def _track_open(self, repo: str, issue: Issue) -> None:
        bucket = self.open_issues.setdefault(repo, {})
        if issue.state == "open":
            bucket[issue.number] = self.engine.bound(IssueText(issue.number, issue.title, issue.body))
        else:
            bucket.pop(issue.number, None)


def _settle(dispatcher: Dispatcher, repo: str, state: IssueState) -> None:
    """The ledger of bids brought in line with the issue as read: settled at status/done, re-assigned, void
    (``bids.py``; why here: docs/ARCHITECTURE.md, "The ledger and routing statistics")."""
    rates = {name: policy.bid_rate for name, policy in dispatcher.houses.items()}
    bids = BidLedger(dispatcher.store, rates=rates, clock=dispatcher.clock)
    actor = f"dispatcher@{dispatcher.host}"
    changed = bids.observe(repo, state.number, status=state.status, house=state.house, is_open=state.open, actor=actor)
    if changed in ("settled", "void", "reassigned"):
        log.info("%s#%d: bid %s (house %s)", repo, state.number, changed, state.house or "none")


async def _record_decision(
    dispatcher: Dispatcher, repo: str, issue: Issue, verdict: TriageResult, decision: RoutingDecision, epoch: int
) -> None:
    """A triage and routing decision, once written: the routing ledger, the metrics, a log line, an event."""
    chosen, number = decision.chosen, issue.number
    rates = {name: policy.bid_rate for name, policy in dispatcher.houses.items()}
    dispatcher.ledger.record(repo, number, verdict.kind, decision, host=dispatcher.host, epoch=epoch, rates=rates)
    if chosen is None and dispatcher.config.dispatcher.hold_label not in issue.label_names:
        dispatcher.waiting.put(entry_of(repo, issue, verdict.priority))
    else:
        dispatcher.waiting.drop(repo, number)
    metrics = dispatcher.metrics
    metrics.triage.labels(verdict.kind, verdict.priority).inc()
    metrics.routing.labels(chosen or "none").inc()
    if issue.updated_at is not None:
        metrics.triage_latency.observe(max(0.0, dispatcher.clock() - issue.updated_at.timestamp()))
    if chosen:
        runner = f", runner-up {decision.runner_up}" if decision.runner_up else ""
        log.info("routed %s#%d to %s (%s, %s%s)", repo, number, chosen, verdict.kind, verdict.priority, runner)
    else:
        log.info("held %s#%d in triage: %s", repo, number, decision.reason)
    data = {
        "kind": verdict.kind,
        "priority": verdict.priority,
        "house": chosen,
        "runner_up": decision.runner_up,
        "epoch": epoch,
        "scores": [_score(c) for c in decision.candidates[:MAX_SCORED]],  # every house's, best first (Issue page)
    }
    key = f"routed:{repo}#{number}:{chosen}:{epoch}"
    await dispatcher.events.emit(EventKind.ISSUE_ROUTED, key, repository=repo, number=number, data=data)


MAX_SCORED = 16  # houses whose scores an issue.routed event carries (a mesh has a handful; the data stays small)


def _score(candidate: Candidate) -> dict[str, object]:
    """One house's score as the event carries it: the total and each part, rounded, and why it was not eligible."""
    parts = {k: round(getattr(candidate, k), 3) for k in ("total", "text", "history", "load", "bid")}
    return {"house": candidate.house, **parts, "eligible": candidate.eligible, "why": candidate.why[:200]}
