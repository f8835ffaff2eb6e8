"""The dispatcher: re-derive an issue's state from the forge and repair what is missing, under the lease.

``handle`` plans the actions an issue needs (triage and route, assign, requeue an expired claim,
mark done) and, unless ``dry_run``, applies them. It is idempotent: an issue already in the state
it should be in produces no action, and the audit comment is found by its marker and edited,
never duplicated. The order of writes makes a crash at any point harmless: the audit comment
first, then the labels, then the assignee; the next sweep sees what is missing and finishes.

Nothing is written unless the lease is held; every write re-checks it, and the audit comment
names the epoch that decided.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..forge.client import GiteaClient
from ..forge.models import Issue
from ..observe.events import EventKind, EventLog
from ..policy.model import HousePolicy
from ..store import Store, utc_now
from .audit import find_audit, render_requeue, render_triage
from .config import TriageConfig
from .history import RoutingLedger
from .lease import Lease
from .metrics import DispatchMetrics
from .routing import route
from .state import FLAGS, derive, latest_claim, managed
from .triage import triage_with_model
from .types import Classifier, IssueText, TriageResult

__all__ = ["Action", "Dispatcher"]


@dataclass
class Action:
    """One repair: ``kind`` is triage, assign, requeue, relabel or comment (the metric's bounded label).

    ``apply`` is None for a check that found nothing to do. ``leaves`` is the (status, house) the issue
    is in once the action is applied, when the action changes it.
    """

    kind: str
    description: str
    apply: Callable[[], Awaitable[object]] | None = field(default=None, repr=False)
    leaves: tuple[str, str | None] | None = None


def split_repo(full_name: str) -> tuple[str, str]:
    owner, _, name = full_name.partition("/")
    return owner, name


class Dispatcher:
    """Allegro's lane for a set of repositories.

    ``forge`` acts as the dispatcher house's forge user (``login``). ``houses`` are the policies
    routing chooses from; ``config`` is ``configs/triage.yaml``.
    """

    def __init__(
        self,
        forge: GiteaClient,
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
        self.ledger = RoutingLedger(store)
        self.open_issues: dict[str, dict[int, IssueText]] = {}
        self._users = {p.gitea_user: name for name, p in self.houses.items()}

    # -- planning and applying -------------------------------------------------------
    async def handle(self, repo: str, issue: Issue) -> list[Action]:
        """Plan what ``issue`` needs and apply it (unless dry-run); return the actions."""
        if issue.is_pull:
            return []
        epoch = self.lease.ensure() if not self.dry_run else self.lease.epoch
        actions = await self._plan(repo, issue, epoch)
        for action in actions:
            if self.dry_run or action.apply is None:
                continue
            if self.lease.ensure() != epoch:  # deposed (and re-elected) meanwhile: stop here
                break
            await action.apply()
            self.metrics.sweep_repairs.labels(action.kind).inc()
        if not self.dry_run:
            self._remember(repo, issue, actions)
        return actions

    async def _plan(self, repo: str, issue: Issue, epoch: int) -> list[Action]:
        state = derive(issue)
        self._track_open(repo, issue)
        if not state.open:
            if state.status not in (None, "done") and state.house:
                return [
                    self._relabel(repo, issue, {"status/done"}, "closed: mark it done", leaves=("done", state.house))
                ]
            return []
        if state.status == "triage" and self._held(state.labels):
            return []  # triaged and held for lack of a free house: nothing can change until one frees up
        if state.untriaged:
            return await self._triage_and_route(repo, issue, epoch)
        if state.status == "routed" and state.house and not state.assignees:
            return [self._assign(repo, issue, state.house, "routed without an assignee: assign it")]
        if state.status == "in-progress" and state.house:
            return await self._check_claim(repo, issue, state.house, epoch)
        return []

    def _held(self, labels: tuple[str, ...]) -> bool:
        """Whether an issue in ``status/triage`` already carries its triage and no house could take it now.

        Such an issue was triaged and explained before (the audit comment is written first); re-triaging
        it on every sweep would cost a read of its comments and a triage each time for nothing."""
        triaged = any(n.startswith("kind/") for n in labels) and any(n.startswith("priority/") for n in labels)
        if not triaged:
            return False
        load = self.load()
        return not any(
            p.rules.may_take_issues and load.get(name, 0) < p.max_concurrency for name, p in self.houses.items()
        )

    async def _triage_and_route(self, repo: str, issue: Issue, epoch: int) -> list[Action]:
        owner, name = split_repo(repo)
        text = IssueText(issue.number, issue.title, issue.body, tuple(label.name for label in issue.labels))
        others = [t for n, t in self.open_issues.get(repo, {}).items() if n != issue.number]
        comments = await self.forge.list_comments(owner, name, issue.number)
        existing = find_audit(comments, "triage", issue.number, self.login)
        verdict = await self._triage(text, others, again=existing is not None)
        decision = route(
            text,
            verdict.kind,
            self.houses,
            history=self.ledger.history(verdict.kind),
            load=self.load(),
            weights=self.config.routing,
        )
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
            self.ledger.record(repo, issue.number, verdict.kind, decision, host=self.host, epoch=epoch)
            self.metrics.triage.labels(verdict.kind, verdict.priority).inc()
            self.metrics.routing.labels(chosen or "none").inc()
            if issue.updated_at is not None:
                self.metrics.triage_latency.observe(max(0.0, self.clock() - issue.updated_at.timestamp()))
            key = f"routed:{repo}#{issue.number}:{chosen}:{epoch}"
            await self.events.emit(
                EventKind.ISSUE_ROUTED,
                key,
                repository=repo,
                number=issue.number,
                data={
                    "kind": verdict.kind,
                    "priority": verdict.priority,
                    "house": chosen,
                    "runner_up": decision.runner_up,
                    "epoch": epoch,
                },
            )

        actions.append(Action("triage", f"record the decision: {chosen or 'nobody'}", record, leaves=leaves))
        return actions

    async def _triage(self, text: IssueText, others: list[IssueText], *, again: bool) -> TriageResult:
        """The verdict on ``text``. Triaged ``again`` (our audit comment is there: no house took the issue, or
        a person asked for a re-triage), its ``kind/*`` and ``priority/*`` labels are likely our own last
        verdict: when the verdict without them gives the same labels, it stands (so the audit comment does
        not change); a label a person changed still decides."""
        own = {label for label in text.labels if label.startswith(("kind/", "priority/"))}
        if again and own:
            bare = replace(text, labels=tuple(label for label in text.labels if label not in own))
            verdict = await triage_with_model(bare, self.config, others, self.classifier)
            if own <= set(verdict.labels):
                return verdict
        return await triage_with_model(text, self.config, others, self.classifier)

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
        owner, name = split_repo(repo)
        current = {label.name for label in issue.labels}
        scopes = {w.split("/", 1)[0] for w in wanted if "/" in w}
        kept = {
            n
            for n in current
            if not (managed(n) and "/" in n and n.split("/", 1)[0] in scopes) and not (flags and n in FLAGS)
        }
        target = sorted(kept | wanted)
        if sorted(current) == target:
            return Action(kind, f"labels already {', '.join(target)}", leaves=leaves)
        return Action(kind, why, lambda: self.forge.replace_labels(owner, name, issue.number, target), leaves=leaves)

    def _assign(self, repo: str, issue: Issue, house: str, why: str) -> Action:
        owner, name = split_repo(repo)
        policy = self.houses.get(house)
        if policy is None:
            return Action("assign", f"house {house!r} is unknown: cannot assign")
        if [u.login for u in issue.assignees] == [policy.gitea_user]:
            return Action("assign", f"already assigned to @{policy.gitea_user}")
        user = policy.gitea_user
        return Action("assign", why, lambda: self.forge.edit_issue(owner, name, issue.number, assignees=[user]))

    async def _check_claim(self, repo: str, issue: Issue, house: str, epoch: int) -> list[Action]:
        owner, name = split_repo(repo)
        comments = await self.forge.list_comments(owner, name, issue.number)
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
            bucket[issue.number] = IssueText(issue.number, issue.title, issue.body)
        else:
            bucket.pop(issue.number, None)

    def _remember(self, repo: str, issue: Issue, actions: list[Action]) -> None:
        """Keep ``issue_states`` (load for routing, the uniwizard_issues gauge) close to the forge."""
        state = derive(issue)
        status, house = state.status or "untriaged", state.house
        for action in actions:  # what we just wrote wins over what we read
            if action.leaves is not None:
                status, house = action.leaves
        if not state.open:
            status = "done"
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO issue_states VALUES (?, ?, ?, ?, ?) ON CONFLICT(repository, number) DO UPDATE SET"
                " status = excluded.status, house = excluded.house, updated_at = excluded.updated_at",
                (repo, issue.number, status, house, utc_now()),
            )

    def load(self) -> dict[str, int]:
        """Open assignments per house (routed or in progress), from ``issue_states``."""
        rows = self.store.query(
            "SELECT house, count(*) FROM issue_states WHERE status IN ('routed', 'in-progress') AND house IS NOT NULL"
            " GROUP BY house"
        )
        return {row[0]: int(row[1]) for row in rows}
