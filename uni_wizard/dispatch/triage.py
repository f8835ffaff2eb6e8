"""Triage: kind, priority, epic, needs-info and likely duplicates of one issue, from ``configs/triage.yaml``.

Pure: the same issue, configuration and open issues give the same verdict, with the reasons an audit
comment shows. Every word and phrase is matched as whole tokens (``tokens.py``), never as substrings.

- **kind**: an existing label listed in a kind's ``labels`` (or ``kind/<k>``) decides it; otherwise the
  kind whose ``tokens`` score best (title counts twice, body once; ties go to the kind listed first);
  otherwise ``default_kind``.
- **priority**: an existing ``priority/P<n>`` label; otherwise the first rule of ``priorities`` whose
  ``kinds`` admit the kind and whose ``labels`` or ``any_tokens`` (title or body) match (a rule with
  neither matches on its kinds alone); otherwise ``default_priority``.
- **epic**: an ``epic.labels`` label, an ``epic.tokens`` term in the *title* (a body saying "part of
  the roadmap epic #12" is a child, not an epic), or ``min_checklist_items`` checklist items.
- **needs-info**: the body has none of ``needs_info.headings`` as a heading or at the start of a line
  (case-insensitive), and no checklist when checklists count, or has fewer than ``min_body_words``.
- **duplicates**: open issues other than this one at ``similarity`` >= ``threshold``, most similar
  first; compared on title (counted twice) and body, with headings and checklist marks left out.

Only the first ``limits.title_chars`` characters of the title and ``limits.body_chars`` of the body are
read (``bound``), of the issue and of every open issue it is compared with: the work is bounded whatever
the text. An issue that was cut gets a reason saying so (a criteria heading or a word past the cut is not
seen). The dispatcher runs these pure functions off its event loop (``dispatch/offload.py``): ``decide``
takes the ``Runner`` to run them with and the duplicates computed from cached bags (``comparable_bags``,
``find_duplicates``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from .config import DuplicateRule, PriorityRule, TriageConfig, TriageLimits
from .tokens import Bag, bag_of, cosine, phrase_hits, stem, tokenize, weighted_score
from .types import Classifier, IssueText, Runner, TriageResult

__all__ = [
    "BAG_OF_STEMS",
    "MEMORY_SEARCH",
    "MODEL_MIN_CONFIDENCE",
    "bound",
    "checklist_items",
    "comparable_bags",
    "decide",
    "find_duplicates",
    "kind_matches",
    "triage",
    "triage_rules",
    "triage_with_model",
]

T = TypeVar("T")
Duplicates = tuple[tuple[int, float], ...]

MODEL_MIN_CONFIDENCE = 0.5
BAG_OF_STEMS = "bag-of-stems cosine"
MEMORY_SEARCH = "the memory (FTS5 BM25)"
TITLE_WEIGHT = 2.0

_CHECKLIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[[ xX]\]\s+", re.MULTILINE)
_LINE_LEAD = re.compile(r"^[\s#>*_\-]*")
_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.MULTILINE)


def checklist_items(body: str) -> int:
    """How many ``- [ ]`` / ``- [x]`` items (also ``*``, ``+`` and ``1.`` bullets) the body has."""
    return len(_CHECKLIST.findall(body))


def kind_matches(issue: IssueText, config: TriageConfig) -> dict[str, tuple[float, list[str]]]:
    """Every configured kind's score (title x2 + body) and the terms that matched, in config order."""
    title, body = tokenize(issue.title), tokenize(issue.body)
    out: dict[str, tuple[float, list[str]]] = {}
    for kind, rule in config.kinds.items():
        title_score, title_terms = weighted_score(title, rule.tokens)
        body_score, body_terms = weighted_score(body, rule.tokens)
        terms = title_terms + [t for t in body_terms if t not in title_terms]
        out[kind] = (round(TITLE_WEIGHT * title_score + body_score, 3), terms)
    return out


