"""The measurements of ``cascade_failover.py``, shared by both sides, and LiteLLM's side of it.

This module imports nothing from uni_wizard: it runs in the main venv (our side imports the
measurements) and in LiteLLM's own venv (``.venv-litellm``, ``benchmarks/requirements-litellm.txt``),
where ``cascade_failover.py`` starts it as a subprocess:

    .venv-litellm/bin/python benchmarks/litellm_side.py --secondary URL --dead URL --slow URL --timeout 0.5

It prints ``READY`` once LiteLLM is imported, then answers each ``round`` line read on stdin with one
``RESULT {json}`` line (the samples of one round), and exits on ``quit`` or end of input.

A *stack* is what sends a chat request through a primary upstream with a fallback to the secondary:
our ``Cascade`` or LiteLLM's ``Router``, built fresh by ``factory(primary_url)``. Every round measures,
on the same fake upstreams (separate processes, so neither side shares its GIL with them):

- the baseline: a plain httpx POST to the secondary, interleaved with each latency row's requests: on a
  new client (a new connection) beside the rows measured on a fresh stack, on a kept-alive one beside
  the others;
- ``healthy``: the stack whose primary is the secondary itself (its own per-request cost);
- ``refused_closed``: the first request of a fresh stack whose primary refuses connections;
- ``refused_open``: the same stack once its breaker is open (LiteLLM: the deployment cooled down);
- ``timeout``: the first request of a fresh stack whose primary holds its first byte past the timeout;
- ``rps_*``: requests per second with the primary refusing connections (breaker open), sequential and
  ``concurrency`` at once, and the same for the direct baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

MODEL = "fake-model"
MESSAGES = [{"role": "user", "content": "hello"}]
TRIP_REQUESTS = 3  # enough to open a breaker of fail_max 3 with 2 attempts a request (or cool down)


class Stack(Protocol):
    async def complete(self) -> None: ...

    async def aclose(self) -> None: ...


Factory = Callable[[str], Awaitable[Stack]]


class Direct:
    """The baseline: the request the stacks end up sending, straight to the secondary."""

    def __init__(self, secondary: str, timeout: float) -> None:
        # not the timeout under test: the baseline must not fail where a stack would fail over
        self.client = httpx.AsyncClient(base_url=secondary, timeout=max(timeout, 10.0), trust_env=False)

    async def complete(self) -> None:
        body = {"model": MODEL, "messages": MESSAGES, "stream": False}
        response = await self.client.post("/chat/completions", json=body)
        if response.status_code != 200 or not response.json()["choices"][0]["message"]["content"]:
            raise RuntimeError(f"the secondary answered {response.status_code}")

    async def aclose(self) -> None:
        await self.client.aclose()


async def _timed(call: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def _rps(call: Callable[[], Awaitable[None]], total: int, concurrency: int) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def _paired(
    stack: Callable[[], Awaitable[None]], direct: Callable[[], Awaitable[None]], n: int
) -> tuple[list[float], list[float]]:
    """``n`` samples of each, interleaved (alternating which goes first), so that the machine's noise
    falls on both alike."""
    mine: list[float] = []
    base: list[float] = []
    for index in range(n):
        if index % 2:
            mine.append(await _timed(stack))
            base.append(await _timed(direct))
        else:
            base.append(await _timed(direct))
            mine.append(await _timed(stack))
    return mine, base


ROUND_SETTINGS = ("timeout", "requests", "cold", "timeouts", "rps_requests", "concurrency", "warmup")


def round_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of a round that both sides take from their command line, by name."""
    return {name: getattr(args, name) for name in ROUND_SETTINGS}


