"""The facts of one daily briefing: read from the forge (the truth) and the host's event log, never invented.

A briefing day ``D`` covers the 24 hours before the briefing hour of ``D`` in the owner's timezone
(``Period.of``). From the forge, per watched repository: pull requests merged and opened in the period (per
house: the pull request's author), issues that are ``status/blocked`` now (and why: the first line of their
latest comment), open pull requests whose head's combined status is ``failure`` (failing proofs), and open
issues and pull requests labelled ``needs-owner`` (the approvals waiting for the owner). From the event log,
in the period: upgrades applied and rolled back per host (``deploy.applied``, ``deploy.failed``), breakers that
opened (``breaker.opened``), peers that went down (``peer.left``) and the escalations raised
(``escalation.raised``).

    facts = await collect(forge, store, repos=["mesh/work"], period=Period.of(date(2026, 12, 8), tz, hour=7))
    facts.figures()          # {"merged": 1, "opened": 2, "blocked": 1, ...}: compared with the previous day
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal, Protocol

from ..forge.models import CombinedStatus, Comment, Issue, PullRequest
from ..reporef import RepoRef
from ..store import Store, utc_text

__all__ = ["BLOCKED_LABEL", "EVENT_KINDS", "NEEDS_OWNER_LABEL", "Facts", "Item", "Period", "collect"]

BLOCKED_LABEL = "status/blocked"
NEEDS_OWNER_LABEL = "needs-owner"
EVENT_KINDS = ("deploy.applied", "deploy.failed", "breaker.opened", "peer.left", "escalation.raised")


class FactsForge(Protocol):
    """What the briefing reads of the forge (``GiteaClient`` is one)."""

    async def get_pull(self, owner: str, repo: str, index: int) -> PullRequest: ...

    async def list_issues(
        self, owner: str, repo: str, *, state: Literal["open", "closed", "all"] = ..., since: datetime | None = ...
    ) -> list[Issue]: ...

    async def list_comments(self, owner: str, repo: str, index: int) -> list[Comment]: ...

    async def combined_status(self, owner: str, repo: str, ref: str) -> CombinedStatus: ...


@dataclass(frozen=True)
class Period:
    """Briefing day ``day``: from ``start`` (included) to ``end`` (excluded), aware datetimes."""

    day: date
    start: datetime
    end: datetime

    @classmethod
    def of(cls, day: date, tz: tzinfo, *, hour: int) -> Period:
        end = datetime.combine(day, time(hour), tzinfo=tz)
        return cls(day, end - timedelta(days=1), end)

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


@dataclass(frozen=True)
class Item:
    """An issue or pull request: its repository, number, title, link and a note (why blocked, which proof)."""

    repository: str
    number: int
    title: str
    url: str
    note: str = ""

    def link(self) -> str:
        shown = f"{self.repository}#{self.number}"
        return f"[{shown}]({self.url})" if self.url else shown


@dataclass
class Facts:
    period: Period
    merged: dict[str, list[Item]] = field(default_factory=dict)  # house -> pull requests merged
    opened: dict[str, list[Item]] = field(default_factory=dict)  # house -> pull requests opened
    blocked: list[Item] = field(default_factory=list)
    failing: list[Item] = field(default_factory=list)
    approvals: list[Item] = field(default_factory=list)
    upgrades: dict[str, dict[str, int]] = field(default_factory=dict)  # host -> {"applied": n, "rolled_back": n}
    breakers: list[str] = field(default_factory=list)
    peers_down: list[str] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, int]:
        """The day's counts, the ones compared with the previous day."""
        return {
            "merged": sum(len(v) for v in self.merged.values()),
            "opened": sum(len(v) for v in self.opened.values()),
            "blocked": len(self.blocked),
            "failing_proofs": len(self.failing),
            "approvals_waiting": len(self.approvals),
            "upgrades_applied": sum(v.get("applied", 0) for v in self.upgrades.values()),
            "upgrades_rolled_back": sum(v.get("rolled_back", 0) for v in self.upgrades.values()),
            "breakers_opened": len(self.breakers),
            "peers_down": len(self.peers_down),
            "escalations": len(self.escalations),
        }


async def collect(forge: FactsForge, store: Store, *, repos: list[str], period: Period) -> Facts:
    """The facts of ``period`` (see the module docstring)."""
    facts = Facts(period)
    merged: defaultdict[str, list[Item]] = defaultdict(list)
    opened: defaultdict[str, list[Item]] = defaultdict(list)
    for repo in dict.fromkeys(repos):
        owner, name = RepoRef.parse(repo)
        # what changed since the period began (a merge or an opening in it changed the item), and what is open
        recent = await forge.list_issues(owner, name, state="all", since=period.start)
        current = await forge.list_issues(owner, name, state="open")
        for issue in {i.number: i for i in [*recent, *current]}.values():
            item = Item(repo, issue.number, issue.title, issue.html_url)
            if issue.is_pull:
                pull = await forge.get_pull(owner, name, issue.number)
                house = pull.user.login if pull.user is not None else "?"
                if period.holds(issue.created_at):
                    opened[house].append(item)
                if pull.merged and period.holds(issue.closed_at):
                    merged[house].append(item)
                if pull.state == "open" and pull.head_sha:
                    status = await forge.combined_status(owner, name, pull.head_sha)
                    if status.state in ("failure", "error"):
                        failing = [s.context for s in status.statuses if s.status in ("failure", "error")]
                        facts.failing.append(_with(item, ", ".join(failing) or status.state))
            if issue.state != "open":
                continue
            if NEEDS_OWNER_LABEL in issue.label_names:
                facts.approvals.append(item)
            if BLOCKED_LABEL in issue.label_names and not issue.is_pull:
                comments = await forge.list_comments(owner, name, issue.number)
                facts.blocked.append(_with(item, _why(comments)))
    facts.merged, facts.opened = dict(sorted(merged.items())), dict(sorted(opened.items()))
    _from_events(facts, store)
    return facts


def _with(item: Item, note: str) -> Item:
    return Item(item.repository, item.number, item.title, item.url, note)


def _why(comments: list[Comment]) -> str:
    """The first line of the latest comment that says something (markers left out)."""
    for comment in reversed(comments):
        for line in comment.body.splitlines():
            text = line.strip()
            if text and not text.startswith("<!--"):
                return text[:200]
    return "no comment says why"


def _from_events(facts: Facts, store: Store) -> None:
    marks = ",".join("?" * len(EVENT_KINDS))
    rows = store.query(
        f"SELECT kind, host, data_json FROM events WHERE at >= ? AND at < ? AND kind IN ({marks}) ORDER BY seq",  # noqa: S608
        (utc_text(facts.period.start), utc_text(facts.period.end), *EVENT_KINDS),
    )
    upgrades: defaultdict[str, dict[str, int]] = defaultdict(lambda: {"applied": 0, "rolled_back": 0})
    for row in rows:
        kind, host, data = row["kind"], row["host"], json.loads(row["data_json"])
        if kind == "deploy.applied":
            upgrades[host]["applied"] += 1
        elif kind == "deploy.failed":
            upgrades[host]["rolled_back"] += 1
        elif kind == "breaker.opened":
            facts.breakers.append(f"{data.get('group') or data.get('provider') or '?'} on {host}")
        elif kind == "peer.left":
            facts.peers_down.append(f"{data.get('peer', '?')} (seen from {host})")
        else:
            facts.escalations.append(f"{data.get('category', '?')}: {data.get('kind', '?')} ({data.get('route', '?')})")
    facts.upgrades = dict(sorted(upgrades.items()))
