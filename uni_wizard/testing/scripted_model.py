"""``ScriptedModel``: a ``CompletionClient`` that replays a script, for tests of code built on the cascade.

Each ``complete()`` takes the next entry of the script: a ``Completion`` is returned, a ``ModelError``
raised, and a callable is called with the messages to build the answer (for answers that depend on what
the code under test said). Every request is recorded in ``requests`` (messages, tools, stream), so a test
can check what the model was shown. Running past the end of the script fails the test loudly
(``ScriptExhausted``, an ``AssertionError``: not a ``ModelError`` the code under test might swallow).

    model = ScriptedModel([tool_reply(("file_read", {"path": "{worktree}/README.md"})), text_reply("done")])
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..cascade.types import Completion, Message, ToolCall, ToolSchema, Usage
from ..errors import ModelError

__all__ = ["ScriptExhausted", "ScriptedModel", "ScriptedRequest", "text_reply", "tool_reply"]

Reply = Completion | ModelError | Callable[[Sequence[Message]], Completion]


class ScriptExhausted(AssertionError):
    """The code under test asked the model more often than the script foresaw."""


@dataclass(frozen=True)
class ScriptedRequest:
    messages: tuple[Message, ...]
    tools: tuple[ToolSchema, ...] | None
    stream: bool


def text_reply(content: str, *, input_tokens: int = 20, output_tokens: int = 10, model: str = "scripted") -> Completion:
    """A final answer (no tool calls) with the given usage."""
    return Completion(
        content,
        provider="script",
        model=model,
        usage=Usage(input_tokens, output_tokens),
        finish_reason="stop",
    )


def tool_reply(
    *calls: tuple[str, Any], input_tokens: int = 20, output_tokens: int = 10, model: str = "scripted"
) -> Completion:
    """An answer asking for tool calls, each ``(name, arguments)``; ids are ``call_1``, ``call_2``..."""
    return Completion(
        "",
        provider="script",
        model=model,
        tool_calls=tuple(ToolCall(name, arguments, f"call_{i}") for i, (name, arguments) in enumerate(calls, 1)),
        usage=Usage(input_tokens, output_tokens),
        finish_reason="tool_calls",
    )


class ScriptedModel:
    """Replays ``script`` one entry per ``complete()`` call and records each request in ``requests``."""

    def __init__(self, script: Iterable[Reply]) -> None:
        self._script = list(script)
        self.requests: list[ScriptedRequest] = []

    @property
    def remaining(self) -> int:
        return len(self._script)

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        stream: bool = False,
    ) -> Completion:
        self.requests.append(ScriptedRequest(tuple(messages), None if tools is None else tuple(tools), stream))
        if not self._script:
            raise ScriptExhausted(f"the script has no reply left for request {len(self.requests)}")
        reply = self._script.pop(0)
        if isinstance(reply, ModelError):
            raise reply
        if isinstance(reply, Completion):
            return reply
        return reply(tuple(messages))

    def tool_messages(self, request: int = -1) -> list[Mapping[str, Any]]:
        """The ``tool`` messages of one request (the last by default), their content parsed as JSON."""
        return [
            {"name": m.name, "id": m.tool_call_id, **json.loads(m.content)}
            for m in self.requests[request].messages
            if m.role == "tool"
        ]