def bound(issue: IssueText, limits: TriageLimits) -> IssueText:
    """``issue`` with its title and body cut to ``limits`` (itself when they fit); ``cut`` records the lengths
    of the text as filed. Bounding a bounded issue changes nothing."""
    if len(issue.title) <= limits.title_chars and len(issue.body) <= limits.body_chars:
        return issue
    return replace(
        issue,
        title=issue.title[: limits.title_chars],
        body=issue.body[: limits.body_chars],
        cut=issue.cut or (len(issue.title), len(issue.body)),
    )


def triage(issue: IssueText, config: TriageConfig, open_issues: Sequence[IssueText] = ()) -> TriageResult:
    """The rules' verdict on ``issue`` (see the module docstring)."""
    issue = bound(issue, config.limits)
    return triage_rules(issue, config, _duplicates(issue, config, open_issues))


def triage_rules(
    issue: IssueText, config: TriageConfig, duplicates: Duplicates = (), search: str = BAG_OF_STEMS
) -> TriageResult:
    """The rules' verdict on ``issue`` (bounded already), with ``duplicates`` found beforehand by ``search``."""
    matches = kind_matches(issue, config)
    scores = {kind: score for kind, (score, _) in matches.items()}
    reasons: list[str] = []
    by_label = _kind_from_labels(issue, config)
    if by_label is not None:
        kind, label = by_label
        reasons.append(f"kind {kind}: the issue is labelled {_q(label)}.")
    else:
        kind, reason = _kind_from_scores(matches, config)
        reasons.append(reason)
    return _finish(issue, config, duplicates, kind, scores, reasons, "rules", search)


async def triage_with_model(
    issue: IssueText,
    config: TriageConfig,
    open_issues: Sequence[IssueText] = (),
    classifier: Classifier | None = None,
) -> TriageResult:
    """``triage``, but the kind comes from ``classifier`` when one is given, no label decided the kind,
    and its verdict names a configured kind with confidence >= 0.5; otherwise the rules decide.

    A classifier that raises is reported in the reasons and the rules decide.
    """
    issue = bound(issue, config.limits)
    return await decide(issue, config, _duplicates(issue, config, open_issues), classifier)


async def _inline(fn: Callable[..., T], /, *args: Any) -> T:
    return fn(*args)


async def decide(
    issue: IssueText,
    config: TriageConfig,
    duplicates: Duplicates,
    classifier: Classifier | None = None,
    *,
    run: Runner = _inline,
    search: str = BAG_OF_STEMS,
) -> TriageResult:
    """``triage_with_model`` on a bounded ``issue`` whose ``duplicates`` are known (found by ``search``); the
    rules run with ``run``."""
    rules = await run(triage_rules, issue, config, duplicates, search)
    if classifier is None or _kind_from_labels(issue, config) is not None:
        return rules
    kinds = _known_kinds(config)
    try:
        verdict = await classifier.classify(issue, kinds)
    except Exception as exc:  # a model failure must not stop triage: the rules stand, the comment says why
        note = f"the model classifier failed ({type(exc).__name__}: {exc}); the rules decided."
        return replace(rules, reasons=(*rules.reasons, note))
    if verdict is None:
        return rules
    if verdict.kind not in kinds or verdict.confidence < MODEL_MIN_CONFIDENCE:
        note = (
            f"model {verdict.model} said {_q(verdict.kind)} with confidence {verdict.confidence:.2f}; "
            f"not used (needs a configured kind and >= {MODEL_MIN_CONFIDENCE})."
        )
        return replace(rules, reasons=(*rules.reasons, note))
    reason = (
        f"kind {verdict.kind}: model {verdict.model} with confidence {verdict.confidence:.2f} "
        f"(the rules said {rules.kind})."
    )
    scores = dict(rules.kind_scores)
    model = f"model:{verdict.model}"
    return await run(_finish, issue, config, duplicates, verdict.kind, scores, [reason], model, search)


# -- the parts ------------------------------------------------------------------------------------------


def _known_kinds(config: TriageConfig) -> tuple[str, ...]:
    kinds = tuple(config.kinds)
    return kinds if config.default_kind in kinds else (*kinds, config.default_kind)


