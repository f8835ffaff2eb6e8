"""Triage reads bounded text: what is cut, what the audit says about it, and the bags a sweep does not recompute."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from uni_wizard.dispatch.config import TriageConfig, TriageLimits, load_triage_config
from uni_wizard.dispatch.engine import TriageEngine
from uni_wizard.dispatch.offload import Offload
from uni_wizard.dispatch.triage import bound, triage
from uni_wizard.dispatch.types import IssueText

T = TypeVar("T")


@pytest.fixture(scope="module")
def config() -> TriageConfig:
    return load_triage_config()


def test_the_shipped_limits(config: TriageConfig) -> None:
    assert config.limits == TriageLimits(title_chars=1024, body_chars=32768)
    assert config.dispatcher.triage_workers == "process"


def test_bound_leaves_a_normal_issue_as_it_is() -> None:
    issue = IssueText(1, "Crash", "body", ("bug",))
    assert bound(issue, TriageLimits()) is issue


def test_bound_cuts_and_remembers_the_lengths_as_filed() -> None:
    limits = TriageLimits(title_chars=5, body_chars=10)
    cut = bound(IssueText(1, "t" * 8, "b" * 25, ("bug",)), limits)
    assert (cut.title, cut.body, cut.labels, cut.cut) == ("ttttt", "b" * 10, ("bug",), (8, 25))
    assert bound(cut, limits) is cut


def test_a_huge_body_is_triaged_on_its_first_characters_and_says_so(config: TriageConfig) -> None:
    head = "The server crashes on start with a traceback.\n\n"
    body = head + "word " * 1_000_000 + "\n## Acceptance criteria\n- [ ] security fix"
    verdict = triage(IssueText(7, "Server crashes", body), config)
    on_the_head = triage(IssueText(7, "Server crashes", body[: config.limits.body_chars]), config)
    note = f"read the first 32,768 of the body's {len(body):,} characters only (triage limits): words past the cut were not weighed."
    assert verdict.reasons == (*on_the_head.reasons, note)
    assert (verdict.kind, verdict.priority, verdict.needs_info) == ("bug", "P1", True)  # the P0 word was past the cut
    assert verdict.kind_scores == on_the_head.kind_scores


def test_a_long_title_is_cut_too(config: TriageConfig) -> None:
    verdict = triage(IssueText(7, "Crash " * 300, ""), config)
    assert "the first 1,024 of the title's 1,800 characters" in verdict.reasons[-1]


def test_open_issues_are_compared_on_their_first_characters(config: TriageConfig) -> None:
    tail = " unrelated" * 100_000  # past the cut: it cannot make the two issues look different
    issue = IssueText(1, "Daemon crashes on startup", "The daemon crashes on startup with a traceback.")
    other = IssueText(2, "Daemon crashes on startup", "The daemon crashes on startup with a traceback." + tail)
    small = config.model_copy(update={"limits": TriageLimits(body_chars=len(issue.body))})
    assert triage(issue, small, [other]).duplicates == ((2, 1.0),)
    assert triage(issue, config, [other]).duplicates == ()  # read whole, the tail dilutes it


class CountingOffload(Offload):
    """The thread worker, counting what it is given to run."""

    def __init__(self) -> None:
        super().__init__("thread")
        self.jobs: Counter[str] = Counter()

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        self.jobs[getattr(fn, "__name__", getattr(getattr(fn, "func", None), "__name__", "?"))] += 1
        return await super().run(fn, *args)


async def test_a_sweep_does_not_recompute_the_bags_of_the_open_issues(config: TriageConfig) -> None:
    offload = CountingOffload()
    engine = TriageEngine(config, offload)
    others = [engine.bound(IssueText(n, f"Crash number {n}", "Steps to reproduce: run it")) for n in range(2, 602)]
    issue = engine.bound(IssueText(1, "Crash number 9", "Steps to reproduce: run it"))
    first = await engine.duplicates("o/r", issue, others)
    assert offload.jobs["comparable_bags"] == 3  # 601 bags, in batches of 256
    again = await engine.duplicates("o/r", issue, [IssueText(o.number, o.title, o.body) for o in others])
    assert again == first and offload.jobs["comparable_bags"] == 3  # equal texts: nothing recomputed
    edited = [IssueText(2, "Crash number 9", "Steps to reproduce: run it"), *others[1:]]
    await engine.duplicates("o/r", issue, edited)
    assert offload.jobs["comparable_bags"] == 4  # the edited issue alone
    assert len(engine._bags["o/r"]) == 601
    await engine.duplicates("o/r", issue, others[:10])  # 590 closed since
    assert len(engine._bags["o/r"]) == 11
    verdict = await engine.triage(issue, first, None)
    assert verdict == triage(issue, config, others)
    assert offload.jobs["triage_rules"] == 1
