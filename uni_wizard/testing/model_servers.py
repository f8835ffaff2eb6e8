"""Fake model servers on real loopback sockets, speaking Ollama's and the OpenAI-compatible protocol, with
fault injection. Shipped because Ollama cannot be installed where uni-wizard is built; tests and
benchmarks (``benchmarks/cascade_failover.py`` with LiteLLM) point real HTTP clients at them.

    with FakeOllama(models=("llama3.2:3b",)) as ollama, FakeOpenAI(models=("smollm2",)) as llamacpp:
        ollama.script(Fault.BUSY, Fault.BUSY)        # the next two chats answer 503 + Retry-After
        llamacpp.reply = Reply("Hi!", tool_calls=(ToolCall("echo", {"text": "hi"}),))
        ...  # ollama.url is Ollama's root; llamacpp.url ends with /v1
        ollama.stop()                                 # its port now refuses connections
        ollama.start()                                # ... and serves again on the same port

Each chat request takes the next scripted item (a ``Fault`` or a ``Reply``), else ``fault`` / ``reply``.
A model the server does not list answers 404; a prompt over ``context_tokens`` (about 4 characters a
token) answers the protocol's context-length error. Run one alone (for a benchmark in another process):
``python -m uni_wizard.testing.model_servers openai --port 18080 --fault busy``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from ._model_http import FakeModelServer, Fault, Reply, closed_port

__all__ = ["FakeModelServer", "FakeOllama", "FakeOpenAI", "Fault", "Reply", "closed_port"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FakeOllama(FakeModelServer):
    """Ollama: ``POST /api/chat`` (NDJSON when streaming, the default), ``GET /api/tags``, ``/api/version``."""

    kind = "ollama"
    chat_path = "/api/chat"
    stream_type = "application/x-ndjson"
    end_marker = b""

    def model_list(self) -> dict[str, Any]:
        return {
            "models": [
                {"name": m, "model": m, "modified_at": _now(), "size": 1, "digest": "0" * 64, "details": {}}
                for m in self.models
            ]
        }

    def handle_get(self, handler: Any) -> None:
        if handler.path == "/api/version":
            handler.send_json(200, {"version": "0.5.1"})
            return
        super().handle_get(handler)

    def error_body(self, fault: Fault, model: str, authorization: str | None = None) -> dict[str, Any]:
        messages = {
            Fault.BUSY: "server busy, please try again.  maximum pending requests exceeded",
            Fault.RATE_LIMITED: "too many requests",
            Fault.SERVER_ERROR: "llama runner process has terminated",
            Fault.MODEL_NOT_FOUND: f"model '{model}' not found, try pulling it first",
            Fault.CONTEXT_LENGTH: "the input length exceeds the context length",
            Fault.UNAUTHORIZED: f"unauthorized: {authorization or ''}",
        }
        return {"error": messages[fault]}

    def error_event(self, model: str) -> dict[str, Any]:
        return {"error": "an error was encountered while running the model: unexpected EOF"}

    def events(self, reply: Reply, model: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for piece in reply.pieces():
            yield {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
        if reply.tool_calls:
            calls = [{"function": {"name": c.name, "arguments": dict(c.arguments)}} for c in reply.tool_calls]
            message = {"role": "assistant", "content": "", "tool_calls": calls}
            yield {"model": model, "created_at": _now(), "message": message, "done": False}
        yield self.whole(Reply("", (), reply.input_tokens, reply.output_tokens), model)

    def whole(self, reply: Reply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"function": {"name": c.name, "arguments": dict(c.arguments)}} for c in reply.tool_calls
            ]
        return {
            "model": model,
            "created_at": _now(),
            "message": message,
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "prompt_eval_count": reply.input_tokens,
            "eval_count": reply.output_tokens,
        }

    def encode(self, data: dict[str, Any]) -> bytes:
        return json.dumps(data).encode() + b"\n"


class FakeOpenAI(FakeModelServer):
    """An OpenAI-compatible server (as llama-cpp-python's): ``POST /v1/chat/completions`` (SSE when
    ``stream``), ``GET /v1/models``. ``url`` ends with ``/v1``, as an OpenAI base URL does."""

    kind = "openai-compatible"
    chat_path = "/v1/chat/completions"
    stream_type = "text/event-stream"
    end_marker = b"data: [DONE]\n\n"
    first_token_event = 1  # after the role-only chunk

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def model_list(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "me"} for m in self.models]}

    def error_body(self, fault: Fault, model: str, authorization: str | None = None) -> dict[str, Any]:
        shapes = {
            Fault.BUSY: ("server busy", "api_error", None),
            Fault.RATE_LIMITED: ("rate limit reached", "rate_limit_error", "rate_limit_exceeded"),
            Fault.SERVER_ERROR: ("internal server error", "internal_server_error", None),
            Fault.MODEL_NOT_FOUND: (f"The model `{model}` does not exist", "invalid_request_error", "model_not_found"),
            Fault.CONTEXT_LENGTH: (
                "This model's maximum context length is 2048 tokens. However, you requested 5000 tokens.",
                "invalid_request_error",
                "context_length_exceeded",
            ),
            Fault.UNAUTHORIZED: (
                f"Incorrect API key provided: {(authorization or '').removeprefix('Bearer ')}",
                "invalid_request_error",
                "invalid_api_key",
            ),
        }
        message, kind, code = shapes[fault]
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def error_event(self, model: str) -> dict[str, Any]:
        return {"error": {"message": "the model crashed mid-answer", "type": "server_error", "code": None}}

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [choice],
        }

    def events(self, reply: Reply, model: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield self._chunk(model, {"role": "assistant", "content": ""})
        for piece in reply.pieces():
            yield self._chunk(model, {"content": piece})
        for index, call in enumerate(reply.tool_calls):
            arguments = json.dumps(dict(call.arguments))
            half = len(arguments) // 2
            head = {
                "index": index,
                "id": call.id or f"call_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": arguments[:half]},
            }
            yield self._chunk(model, {"tool_calls": [head]})
            yield self._chunk(model, {"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
        yield self._chunk(model, {}, "tool_calls" if reply.tool_calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": self._usage(reply),
            }

    def _usage(self, reply: Reply) -> dict[str, int]:
        total = reply.input_tokens + reply.output_tokens
        return {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens, "total_tokens": total}

    def whole(self, reply: Reply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id or f"call_{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
                }
                for i, c in enumerate(reply.tool_calls)
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self._usage(reply),
        }

    def encode(self, data: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(data).encode() + b"\n\n"


def main(argv: list[str] | None = None) -> None:
    """Serve one fake until interrupted; prints its base URL first."""
    parser = argparse.ArgumentParser(prog="python -m uni_wizard.testing.model_servers")
    parser.add_argument("protocol", choices=("ollama", "openai"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", action="append", default=None, help="A model it serves (repeatable).")
    parser.add_argument("--fault", choices=[f.value for f in Fault], default="none")
    parser.add_argument("--delay", type=float, default=2.0, help="Seconds of the slow fault.")
    args = parser.parse_args(argv)
    cls = FakeOllama if args.protocol == "ollama" else FakeOpenAI
    server = cls(tuple(args.model or ("fake-model",)), fault=Fault(args.fault), delay=args.delay, port=args.port)
    server.start()
    print(server.url, flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
            threading.Event().wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
