"""Triage's model classifier on a scripted model: a good answer gives a verdict; an unknown kind, anything
unparseable, a tool call, a broken stream or a ModelError gives None, and triage then keeps the rules."""

from __future__ import annotations

from typing import Any

import pytest

from uni_wizard.cascade.types import Completion
from uni_wizard.dispatch.classifier import ModelClassifier, parse_verdict
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.dispatch.triage import triage_with_model
from uni_wizard.dispatch.types import ClassifierVerdict, IssueText
from uni_wizard.errors import CascadeExhausted, ContextLengthExceeded, ModelError
from uni_wizard.testing import ScriptedModel, text_reply, tool_reply

KINDS = ("bug", "feature", "docs")
ISSUE = IssueText(12, "The login page crashes", "Traceback when I press the button.", ("area/web",))


async def classify(*script: Any) -> tuple[ClassifierVerdict | None, ScriptedModel]:
    model = ScriptedModel(script)
    return await ModelClassifier(model).classify(ISSUE, KINDS), model


async def test_a_good_answer_is_a_verdict_and_the_prompt_names_the_kinds() -> None:
    verdict, model = await classify(text_reply('{"kind": "bug", "confidence": 0.8}', model="smollm2"))

    assert verdict == ClassifierVerdict("bug", 0.8, "script/smollm2")
    (request,) = model.requests
    assert request.tools is None and request.stream is False
    system, user = request.messages
    assert "JSON" in system.content
    assert "Kinds: bug, feature, docs" in user.content and "The login page crashes" in user.content


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"kind": "docs", "confidence": 1}\n```',
        '  {"kind": "docs", "confidence": 1.0, "reason": "it is about the README"}  ',
    ],
)
async def test_a_fenced_answer_or_one_with_a_reason_is_accepted(answer: str) -> None:
    verdict, _ = await classify(text_reply(answer))
    assert verdict is not None and (verdict.kind, verdict.confidence) == ("docs", 1.0)


@pytest.mark.parametrize(
    "answer",
    [
        '{"kind": "question", "confidence": 0.9}',  # not one of the kinds
        '{"kind": "Bug", "confidence": 0.9}',  # kinds are exact
        "It is a bug.",
        "",
        '{"kind": "bug"}',
        '{"kind": "bug", "confidence": "high"}',
        '{"kind": "bug", "confidence": true}',
        '{"kind": "bug", "confidence": 1.5}',
        '{"kind": "bug", "confidence": -0.1}',
        '{"kind": "bug", "confidence": NaN}',
        '{"kind": "bug", "confidence": 0.9, "priority": "P1"}',
        '[{"kind": "bug", "confidence": 0.9}]',
        '{"kind": "bug", "confidence": 0.9} and also feature',
        '{"kind": ["bug"], "confidence": 0.9}',
    ],
)
async def test_anything_else_is_none(answer: str) -> None:
    verdict, _ = await classify(text_reply(answer))
    assert verdict is None


@pytest.mark.parametrize(
    "error",
    [
        CascadeExhausted("every provider failed", attempts=(("ollama", "m", "connection refused"),)),
        ContextLengthExceeded("too long", provider="local", model="m"),
        ModelError("whatever"),
    ],
)
async def test_a_model_error_is_none(error: ModelError) -> None:
    verdict, model = await classify(error)
    assert verdict is None and len(model.requests) == 1


async def test_a_tool_call_or_a_broken_stream_is_none() -> None:
    assert (await classify(tool_reply(("file_read", {"path": "x"}))))[0] is None
    broken = Completion('{"kind": "bug", "confidence": 0.9}', provider="p", model="m", incomplete=True)
    assert (await classify(broken))[0] is None


def test_parse_verdict_keeps_the_model_name() -> None:
    assert parse_verdict('{"kind": "feature", "confidence": 0}', KINDS, "ollama/qwen") == ClassifierVerdict(
        "feature", 0.0, "ollama/qwen"
    )


# -- through triage -----------------------------------------------------------------------------------


async def test_triage_takes_the_models_kind_and_says_so() -> None:
    config = load_triage_config()
    model = ScriptedModel([text_reply('{"kind": "docs", "confidence": 0.9}')])
    result = await triage_with_model(ISSUE, config, (), ModelClassifier(model))
    assert result.kind == "docs" and result.classifier == "model:script/scripted"


async def test_triage_keeps_the_rules_when_the_model_is_down_or_talks_nonsense() -> None:
    config = load_triage_config()
    for reply in (CascadeExhausted("down"), text_reply("no idea")):
        result = await triage_with_model(ISSUE, config, (), ModelClassifier(ScriptedModel([reply])))
        assert (result.kind, result.classifier) == ("bug", "rules")
