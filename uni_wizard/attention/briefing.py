"""The daily briefing: one issue per day in the mesh repository, written at the owner's hour by the lease holder.

    briefing = Briefing(store, forge, repo="mesh/work", repos=["mesh/work"], tz=ZoneInfo("Europe/Paris"), hour=7)
    written = await briefing.write(date(2026, 12, 8))     # the issue, or the one already there (idempotent)
    await BriefingRunner(briefing, lease).run(stop)        # the dispatcher role: once a day, lease holder only

One issue per day (not one pinned issue edited in place, docs/ARCHITECTURE.md says why): titled
"Daily briefing YYYY-MM-DD", labelled ``source/briefing``, its body begins with a marker naming the day and
carrying the day's figures as JSON, so a restart, a second host or a new lease holder finds it (nothing is
written twice) and the next day compares its figures with it. The previous day's briefing is closed when the
new one opens: the open one is today's.

The body is rule-based (``render``): every fact from ``briefing_facts.collect``. When a model is given
(``summarize``: the cascade), a short summary paragraph written by it goes ABOVE the rule-based body, which is
always kept whole: a bad model can add a wrong sentence, never hide a fact. A model failure leaves the summary
out and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol

from ..cascade.types import Completion, Message
from ..errors import UniWizardError
from ..forge import GiteaClient
from ..forge.models import Issue
from ..reporef import RepoRef
from ..store import Store
from .briefing_facts import Facts, Item, Period, collect
from .metrics import AttentionMetrics

__all__ = ["BRIEFING_LABEL", "Briefing", "BriefingRunner", "Summarizer", "Written", "due_day", "render"]

log = logging.getLogger(__name__)

BRIEFING_LABEL = "source/briefing"
MARKER = "<!-- uni-wizard:briefing day={day} figures={figures} -->"
_MARKER = re.compile(r"<!-- uni-wizard:briefing day=(?P<day>\d{4}-\d{2}-\d{2}) figures=(?P<figures>\{[^}]*\}) -->")
SUMMARY_PROMPT = (
    "You write the owner's daily briefing summary. In at most three sentences, say what matters most in the "
    "facts below. Do not invent anything that is not in them."
)


class Summarizer(Protocol):
    """What the briefing asks of a model (``Cascade`` is one)."""

    async def complete(self, messages: Sequence[Message]) -> Completion: ...


class Lease(Protocol):
    @property
    def held(self) -> bool: ...


@dataclass(frozen=True)
class Written:
    """The briefing of ``day``: its issue, whether this call wrote it (False: it was there), its figures."""

    day: date
    issue: int
    url: str
    created: bool
    figures: dict[str, int]


def due_day(now: datetime, tz: tzinfo, hour: int) -> date | None:
    """The day whose briefing is due at ``now``: today once the owner's clock passed ``hour``, else None."""
    local = now.astimezone(tz)
    return local.date() if local.hour >= hour else None


def _delta(now: int, before: int | None) -> str:
    if before is None:
        return "—"
    change = now - before
    return f"{change:+d}" if change else "="


def _items(items: list[Item], empty: str) -> list[str]:
    if not items:
        return [f"- {empty}"]
    ordered = sorted(items, key=lambda i: (i.repository, i.number))
    return [f"- {i.link()} {i.title}" + (f": {i.note}" if i.note else "") for i in ordered]


def render(facts: Facts, previous: dict[str, int] | None, *, summary: str = "") -> str:
    """The body of the briefing of ``facts`` (``previous``: the figures of the day before, None when unknown)."""
    figures = facts.figures()
    period = facts.period
    lines = [MARKER.format(day=period.day.isoformat(), figures=json.dumps(figures, sort_keys=True))]
    if summary:
        lines += ["### Summary", "", summary, "", "<sub>Written by a model; the facts below are the record.</sub>", ""]
    lines += [
        f"Briefing for {period.day.isoformat()}: from {period.start.isoformat(' ', 'minutes')} "
        f"to {period.end.isoformat(' ', 'minutes')}.",
        "",
        "### Figures",
        "",
        "| figure | today | previous day | change |",
        "|---|---:|---:|---:|",
    ]
    for name, value in figures.items():
        before = None if previous is None else previous.get(name)
        shown = "—" if before is None else str(before)
        lines.append(f"| {name.replace('_', ' ')} | {value} | {shown} | {_delta(value, before)} |")
    lines += ["", "### Pull requests per house", ""]
    houses = sorted(set(facts.merged) | set(facts.opened))
    lines += [
        f"- **{h}**: {len(facts.merged.get(h, []))} merged, {len(facts.opened.get(h, []))} opened"
        + "".join(f"; merged {i.link()}" for i in facts.merged.get(h, []))
        for h in houses
    ] or ["- none merged or opened"]
    lines += ["", "### Approvals waiting for the owner", "", *_items(facts.approvals, "none")]
    lines += ["", "### Issues blocked", "", *_items(facts.blocked, "none")]
    lines += ["", "### Failing proofs", "", *_items(facts.failing, "none")]
    lines += ["", "### Upgrades per host", ""]
    lines += [
        f"- `{host}`: {n['applied']} applied, {n['rolled_back']} rolled back" for host, n in facts.upgrades.items()
    ] or ["- none"]
    for title, entries in (
        ("Breakers that opened", facts.breakers),
        ("Peers that went down", facts.peers_down),
        ("Escalations of the day", facts.escalations),
    ):
        lines += ["", f"### {title}", "", *([f"- {e}" for e in entries] or ["- none"])]
    lines += ["", "<sub>uni-wizard daily briefing: facts from the forge and the event log.</sub>"]
    return "\n".join(lines)


