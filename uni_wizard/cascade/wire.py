"""What the two protocols share: the pieces a stream is parsed into, and HTTP errors turned into the
``ModelError`` branch once, by status code and the protocol's error code (message text only where a
protocol gives no code: context-length errors of Ollama and vLLM).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from ..errors import (
    ContextLengthExceeded,
    ModelError,
    ModelNotFound,
    ProviderMalformed,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from .types import Message, ToolCall, ToolSchema, Usage

__all__ = [
    "Delta",
    "Finish",
    "StreamParser",
    "WireProtocol",
    "error_for_status",
    "function_tools",
    "load_json",
    "parse_retry_after",
    "short",
]

CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error", "context_window_exceeded"})
CONTEXT_PHRASES = ("context length", "context window", "maximum context", "context size")
RETRIED_STATUSES: dict[int, type[ProviderUnavailable]] = {
    408: ProviderTimeout,
    429: ProviderRateLimited,
    502: ProviderUnavailable,
    503: ProviderUnavailable,
    504: ProviderUnavailable,
}
MAX_MESSAGE = 300


@dataclass(frozen=True)
class Delta:
    """A piece of an answer as it arrives: text, or (``tool_call``) a piece of a tool call."""

    text: str = ""
    tool_call: bool = False


@dataclass(frozen=True)
class Finish:
    """How a stream ended: the tool calls (parsed), usage and the provider's finish reason."""

    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""


class StreamParser(Protocol):
    def feed(self, line: str) -> list[Delta]:
        """The pieces one line carries; raises ``ProviderUnavailable`` on an error line or bad JSON."""

    @property
    def done(self) -> bool:
        """True once the protocol's end marker arrived."""

    def finish(self) -> Finish: ...


class WireProtocol(Protocol):
    """One provider protocol: paths, request body, parsing of answers and errors."""

    chat_path: str
    health_path: str

    def request_body(
        self, model: str, messages: Sequence[Message], tools: Sequence[ToolSchema] | None, stream: bool
    ) -> dict[str, Any]: ...

    def stream_parser(self, provider: str, model: str) -> StreamParser: ...

    def parse_body(self, body: bytes, provider: str, model: str) -> tuple[list[Delta], Finish]: ...

    def error_details(self, body: bytes) -> tuple[str, str]:
        """(message, codes) of an error answer (codes: the error's code and type, space-separated); empty
        strings when the body says nothing usable."""

    def health_models(self, body: bytes) -> frozenset[str]: ...


def short(text: str) -> str:
    """Error text from a provider, on one line and bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 1] + "…"


def load_json(text: str | bytes, provider: str, model: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ProviderMalformed(
            f"{provider} answered malformed JSON: {short(str(text[:120]))!r}", provider=provider, model=model
        ) from None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    with contextlib.suppress(ValueError):  # delta-seconds, else an HTTP date
        return max(0.0, float(value))
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def is_context_error(message: str, code: str) -> bool:
    lowered = message.lower()
    return bool(CONTEXT_CODES.intersection(code.split())) or any(phrase in lowered for phrase in CONTEXT_PHRASES)


def error_for_status(
    status: int, message: str, code: str, headers: Mapping[str, str], provider: str, model: str
) -> ModelError:
    """The error an HTTP error answer means. 408/429/502/503/504 are worth a retry; other 5xx fail over
    without one; 404 is a missing model; a context overflow may fit a bigger model; the rest is permanent."""
    text = f"{provider} ({model}) answered {status}" + (f": {short(message)}" if message else "")
    retried = RETRIED_STATUSES.get(status)
    if retried is not None:
        retry_after = parse_retry_after(headers.get("retry-after"))
        return retried(text, provider=provider, model=model, retry_after=retry_after)
    if status >= 500:
        return ProviderServerError(text, provider=provider, model=model)
    if status == 404:
        return ModelNotFound(text, provider=provider, model=model)
    if status in (400, 413, 422) and is_context_error(message, code):
        return ContextLengthExceeded(text, provider=provider, model=model)
    return ProviderRejected(text, provider=provider, model=model)


def tool_arguments(raw: Any, provider: str, model: str) -> Mapping[str, Any]:
    """A tool call's arguments: an object (Ollama) or a JSON string of one (OpenAI)."""
    value = raw
    if isinstance(raw, str):
        value = load_json(raw or "{}", provider, model)
    if not isinstance(value, dict):
        raise ProviderMalformed(
            f"{provider} sent tool call arguments that are not an object", provider=provider, model=model
        )
    return value


def function_tools(tools: Sequence[ToolSchema]) -> list[dict[str, Any]]:
    """``tools`` in the function-calling shape both protocols take (Ollama's /api/chat and OpenAI's)."""
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": {**t.parameters}}}
        for t in tools
    ]
