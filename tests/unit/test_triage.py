"""Tokens and triage: table-driven from triage_cases.yaml over the shipped configs/triage.yaml.

Words are matched as whole tokens, never substrings (the seed's "prefix" → *fix* false positives).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from uni_wizard.dispatch.config import PriorityRule, TriageConfig, load_triage_config
from uni_wizard.dispatch.tokens import phrase_hits, similarity, stem, tokenize, weighted_score
from uni_wizard.dispatch.triage import checklist_items, kind_matches, triage, triage_with_model
from uni_wizard.dispatch.types import ClassifierVerdict, IssueText

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "triage_cases.yaml").read_text())


@pytest.fixture(scope="module")
def config() -> TriageConfig:
    return load_triage_config()


def _issue(case: dict[str, Any]) -> IssueText:
    return IssueText(case.get("number", 1), case["title"], case.get("body", ""), tuple(case.get("labels", [])))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_triage_case(case: dict[str, Any], config: TriageConfig) -> None:
    open_issues = [IssueText(o["number"], o["title"], o.get("body", "")) for o in case.get("open", [])]
    result = triage(_issue(case), config, open_issues)
    expect = case["expect"]
    assert result.kind == expect["kind"], result.reasons
    assert result.priority == expect["priority"], result.reasons
    assert result.epic is expect["epic"], result.reasons
    assert result.needs_info is expect["needs_info"], result.reasons
    assert list(result.labels) == expect["labels"]
    if "priority_rule" in expect:
        assert result.priority_rule == expect["priority_rule"]
    for kind in expect.get("zero_scores", []):
        assert result.kind_scores[kind] == 0, (kind, kind_matches(_issue(case), config)[kind])
    if "duplicates" in expect:
        assert [n for n, _ in result.duplicates] == expect["duplicates"]
    text = " ".join(result.reasons)
    for needle in expect.get("reasons", []):
        assert needle in text, text
    assert result.classifier == "rules"


def test_triage_is_pure(config: TriageConfig) -> None:
    issue = IssueText(3, "Crash on startup", "Traceback\n- [ ] fixed", ("bug",))
    others = [IssueText(4, "Crash at startup", "")]
    assert triage(issue, config, others) == triage(issue, config, others)


# -- tokens ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Doesn't work", ["doesn't", "work"]),
        ("non-blocking read-only I/O", ["non-blocking", "read-only", "i", "o"]),
        ("Bezalel's branch, the houses' roots", ["bezalel", "branch", "the", "houses", "roots"]),
        ("CI/CD: test_routing.py -- v1.2", ["ci", "cd", "test", "routing", "py", "v1", "2"]),
        ("Café ÜBER crash\u2019s", ["cafe", "uber", "crash"]),
        ("  --json  'quoted' ", ["json", "quoted"]),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    ("word", "base"),
    [
        ("crash", "crash"),
        ("crashes", "crash"),
        ("crashed", "crash"),
        ("crashing", "crash"),
        ("release", "releas"),
        ("released", "releas"),
        ("releasing", "releas"),
        ("fixes", "fix"),
        ("stopped", "stop"),
        ("added", "add"),
        ("retries", "retry"),
        ("installed", "install"),
        ("status", "status"),
        ("analysis", "analysis"),
        ("ci", "ci"),
        ("cis", "cis"),
        ("need", "need"),
        ("prefix", "prefix"),
        ("latest", "latest"),
    ],
)
def test_stem(word: str, base: str) -> None:
    assert stem(word) == base


@pytest.mark.parametrize(
    ("text", "phrase", "hits"),
    [
        ("Decide whether the latest capital plan is already in the prefix", "fix", 0),
        ("Decide whether the latest capital plan is already in the prefix", "test", 0),
        ("Decide whether the latest capital plan is already in the prefix", "api", 0),
        ("Decide whether the latest capital plan is already in the prefix", "ci", 0),
        ("Decide whether the latest capital plan is already in the prefix", "read", 0),
        ("Please decide the schedule", "ci", 0),
        ("Fix the API test in CI", "fix", 1),
        ("Fix the API test in CI", "api", 1),
        ("Fix the API test in CI", "ci", 1),
        ("it crashed, then it crashes again", "crash", 2),
        ("it does not work, it does not work", "does not work", 2),
        ("it does not compile and will not work", "does not work", 0),
        ("make it non-blocking", "blocking", 0),
        ("this is blocking the release", "blocking", 1),
        ("a a a", "a a", 1),
        ("anything", "", 0),
    ],
)
def test_phrase_hits_whole_tokens_only(text: str, phrase: str, hits: int) -> None:
    assert phrase_hits(tokenize(text), phrase) == hits


def test_weighted_score_counts_each_term_once_and_phrases_claim_their_tokens() -> None:
    weights = {"test": 2.0, "tests": 2.0, "unit test": 3.0, "flaky": 3.0, "crash": 1.0}
    score, terms = weighted_score(tokenize("Flaky unit tests: the unit test of the store is flaky"), weights)
    assert score == 6.0  # "unit test" once (3) + "flaky" once (3); "test"/"tests" are the same term, claimed
    assert terms == ["flaky", "unit test"]
    assert weighted_score(tokenize("the latest prefix"), weights) == (0.0, [])


def test_weighted_score_same_stems_take_the_larger_weight() -> None:
    score, terms = weighted_score(tokenize("it crashed"), {"crash": 3.0, "crashes": 1.0})
    assert (score, terms) == (3.0, ["crash"])


def test_similarity() -> None:
    assert similarity("App crashes on startup", "Crash at startup of the app") == pytest.approx(1.0)
    assert similarity("App crashes on startup", "Write the architecture document") == 0.0
    a, b = "Crash on startup when the config is missing", "App crashes on startup"
    assert similarity(a, b) == pytest.approx(similarity(b, a))
    assert 0.0 < similarity(a, b) < 1.0
    assert similarity("the of and", "the of and") == 0.0  # stop words only: nothing to compare
    assert similarity("", "anything") == 0.0


def test_checklist_items() -> None:
    assert checklist_items("- [ ] a\n* [x] b\n+ [X] c\n1. [ ] d\n- [] not\n-[ ] not\ntext - [ ] not") == 4


# -- duplicates ------------------------------------------------------------------------------------------------


def test_duplicates_most_similar_first_at_most_max_and_never_itself(config: TriageConfig) -> None:
    issue = IssueText(10, "Daemon crashes on startup", "The daemon crashes on startup with a traceback.")
    open_issues = [
        issue,  # itself: never named
        IssueText(11, "Daemon crashes on startup", "Crash at startup, traceback attached."),
        IssueText(12, "Crash on daemon startup", ""),
        IssueText(13, "Daemon crashes on startup when the disk is full", "Traceback."),
        IssueText(14, "Daemon startup crash", "The daemon crashed with a traceback at startup."),
        IssueText(15, "Write the architecture document", "Houses, lanes, the dispatcher."),
    ]
    result = triage(issue, config, open_issues)
    numbers = [n for n, _ in result.duplicates]
    assert 10 not in numbers and 15 not in numbers
    assert len(result.duplicates) == config.duplicates.max_suggestions == 3
    scores = [s for _, s in result.duplicates]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= config.duplicates.threshold for s in scores)
    reason = next(r for r in result.reasons if r.startswith("possible duplicates"))
    for number, score in result.duplicates:
        assert f"#{number} ({score:.2f})" in reason


def test_no_duplicates_below_the_threshold(config: TriageConfig) -> None:
    issue = IssueText(1, "Crash on startup", "")
    result = triage(issue, config, [IssueText(2, "Crash when saving a large file over the network", "")])
    assert result.duplicates == ()
    assert not any(r.startswith("possible duplicates") for r in result.reasons)


def test_template_headings_do_not_make_duplicates(config: TriageConfig) -> None:
    template = "## Objective\n{}\n\n## Acceptance criteria\n- [ ] done when it is done\n- [ ] tests pass"
    issue = IssueText(1, "Lease renewal", template.format("Renew the lease before expiry."))
    other = IssueText(2, "Label colours", template.format("Sync the label colours with the config."))
    assert triage(issue, config, [other]).duplicates == ()


# -- rules beyond the shipped vocabulary -----------------------------------------------------------------------


def test_priority_rule_by_label_and_by_kinds_alone(config: TriageConfig) -> None:
    custom = config.model_copy(
        update={
            "priorities": (
                PriorityRule(priority="P0", labels=("incident",), name="incident label"),
                PriorityRule(priority="P1", kinds=("bug",), name="every bug"),
            )
        }
    )
    assert triage(IssueText(1, "Slow page", "", ("Incident",)), custom).priority_rule == "incident label"
    bug = triage(IssueText(1, "Wrong total in the report", ""), custom)
    assert (bug.kind, bug.priority, bug.priority_rule) == ("bug", "P1", "every bug")
    assert triage(IssueText(1, "Slow page", ""), custom).priority == custom.default_priority


def test_min_body_words_needs_info_even_with_criteria(config: TriageConfig) -> None:
    strict = config.model_copy(update={"needs_info": config.needs_info.model_copy(update={"min_body_words": 10})})
    result = triage(IssueText(1, "Lease", "Acceptance criteria: renews."), strict)
    assert result.needs_info
    assert any("fewer than 10" in r for r in result.reasons)


def test_no_checklist_credit_when_disabled(config: TriageConfig) -> None:
    strict = config.model_copy(update={"needs_info": config.needs_info.model_copy(update={"checklist_counts": False})})
    issue = IssueText(1, "Lease", "- [ ] renew\n- [ ] expire")
    assert not triage(issue, config).needs_info
    assert triage(issue, strict).needs_info


# -- the model seam --------------------------------------------------------------------------------------------


class FixedClassifier:
    """A classifier that always says the same thing (or raises), and counts its calls."""

    def __init__(self, verdict: ClassifierVerdict | None = None, error: Exception | None = None) -> None:
        self.verdict = verdict
        self.error = error
        self.calls: list[tuple[int, tuple[str, ...]]] = []

    async def classify(self, issue: IssueText, kinds: Sequence[str]) -> ClassifierVerdict | None:
        self.calls.append((issue.number, tuple(kinds)))
        if self.error is not None:
            raise self.error
        return self.verdict


ISSUE = IssueText(9, "The report is wrong after the crash", "Steps to reproduce: run it.")


async def test_model_without_classifier_is_the_rules(config: TriageConfig) -> None:
    assert await triage_with_model(ISSUE, config) == triage(ISSUE, config)


async def test_confident_model_decides_the_kind_and_priority_follows(config: TriageConfig) -> None:
    model = FixedClassifier(ClassifierVerdict("docs", 0.9, "tiny"))
    result = await triage_with_model(ISSUE, config, (), model)
    assert result.kind == "docs" and result.classifier == "model:tiny"
    assert result.priority == "P2"  # the crash rule is for bugs; the rules alone said bug/P1
    assert result.labels[:2] == ("kind/docs", "priority/P2")
    assert "model tiny" in result.reasons[0] and "the rules said bug" in result.reasons[0]
    assert model.calls == [(9, (*config.kinds, config.default_kind))]
    assert triage(ISSUE, config).priority == "P1"


@pytest.mark.parametrize(
    "verdict",
    [None, ClassifierVerdict("docs", 0.49, "tiny"), ClassifierVerdict("poetry", 0.99, "tiny")],
    ids=["no-verdict", "low-confidence", "unknown-kind"],
)
async def test_unusable_verdicts_leave_the_rules(config: TriageConfig, verdict: ClassifierVerdict | None) -> None:
    result = await triage_with_model(ISSUE, config, (), FixedClassifier(verdict))
    rules = triage(ISSUE, config)
    assert (result.kind, result.priority, result.labels, result.classifier) == (
        rules.kind,
        rules.priority,
        rules.labels,
        "rules",
    )


async def test_a_failing_model_is_reported_and_the_rules_stand(config: TriageConfig) -> None:
    result = await triage_with_model(ISSUE, config, (), FixedClassifier(error=RuntimeError("model offline")))
    assert result.kind == "bug" and result.classifier == "rules"
    assert any("model offline" in r for r in result.reasons)


async def test_existing_kind_label_is_not_asked_of_the_model(config: TriageConfig) -> None:
    model = FixedClassifier(ClassifierVerdict("feature", 0.99, "tiny"))
    labelled = IssueText(9, ISSUE.title, ISSUE.body, ("kind/research",))
    result = await triage_with_model(labelled, config, (), model)
    assert result.kind == "research" and model.calls == []