def _kind_from_labels(issue: IssueText, config: TriageConfig) -> tuple[str, str] | None:
    """The kind an existing label decides: ``kind/<k>`` first, then the issue's labels in order."""
    kinds = _known_kinds(config)
    for label in issue.labels:
        name = label.strip().lower()
        if name.startswith("kind/") and name[5:] in kinds:
            return name[5:], label
    for label in issue.labels:
        name = label.strip().lower()
        for kind, rule in config.kinds.items():
            if name in {x.lower() for x in rule.labels}:
                return kind, label
    return None


def _kind_from_scores(matches: dict[str, tuple[float, list[str]]], config: TriageConfig) -> tuple[str, str]:
    ranked = sorted(matches.items(), key=lambda item: -item[1][0])  # stable: config order breaks ties
    best, (score, terms) = ranked[0]
    if score <= 0:
        return config.default_kind, f"kind {config.default_kind}: no kind's words matched (the default)."
    reason = f"kind {best}: scored {score:g} on {_quoted(terms)} (title counts twice)"
    if len(ranked) > 1 and ranked[1][1][0] > 0:
        runner, (runner_score, _) = ranked[1]
        reason += f"; next {runner} {runner_score:g}"
    return best, reason + "."


def _priority(
    issue: IssueText, kind: str, config: TriageConfig, title: list[str], body: list[str]
) -> tuple[str, str, str]:
    """(priority, rule name, reason)."""
    for label in issue.labels:
        name = label.strip()
        if name.lower().startswith("priority/") and re.fullmatch(r"P[0-3]", name[9:].upper()):
            priority = name[9:].upper()
            return priority, f"label {name}", f"priority {priority}: the issue is labelled {_q(name)}."
    labels = {label.strip().lower() for label in issue.labels}
    for number, rule in enumerate(config.priorities, 1):
        if rule.kinds and kind not in rule.kinds:
            continue
        hit = _priority_hit(rule, labels, title, body)
        if hit is not None:
            name = rule.name or f"rule {number}"
            return rule.priority, name, f"priority {rule.priority} by rule {_q(name)} ({hit})."
    default = config.default_priority
    return default, "default", f"priority {default}: no priority rule matched (the default)."


def _priority_hit(rule: PriorityRule, labels: set[str], title: list[str], body: list[str]) -> str | None:
    for label in rule.labels:
        if label.lower() in labels:
            return f"label {_q(label)}"
    terms = _distinct(t for t in rule.any_tokens if phrase_hits(title, t) or phrase_hits(body, t))
    if terms:
        return f"matched {_quoted(terms)}"
    if not rule.labels and not rule.any_tokens:
        return f"kind {', '.join(rule.kinds)}" if rule.kinds else "every issue"
    return None


def _epic(issue: IssueText, config: TriageConfig, title: list[str], items: int) -> str | None:
    rule = config.epic
    labels = {label.strip().lower() for label in issue.labels}
    for label in rule.labels:
        if label.lower() in labels:
            return f"epic: the issue is labelled {_q(label)}."
    terms = _distinct(t for t in rule.tokens if phrase_hits(title, t))
    if terms:
        return f"epic: the title says {_quoted(terms)}."
    if rule.min_checklist_items > 0 and items >= rule.min_checklist_items:
        return f"epic: {items} checklist items (>= {rule.min_checklist_items})."
    return None


def _has_heading(body: str, headings: Sequence[str]) -> str | None:
    wanted = [" ".join(h.lower().split()) for h in headings if h.strip()]
    for line in body.splitlines():
        text = " ".join(_LINE_LEAD.sub("", line).lower().split())
        for heading in wanted:
            if text.startswith(heading) and not text[len(heading) : len(heading) + 1].isalnum():
                return heading
    return None


def _needs_info(issue: IssueText, config: TriageConfig, body: list[str], items: int) -> str | None:
    rule = config.needs_info
    if rule.min_body_words and len(body) < rule.min_body_words:
        return f"needs info: the body has {len(body)} words (fewer than {rule.min_body_words})."
    if _has_heading(issue.body, rule.headings) is not None:
        return None
    if rule.checklist_counts and items:
        return None
    shown = ", ".join(_q(h) for h in rule.headings[:3])
    more = " or another criteria heading" if len(rule.headings) > 3 else ""
    checklist = " and no checklist" if rule.checklist_counts else ""
    return f"needs info: no acceptance criteria (no {shown}{more}{checklist})."


