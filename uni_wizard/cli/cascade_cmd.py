"""``cascade status`` and ``cascade ask``: the model providers and their breakers; one question to the models.

``status`` asks the running daemon (``GET /api/v1/cascade`` on the settings' bind and port), whose
breakers and latencies are the live ones; with ``--local``, or when no daemon answers, it builds the
cascade in this process and probes each provider once (breakers are then fresh: closed).
``ask`` prints the answer on stdout and the provider, model and fallbacks on stderr; it exits 4 when
the cascade is exhausted or the answer broke off.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from prometheus_client import CollectorRegistry

from ..cascade.cascade import Cascade
from ..cascade.config import load_cascade_config
from ..cascade.types import Completion, Message
from ..config import Settings
from .common import EXIT_FAILED, Col, Exit, console, err_console, fit_table, options, print_json

__all__ = ["register"]


def _daemon_status(settings: Settings) -> tuple[dict[str, Any] | None, str]:
    from ..assembly.local_daemon import ask_daemon  # here, not at the top: `--help` stays quick

    data, url = ask_daemon(settings, "/api/v1/cascade")
    return (data if data is not None and "providers" in data else None), url


async def _local_status(cascade: Cascade) -> dict[str, Any]:
    try:
        await cascade.probe_once()
        return cascade.status()
    finally:
        await cascade.aclose()


def _seconds(value: Any) -> str:
    return f"{value * 1000:.0f} ms" if isinstance(value, int | float) else "-"


PROVIDER_COLUMNS = (
    Col("provider", width=8, wrap=True),
    Col("kind", drop=4),
    Col("url", width=16, wrap=True, drop=2),
    Col("locality", drop=5),
    Col("breaker", width=8, wrap=True),
    Col("reachable"),
    Col("p50", drop=3),
    Col("last error", width=16, wrap=True, drop=1),
)


def _print_table(data: dict[str, Any], source: str) -> None:
    rows = []
    for row in data.get("providers", []):
        reachable = {True: "yes", False: "no", None: "-"}[row.get("reachable")]
        breaker = row.get("breaker") or f"denied: {row.get('denied')}"
        rows.append(
            (
                row["name"], row["kind"], row["url"], row["locality"], breaker, reachable,
                _seconds(row.get("p50_latency_seconds")), row.get("last_error") or "-",
            )
        )  # fmt: skip
    console.print(fit_table(PROVIDER_COLUMNS, rows))
    console.print(f"required for /ready: {'yes' if data.get('required') else 'no'}; source: {source}", markup=False)


async def _ask(cascade: Cascade, messages: list[Message], stream: bool) -> Completion:
    try:
        if not stream:
            return await cascade.complete(messages)
        async with cascade.stream(messages) as answer:
            async for text in answer:
                console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        console.print()
        return answer.completion
    finally:
        await cascade.aclose()


def register(app: typer.Typer) -> None:
    cascade_app = typer.Typer(help="The model cascade: providers, breakers, one question.", no_args_is_help=True)
    app.add_typer(cascade_app, name="cascade")

    @cascade_app.command("status")
    def status_command(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
        local: bool = typer.Option(False, "--local", help="Do not ask the daemon; probe from this process."),
    ) -> None:
        """Each provider: kind, URL, breaker state, reachability, recent p50 latency, last error."""
        settings = options(ctx).settings()
        data, url = (None, "") if local else _daemon_status(settings)
        source = f"daemon at {url}"
        if data is None:
            cascade = Cascade.from_config(load_cascade_config(settings.cascade_config), registry=CollectorRegistry())
            data = asyncio.run(_local_status(cascade))
            source = "this process (probed now; breakers fresh)" + (f"; no daemon answered at {url}" if url else "")
        if as_json:
            print_json({"source": source, **data})
        else:
            _print_table(data, source)

    @cascade_app.command("ask")
    def ask_command(
        ctx: typer.Context,
        prompt: str = typer.Argument(..., help="The question."),
        system: str | None = typer.Option(None, "--system", help="A system message before it."),
        stream: bool = typer.Option(True, "--stream/--no-stream", help="Print the answer as it arrives."),
        as_json: bool = typer.Option(False, "--json", help="Print the whole Completion as JSON."),
    ) -> None:
        """Ask the cascade once; the answer on stdout, where it came from on stderr."""
        settings = options(ctx).settings()
        cascade = Cascade.from_config(load_cascade_config(settings.cascade_config), registry=CollectorRegistry())
        messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
        completion = asyncio.run(_ask(cascade, messages, stream and not as_json))
        if as_json:
            print_json(_completion_dict(completion))
        elif not stream:
            console.print(completion.content, markup=False, highlight=False, soft_wrap=True)
        hops = ", ".join(f"{a} -> {b} ({why})" for a, b, why in completion.fallbacks) or "none"
        err_console.print(
            f"provider: {completion.provider}  model: {completion.model}  fallbacks: {hops}  "
            f"latency: {completion.latency:.2f} s",
            markup=False,
        )
        for call in completion.tool_calls:
            err_console.print(f"tool call: {call.name} {dict(call.arguments)}", markup=False)
        if completion.incomplete:
            err_console.print(f"error: the answer broke off after it started: {completion.error}", markup=False)
            raise Exit(EXIT_FAILED)


def _completion_dict(completion: Completion) -> dict[str, Any]:
    return {
        "content": completion.content,
        "provider": completion.provider,
        "model": completion.model,
        "tool_calls": [{"name": c.name, "arguments": dict(c.arguments), "id": c.id} for c in completion.tool_calls],
        "usage": {"input_tokens": completion.usage.input_tokens, "output_tokens": completion.usage.output_tokens},
        "latency": completion.latency,
        "fallbacks": [list(hop) for hop in completion.fallbacks],
        "incomplete": completion.incomplete,
        "finish_reason": completion.finish_reason,
        "error": completion.error,
    }
