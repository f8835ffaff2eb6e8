"""What goes into a model and what comes out, independent of the provider's protocol.

``CompletionClient`` is the seam the planner and the triage classifier depend on: the ``Cascade`` is the
real one; ``uni_wizard.testing.ScriptedModel`` replays answers in tests of code built on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Completion", "CompletionClient", "Message", "ToolCall", "ToolSchema", "Usage"]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A tool the model asks to call; ``arguments`` already parsed from JSON (an object)."""

    name: str
    arguments: Mapping[str, Any]
    id: str = ""


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""  # for role "tool": the call it answers
    name: str = ""  # for role "tool": the tool's name (Ollama's tool_name)


@dataclass(frozen=True)
class ToolSchema:
    """A tool offered to the model: OpenAI's function shape (``parameters`` is a JSON Schema object)."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """One answer. ``fallbacks`` are ``(from_provider, to_provider, reason)`` hops taken before it;
    ``incomplete`` is True when a stream broke after its first token (``content`` is what arrived, never
    spliced from another model); ``finish_reason`` is the provider's ("stop", "length", "tool_calls"...)."""

    content: str
    provider: str
    model: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0  # seconds, the whole call including failovers
    fallbacks: tuple[tuple[str, str, str], ...] = ()
    incomplete: bool = False
    finish_reason: str = ""
    error: str = ""  # why an incomplete answer broke off


class CompletionClient(Protocol):
    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        stream: bool = False,
    ) -> Completion: ...
