"""Ollama's native protocol: ``POST /api/chat`` (NDJSON when streaming), ``GET /api/tags`` for health and
the models pulled. A stream's error arrives as a ``{"error": ...}`` line inside a 200, so every line is
checked; tool calls come whole, with ``arguments`` as an object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ProviderMalformed, ProviderUnavailable
from .types import Message, ToolCall, ToolSchema, Usage
from .wire import Delta, Finish, function_tools, load_json, short, tool_arguments

__all__ = ["OllamaProtocol", "ollama_message"]


def ollama_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": dict(c.arguments)}} for c in message.tool_calls]
    if message.role == "tool" and message.name:
        out["tool_name"] = message.name
    return out


class _OllamaParser:
    def __init__(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model
        self.tool_calls: list[ToolCall] = []
        self.usage = Usage()
        self.finish_reason = ""
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, line: str) -> list[Delta]:
        if not line.strip():
            return []
        return self.take(load_json(line, self.provider, self.model))

    def take(self, chunk: Any) -> list[Delta]:
        if not isinstance(chunk, dict):
            raise ProviderMalformed(
                f"{self.provider} sent a line that is not an object", provider=self.provider, model=self.model
            )
        if "error" in chunk:
            raise ProviderUnavailable(
                f"{self.provider} ({self.model}) reported an error mid-answer: {short(str(chunk['error']))}",
                provider=self.provider,
                model=self.model,
            )
        deltas: list[Delta] = []
        message = chunk.get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and content:
            deltas.append(Delta(text=content))
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for call in calls or ():
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise ProviderMalformed(
                    f"{self.provider} sent a tool call without a name", provider=self.provider, model=self.model
                )
            arguments = tool_arguments(function.get("arguments", {}), self.provider, self.model)
            self.tool_calls.append(ToolCall(name=name, arguments=arguments, id=str(call.get("id", ""))))
            deltas.append(Delta(tool_call=True))
        if chunk.get("done"):
            self._done = True
            self.finish_reason = str(chunk.get("done_reason") or "stop")
            self.usage = Usage(int(chunk.get("prompt_eval_count") or 0), int(chunk.get("eval_count") or 0))
        return deltas

    def finish(self) -> Finish:
        reason = "tool_calls" if self.tool_calls and self.finish_reason == "stop" else self.finish_reason
        return Finish(tuple(self.tool_calls), self.usage, reason)


class OllamaProtocol:
    chat_path = "/api/chat"
    health_path = "/api/tags"

    def request_body(
        self, model: str, messages: Sequence[Message], tools: Sequence[ToolSchema] | None, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": [ollama_message(m) for m in messages], "stream": stream}
        if tools:
            body["tools"] = function_tools(tools)
        return body

    def stream_parser(self, provider: str, model: str) -> _OllamaParser:
        return _OllamaParser(provider, model)

    def parse_body(self, body: bytes, provider: str, model: str) -> tuple[list[Delta], Finish]:
        parser = _OllamaParser(provider, model)
        deltas = parser.take(load_json(body, provider, model))
        return deltas, parser.finish()

    def error_details(self, body: bytes) -> tuple[str, str]:
        try:
            data = load_json(body, "", "")
        except ProviderMalformed:
            return short(body.decode("utf-8", "replace")), ""
        error = data.get("error") if isinstance(data, dict) else None
        return (short(str(error)), "") if error else ("", "")

    def health_models(self, body: bytes) -> frozenset[str]:
        data = load_json(body, "", "")
        models = data.get("models") if isinstance(data, dict) else None
        names: set[str] = set()
        for entry in models or ():
            if isinstance(entry, dict):
                names.update(str(entry[k]) for k in ("name", "model") if entry.get(k))
        return frozenset(names)
