"""Triage's model classifier: the ``Classifier`` seam of ``dispatch/types.py`` on a ``CompletionClient``.

The model gets a short prompt (the configured kinds, the issue's title, labels and the start of its body)
and must answer with one JSON object, ``{"kind": "<one of the kinds>", "confidence": <0..1>}``, optionally
inside one fenced code block. The parse is strict: anything else (prose, another kind, a confidence that
is not a number in 0..1, extra keys besides ``reason``) gives ``None``, and so does a ``ModelError`` (every
provider down, a rejected request). ``None`` means "the rules decide": the dispatcher never stops for the
model.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from typing import Any

from ..cascade.types import CompletionClient, Message
from ..errors import ModelError
from .types import ClassifierVerdict, IssueText

__all__ = ["ModelClassifier", "parse_verdict"]

log = logging.getLogger(__name__)

BODY_LIMIT = 2_000  # characters of the body the model sees: enough to classify, cheap on a small context
_FENCED = re.compile(r"^```[a-zA-Z]*\s*\n(.*?)\n?```$", re.DOTALL)
_ALLOWED_KEYS = frozenset({"kind", "confidence", "reason"})

SYSTEM = (
    "You classify issues of a software project. Answer with exactly one JSON object and nothing else: "
    '{"kind": "<kind>", "confidence": <number from 0 to 1>}. The kind must be one of the listed kinds.'
)


def classify_prompt(issue: IssueText, kinds: Sequence[str]) -> str:
    body = issue.body[:BODY_LIMIT]
    labels = ", ".join(issue.labels) or "none"
    return f"Kinds: {', '.join(kinds)}\n\nIssue #{issue.number}: {issue.title}\nLabels: {labels}\n\n{body}".rstrip()


def parse_verdict(answer: str, kinds: Sequence[str], model: str) -> ClassifierVerdict | None:
    """The verdict in ``answer``, or ``None`` when it is not exactly a known kind and a confidence in 0..1."""
    text = answer.strip()
    fenced = _FENCED.match(text)
    if fenced is not None:
        text = fenced.group(1).strip()
    try:
        data: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not {"kind", "confidence"} <= data.keys() <= _ALLOWED_KEYS:
        return None
    kind, confidence = data["kind"], data["confidence"]
    if not isinstance(kind, str) or kind not in kinds:
        return None
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return None
    if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        return None
    return ClassifierVerdict(kind, float(confidence), model)


class ModelClassifier:
    """Asks ``model`` for an issue's kind; ``None`` whenever the answer cannot be trusted to parse.

    >>> verdict = await ModelClassifier(cascade).classify(issue, ("bug", "feature", "docs"))
    ClassifierVerdict(kind='bug', confidence=0.8, model='ollama/qwen2.5:7b')
    """

    def __init__(self, model: CompletionClient) -> None:
        self.model = model

    async def classify(self, issue: IssueText, kinds: Sequence[str]) -> ClassifierVerdict | None:
        messages = [Message("system", SYSTEM), Message("user", classify_prompt(issue, kinds))]
        try:
            completion = await self.model.complete(messages)
        except ModelError as exc:
            log.info("model classifier: no answer for issue #%d (%s: %s)", issue.number, type(exc).__name__, exc)
            return None
        if completion.incomplete or completion.tool_calls:
            return None
        verdict = parse_verdict(completion.content, kinds, f"{completion.provider}/{completion.model}")
        if verdict is None:
            log.info("model classifier: an answer for issue #%d that does not parse", issue.number)
        return verdict
