"""The OpenAI-compatible protocol (llama.cpp's server, llama-cpp-python, vLLM, Ollama's /v1, hosted APIs):
``POST {base}/chat/completions`` (SSE when streaming, ended by ``data: [DONE]``), ``GET {base}/models`` for
health (llama-cpp-python has no /health). Tool-call arguments are a JSON string, streamed in pieces by
index; an error can arrive as a ``data: {"error": ...}`` event inside a 200.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import ProviderMalformed, ProviderUnavailable
from .types import Message, ToolCall, ToolSchema, Usage
from .wire import Delta, Finish, function_tools, load_json, short, tool_arguments

__all__ = ["OpenAIProtocol", "openai_message"]


def openai_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id or f"call_{index}",
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
            }
            for index, c in enumerate(message.tool_calls)
        ]
    if message.role == "tool":
        if message.tool_call_id:
            out["tool_call_id"] = message.tool_call_id
        if message.name:
            out["name"] = message.name
    return out


class _PendingCall:
    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments = ""


class _OpenAIParser:
    def __init__(self, provider: str, model: str) -> None:
        self.provider, self.model = provider, model
        self.calls: dict[int, _PendingCall] = {}
        self.usage = Usage()
        self.finish_reason = ""
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def _malformed(self, what: str) -> ProviderMalformed:
        return ProviderMalformed(f"{self.provider} sent {what}", provider=self.provider, model=self.model)

    def feed(self, line: str) -> list[Delta]:
        if not line.startswith("data:"):
            return []  # blank separators, ": keep-alive" comments, event: and id: fields
        payload = line[5:].strip()
        if payload == "[DONE]":
            self._done = True
            return []
        return self.take(load_json(payload, self.provider, self.model), streamed=True)

    def take(self, chunk: Any, *, streamed: bool) -> list[Delta]:
        if not isinstance(chunk, dict):
            raise self._malformed("an event that is not an object")
        if "error" in chunk:
            error = chunk["error"]
            text = error.get("message", error) if isinstance(error, dict) else error
            raise ProviderUnavailable(
                f"{self.provider} ({self.model}) reported an error mid-answer: {short(str(text))}",
                provider=self.provider,
                model=self.model,
            )
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise self._malformed("an answer without choices")
        deltas: list[Delta] = []
        for choice in choices[:1]:
            if not isinstance(choice, dict):
                raise self._malformed("a choice that is not an object")
            part = choice.get("delta" if streamed else "message") or {}
            content = part.get("content")
            if isinstance(content, str) and content:
                deltas.append(Delta(text=content))
            for piece in part.get("tool_calls") or ():
                self._add_call_piece(piece)
                deltas.append(Delta(tool_call=True))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        if not streamed:
            self._done = True
        return deltas

    def _add_call_piece(self, piece: Any) -> None:
        if not isinstance(piece, dict):
            raise self._malformed("a tool call that is not an object")
        index = piece.get("index", len(self.calls))
        pending = self.calls.setdefault(int(index), _PendingCall())
        pending.id = str(piece.get("id") or pending.id)
        function = piece.get("function") or {}
        pending.name += str(function.get("name") or "")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            pending.arguments += arguments
        elif isinstance(arguments, dict):  # some servers send the object itself
            pending.arguments += json.dumps(arguments)

    def finish(self) -> Finish:
        calls = []
        for _, pending in sorted(self.calls.items()):
            if not pending.name:
                raise self._malformed("a tool call without a name")
            calls.append(
                ToolCall(
                    name=pending.name,
                    arguments=tool_arguments(pending.arguments, self.provider, self.model),
                    id=pending.id,
                )
            )
        return Finish(tuple(calls), self.usage, self.finish_reason)


class OpenAIProtocol:
    chat_path = "/chat/completions"
    health_path = "/models"

    def request_body(
        self, model: str, messages: Sequence[Message], tools: Sequence[ToolSchema] | None, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": [openai_message(m) for m in messages], "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = function_tools(tools)
        return body

    def stream_parser(self, provider: str, model: str) -> _OpenAIParser:
        return _OpenAIParser(provider, model)

    def parse_body(self, body: bytes, provider: str, model: str) -> tuple[list[Delta], Finish]:
        parser = _OpenAIParser(provider, model)
        deltas = parser.take(load_json(body, provider, model), streamed=False)
        return deltas, parser.finish()

    def error_details(self, body: bytes) -> tuple[str, str]:
        try:
            data = load_json(body, "", "")
        except ProviderMalformed:
            return short(body.decode("utf-8", "replace")), ""
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            codes = " ".join(str(error[k]) for k in ("code", "type") if error.get(k))
            return short(str(error.get("message", ""))), codes
        if error:
            return short(str(error)), ""
        return "", ""

    def health_models(self, body: bytes) -> frozenset[str]:
        data = load_json(body, "", "")
        models = data.get("data") if isinstance(data, dict) else None
        return frozenset(str(m["id"]) for m in models or () if isinstance(m, dict) and m.get("id"))
