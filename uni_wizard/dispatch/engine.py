"""Triage, duplicate detection and routing of one issue for the dispatcher: on bounded text, off the loop.

    engine = TriageEngine(config, Offload("process"))
    text = engine.bound(IssueText(number, title, body, labels))
    duplicates = await engine.duplicates("org/repo", text, open_issues)
    verdict = await engine.triage(text, duplicates, classifier)
    decision = await engine.route(text, verdict.kind, houses, history=..., load=..., weights=...)

Every text is cut to ``limits`` first (``triage.bound``), so the work per issue is bounded whatever an
issue says. The pure functions of ``triage.py`` and ``routing.py`` run in the ``Offload``'s worker; the
event loop only awaits them.

Duplicate detection compares the issue with every open one. Each open issue's bag of words is computed
once (in the worker, in batches) and kept per repository and number with the text it was computed from:
a sweep that meets the same issues again recomputes nothing, an edited issue is computed again, and the
entries of issues that are no longer open are dropped. The comparison itself runs in the thread (its
inputs, the cached bags, are in this process).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence

from ..errors import StoreError
from ..memory import MemoryIndex
from ..policy.model import HousePolicy
from .config import RoutingWeights, TriageConfig
from .offload import Offload
from .routing import HouseHistory, route
from .tokens import Bag
from .triage import BAG_OF_STEMS, MEMORY_SEARCH, Duplicates, bound, comparable_bags, decide, find_duplicates
from .types import Classifier, IssueText, RoutingDecision, TriageResult

__all__ = ["BAG_BATCH", "TriageEngine"]

log = logging.getLogger(__name__)

BAG_BATCH = 256  # issues per job when bags are computed


class TriageEngine:
    """One dispatcher's triage (see the module docstring)."""

    def __init__(self, config: TriageConfig, offload: Offload | None = None) -> None:
        self.config = config
        self.offload = offload or Offload(config.dispatcher.triage_workers)
        self._bags: dict[str, dict[int, tuple[IssueText, Bag]]] = {}

    def bound(self, issue: IssueText) -> IssueText:
        """``issue`` cut to the configured limits."""
        return bound(issue, self.config.limits)

    async def duplicates(self, repo: str, issue: IssueText, open_issues: Sequence[IssueText]) -> Duplicates:
        """The open issues of ``repo`` like ``issue`` (all bounded already), most similar first."""
        rule = self.config.duplicates
        if rule.max_suggestions == 0:
            return ()
        others = [other for other in open_issues if other.number != issue.number]
        bags = await self._bags_of(repo, [issue, *others])
        pairs = list(zip((other.number for other in others), bags[1:], strict=True))
        return await self.offload.in_thread(find_duplicates, issue.number, bags[0], pairs, rule)

    async def duplicates_of(
        self, repo: str, issue: IssueText, open_issues: Sequence[IssueText], memory: MemoryIndex | None
    ) -> tuple[Duplicates, str]:
        """The likely duplicates of ``issue`` and the search that found them: ``memory`` when there is one and it
        answers, else the bag-of-stems cosine over ``open_issues``."""
        if memory is not None:
            try:
                return await self.memory_duplicates(memory, repo, issue), MEMORY_SEARCH
            except StoreError as exc:
                log.warning(
                    "%s#%d: the memory cannot search (%s); the bag-of-stems cosine decides", repo, issue.number, exc
                )
        return await self.duplicates(repo, issue, open_issues), BAG_OF_STEMS

    async def memory_duplicates(self, memory: MemoryIndex, repo: str, issue: IssueText) -> Duplicates:
        """The open issues of ``repo`` the memory finds like ``issue`` (bounded) at ``memory_threshold`` or
        more, most similar first (``MemoryIndex.similar``, in the thread: the store's connection is there)."""
        rule = self.config.duplicates
        if rule.max_suggestions == 0:
            return ()
        job = functools.partial(memory.similar, kinds=("issue",), state="open", limit=rule.max_suggestions)
        hits = await self.offload.in_thread(job, repo, issue.number, issue.title, issue.body)
        return tuple((hit.number, hit.score) for hit in hits if hit.score >= rule.memory_threshold)

    async def triage(
        self, issue: IssueText, duplicates: Duplicates, classifier: Classifier | None, search: str = BAG_OF_STEMS
    ) -> TriageResult:
        """The verdict on ``issue`` (bounded) whose ``duplicates`` are known (found by ``search``)."""
        return await decide(issue, self.config, duplicates, classifier, run=self.offload.run, search=search)

    async def route(
        self,
        issue: IssueText,
        kind: str,
        houses: Mapping[str, HousePolicy],
        *,
        history: Mapping[str, HouseHistory],
        load: Mapping[str, int],
        weights: RoutingWeights,
    ) -> RoutingDecision:
        """``routing.route`` in the worker."""
        job = functools.partial(route, history=dict(history), load=dict(load), weights=weights)
        return await self.offload.run(job, issue, kind, dict(houses))

    async def _bags_of(self, repo: str, issues: Sequence[IssueText]) -> list[Bag]:
        cache = self._bags.setdefault(repo, {})
        missing = [issue for issue in issues if not _fresh(cache.get(issue.number), issue)]
        for start in range(0, len(missing), BAG_BATCH):
            chunk = missing[start : start + BAG_BATCH]
            for issue, bag in zip(chunk, await self.offload.run(comparable_bags, chunk), strict=True):
                cache[issue.number] = (issue, bag)
        bags = [cache[issue.number][1] for issue in issues]
        if len(cache) > 2 * len(issues) + 64:  # closed issues linger: keep the ones asked about now
            wanted = {issue.number for issue in issues}
            self._bags[repo] = {number: entry for number, entry in cache.items() if number in wanted}
        return bags


def _fresh(entry: tuple[IssueText, Bag] | None, issue: IssueText) -> bool:
    """Whether a cached bag was computed from the text ``issue`` has now."""
    return entry is not None and entry[0].title == issue.title and entry[0].body == issue.body