def _comparable(issue: IssueText) -> str:
    """What duplicate detection compares: the title twice, the body without headings and checklist marks."""
    body = _HEADING_LINE.sub(" ", issue.body)
    body = _CHECKLIST.sub(" ", body)
    return f"{issue.title}\n{issue.title}\n{body}"


def comparable_bags(issues: Sequence[IssueText]) -> list[Bag]:
    """The bag duplicate detection compares for each issue (bounded already), in order."""
    return [bag_of(_comparable(issue)) for issue in issues]


def find_duplicates(number: int, mine: Bag, others: Iterable[tuple[int, Bag]], rule: DuplicateRule) -> Duplicates:
    """The open issues (number, bag) at ``rule.threshold`` or more like ``mine``, most similar first."""
    if rule.max_suggestions == 0:
        return ()
    found = []
    for other, bag in others:
        if other == number:
            continue
        score = cosine(mine, bag)
        if score >= rule.threshold:
            found.append((other, round(score, 3)))
    found.sort(key=lambda pair: (-pair[1], pair[0]))
    return tuple(found[: rule.max_suggestions])


def _duplicates(issue: IssueText, config: TriageConfig, open_issues: Sequence[IssueText]) -> Duplicates:
    if config.duplicates.max_suggestions == 0:
        return ()
    others = [bound(other, config.limits) for other in open_issues if other.number != issue.number]
    bags = comparable_bags([issue, *others])
    return find_duplicates(
        issue.number, bags[0], zip((o.number for o in others), bags[1:], strict=True), config.duplicates
    )


def _finish(
    issue: IssueText,
    config: TriageConfig,
    duplicates: Duplicates,
    kind: str,
    scores: dict[str, float],
    reasons: list[str],
    classifier: str,
    search: str = BAG_OF_STEMS,
) -> TriageResult:
    title, body = tokenize(issue.title), tokenize(issue.body)
    items = checklist_items(issue.body)
    priority, rule, priority_reason = _priority(issue, kind, config, title, body)
    reasons.append(priority_reason)
    epic = _epic(issue, config, title, items)
    needs = _needs_info(issue, config, body, items)
    labels = [f"kind/{kind}", f"priority/{priority}"]
    for note, label in ((epic, "epic"), (needs, "needs-info")):
        if note is not None:
            labels.append(label)
            reasons.append(note)
    if duplicates:
        found = ", ".join(f"#{n} ({s:.2f})" for n, s in duplicates)
        reasons.append(f"possible duplicates: {found}; found by {search}.")
    if issue.cut is not None:
        reasons.append(_cut_note(issue, config.limits))
    return TriageResult(
        kind=kind,
        priority=priority,
        kind_scores=scores,
        priority_rule=rule,
        epic=epic is not None,
        needs_info=needs is not None,
        duplicates=duplicates,
        labels=tuple(labels),
        reasons=tuple(reasons),
        classifier=classifier,
        duplicate_search=search,
    )


def _cut_note(issue: IssueText, limits: TriageLimits) -> str:
    assert issue.cut is not None
    title, body = issue.cut
    parts = [f"the first {limits.body_chars:,} of the body's {body:,} characters"] if body > limits.body_chars else []
    if title > limits.title_chars:
        parts.append(f"the first {limits.title_chars:,} of the title's {title:,} characters")
    if not parts:  # cut under other limits than these
        parts.append(f"part of the text ({title:,} + {body:,} characters as filed)")
    return f"read {' and '.join(parts)} only (triage limits): words past the cut were not weighed."


def _distinct(terms: Iterable[str]) -> list[str]:
    """The terms, leaving out one that is the same words as an earlier one ("crashes" after "crash")."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for term in terms:
        key = tuple(stem(t) for t in tokenize(term))
        if key not in seen:
            seen.add(key)
            out.append(term)
    return out


def _q(text: str) -> str:
    return f'"{text}"'


def _quoted(terms: Sequence[str]) -> str:
    return ", ".join(_q(t) for t in terms)