async def measure_round(
    factory: Factory,
    *,
    secondary: str,
    dead: str,
    slow: str,
    timeout: float,
    requests: int,
    cold: int,
    timeouts: int,
    rps_requests: int,
    concurrency: int,
    warmup: int = 20,
) -> dict[str, Any]:
    """One round of every measurement; latencies in seconds, as lists of samples. Each latency row
    ``key`` has its baseline samples in ``key_direct``, taken interleaved with it."""
    out: dict[str, Any] = {}
    direct = Direct(secondary, timeout)
    for _ in range(warmup):
        await direct.complete()

    healthy = await factory(secondary)
    for _ in range(warmup):
        await healthy.complete()
    out["healthy"], out["healthy_direct"] = await _paired(healthy.complete, direct.complete, requests)
    await healthy.aclose()

    for key, primary, count in (("refused_closed", dead, cold), ("timeout", slow, timeouts)):
        out[key], out[f"{key}_direct"] = [], []
        for _ in range(count):
            stack = await factory(primary)  # built (and its clients created) before the clock starts
            fresh = Direct(secondary, timeout)  # so is the baseline's: the request opens a new connection
            mine, base = await _paired(stack.complete, fresh.complete, 1)
            out[key] += mine
            out[f"{key}_direct"] += base
            await asyncio.gather(stack.aclose(), fresh.aclose())

    stack = await factory(dead)
    for _ in range(TRIP_REQUESTS + warmup):
        await stack.complete()
    out["refused_open"], out["refused_open_direct"] = await _paired(stack.complete, direct.complete, requests)
    out["rps_sequential"] = await _rps(stack.complete, rps_requests, 1)
    out["direct_rps_sequential"] = await _rps(direct.complete, rps_requests, 1)
    out["rps_concurrent"] = await _rps(stack.complete, rps_requests, concurrency)
    out["direct_rps_concurrent"] = await _rps(direct.complete, rps_requests, concurrency)
    await stack.aclose()
    await direct.aclose()
    return out


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency samples pooled across rounds; rates kept per round."""
    merged: dict[str, Any] = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        merged[key] = [v for vs in values for v in vs] if isinstance(values[0], list) else values
    return merged


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def discard_logs() -> None:
    """Log records are formatted and written, to nowhere (unless logging is already set up)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=_Discard(), level=logging.WARNING)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- LiteLLM's side ----------------------------------------------------------------------------------


def litellm_settings(timeout: float) -> dict[str, Any]:
    """The Router's settings, as close to the cascade's as LiteLLM allows (docs/BENCHMARKS.md)."""
    return {
        "num_retries": 1,  # 2 attempts per group, as retry.attempts: 2
        "retry_after": 0,  # minimum back-off 0 (with INITIAL_RETRY_DELAY=0, JITTER=0: no back-off)
        "timeout": timeout,
        "cooldown_time": 30,  # as breaker.reset_timeout_seconds: 30
        "allowed_fails": 2,  # cooled down at the 3rd failure in a minute, as breaker.fail_max: 3
    }


LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch the model cost map from the network
    "INITIAL_RETRY_DELAY": "0",  # the retry back-off: none, as retry.backoff_seconds: 0
    "JITTER": "0",
    "NO_PROXY": "127.0.0.1,localhost",
}


class LiteLLMStack:
    def __init__(self, primary: str, secondary: str, timeout: float) -> None:
        from litellm import Router

        def deployment(group: str, api_base: str) -> dict[str, Any]:
            params = {
                "model": f"openai/{MODEL}",
                "api_base": api_base,
                "api_key": "unused",
                "timeout": timeout,
                "max_retries": 0,  # the Router is the only retry loop
            }
            return {"model_name": group, "litellm_params": params}

        self.router = Router(
            model_list=[deployment("primary", primary), deployment("secondary", secondary)],
            fallbacks=[{"primary": ["secondary"]}],
            **litellm_settings(timeout),
        )

    async def complete(self) -> None:
        response = await self.router.acompletion(model="primary", messages=MESSAGES)
        if not response.choices[0].message.content:
            raise RuntimeError("LiteLLM returned no content")

    async def aclose(self) -> None:
        return None  # the Router has no close; its clients are cached per deployment


async def _serve(args: argparse.Namespace) -> None:
    import litellm

    litellm.suppress_debug_info = True

    async def factory(primary: str) -> Stack:
        return LiteLLMStack(primary, args.secondary, args.timeout)

    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line in ("", "quit"):
            return
        result = await measure_round(
            factory, secondary=args.secondary, dead=args.dead, slow=args.slow, **round_settings(args)
        )
        result["version"] = _litellm_version()
        print("RESULT " + json.dumps(result), flush=True)


def _litellm_version() -> str:
    from importlib.metadata import version

    return version("litellm")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--secondary", "--dead", "--slow"):
        parser.add_argument(name, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    for name, default in (("--requests", 200), ("--cold", 3), ("--timeouts", 1), ("--rps-requests", 400)):
        parser.add_argument(name, type=int, default=default)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)
    for key, value in LITELLM_ENV.items():
        os.environ.setdefault(key, value)
    # as in the main process: log records are formatted and written, to nowhere
    discard_logs()
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