def figures_of(body: str) -> tuple[str, dict[str, int]] | None:
    """The day and figures of a briefing's body, None when it is not one."""
    found = _MARKER.search(body)
    if found is None:
        return None
    return found["day"], {str(k): int(v) for k, v in json.loads(found["figures"]).items()}


class Briefing:
    """The briefings of the watched ``repos``, written into ``repo`` (owner/name)."""

    def __init__(
        self,
        store: Store,
        forge: GiteaClient,
        *,
        repo: str,
        repos: Sequence[str],
        tz: tzinfo,
        hour: int,
        summarize: Summarizer | None = None,
        metrics: AttentionMetrics | None = None,
    ) -> None:
        self.store, self.forge, self.repo, self.repos = store, forge, repo, list(repos)
        self.tz, self.hour, self.summarize, self.metrics = tz, hour, summarize, metrics

    async def existing(self) -> dict[str, Issue]:
        """The briefing issues in ``repo`` by day."""
        owner, name = RepoRef.parse(self.repo)
        found: dict[str, Issue] = {}
        async for issue in self.forge.iter_issues(owner, name, state="all", labels=[BRIEFING_LABEL]):
            parsed = figures_of(issue.body)
            if parsed is not None and parsed[0] not in found:
                found[parsed[0]] = issue
        return found

    async def compose(self, day: date) -> tuple[Facts, str]:
        """The facts of ``day`` and the body they make (with the model's summary when one is configured)."""
        facts = await collect(self.forge, self.store, repos=self.repos, period=Period.of(day, self.tz, hour=self.hour))
        before = (await self.existing()).get((day - timedelta(days=1)).isoformat())
        parsed = figures_of(before.body) if before is not None else None
        previous = parsed[1] if parsed is not None else None
        body = render(facts, previous)
        if self.summarize is None:
            return facts, body
        try:
            answer = await self.summarize.complete(
                [Message("system", SUMMARY_PROMPT), Message("user", body.split("\n", 1)[1])]
            )
            summary = answer.content.strip()[:1200]
        except Exception as exc:  # a model failure must not stop the briefing: the facts stand alone
            log.warning("briefing: no summary (%s: %s)", type(exc).__name__, exc)
            summary = ""
        return facts, render(facts, previous, summary=summary) if summary else body

    async def write(self, day: date) -> Written:
        """The briefing of ``day``: written unless it exists (then the existing one); the previous one closed."""
        existing = await self.existing()
        found = existing.get(day.isoformat())
        if found is not None:
            parsed = figures_of(found.body)
            return Written(day, found.number, found.html_url, False, parsed[1] if parsed else {})
        facts, body = await self.compose(day)
        owner, name = RepoRef.parse(self.repo)
        label = await self.forge.ensure_label(owner, name, BRIEFING_LABEL, "#0e8a16", description="A daily briefing")
        made = await self.forge.create_issue(owner, name, f"Daily briefing {day.isoformat()}", body, labels=[label.id])
        for other_day, issue in existing.items():
            if other_day < day.isoformat() and issue.state == "open":
                await self.forge.edit_issue(owner, name, issue.number, state="closed")
        if self.metrics is not None:
            self.metrics.briefings.inc()
        return Written(day, made.number, made.html_url, True, facts.figures())


class BriefingRunner:
    """Writes each day's briefing once its hour passed, while ``lease`` is held (the dispatcher's lease)."""

    def __init__(self, briefing: Briefing, lease: Lease, *, clock: Callable[[], float] = time.time) -> None:
        self.briefing, self.lease, self.clock = briefing, lease, clock
        self.done: date | None = None  # the last day known written (by this host or another)

    async def tick(self) -> Written | None:
        """Write today's briefing when it is due, not known written, and the lease is held."""
        day = due_day(datetime.fromtimestamp(self.clock(), UTC), self.briefing.tz, self.briefing.hour)
        if day is None or day == self.done or not self.lease.held:
            return None
        written = await self.briefing.write(day)
        self.done = day
        return written

    async def run(self, stop: asyncio.Event, every: float = 60.0) -> None:
        while not stop.is_set():
            try:
                written = await self.tick()
                if written is not None and written.created:
                    log.info("briefing %s written: %s", written.day, written.url)
            except UniWizardError as exc:
                log.warning("briefing: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
