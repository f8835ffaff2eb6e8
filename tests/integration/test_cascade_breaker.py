"""Per-provider breakers over real loopback servers: opening, refusing, re-closing after recovery (through
the health probe and through a half-open trial), the single-probe guard, cancellation, readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cascade_helpers import HELLO, build, provider, sample

from uni_wizard.cascade import Cascade
from uni_wizard.testing.model_servers import FakeOllama, FakeOpenAI, Fault, closed_port

QUICK_BREAKER = {"breaker": {"fail_max": 2, "reset_timeout_seconds": 60}, "retry": {"attempts": 1}}


@pytest.fixture
def backup() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("smollm2",)) as server:
        yield server  # type: ignore[misc]


def transitions(cascade: Cascade, provider_name: str, old: str, new: str) -> float:
    labels = {"provider": provider_name, "from_state": old, "to_state": new}
    return sample(cascade, "uniwizard_cascade_breaker_transitions_total", labels)


def state_gauge(cascade: Cascade, provider_name: str) -> float:
    return sample(cascade, "uniwizard_cascade_breaker_state", {"provider": provider_name})


async def trip(cascade: Cascade, times: int = 2) -> None:
    for _ in range(times):
        await cascade.complete(HELLO)


async def test_consecutive_failures_open_the_breaker_and_it_then_refuses_without_contacting(
    backup: FakeOpenAI,
) -> None:
    primary = FakeOllama(models=("m",)).start()
    cascade = build(provider("primary", primary, **QUICK_BREAKER), provider("backup", backup))
    try:
        primary.fault = Fault.SERVER_ERROR  # 500: not retried, counted by the breaker
        assert state_gauge(cascade, "primary") == 0
        await trip(cascade)
        breaker = cascade.providers[0].breaker
        assert breaker.state == "open"
        assert state_gauge(cascade, "primary") == 2 and transitions(cascade, "primary", "closed", "open") == 1
        before = primary.chat_count
        answer = await cascade.complete(HELLO)
        assert answer.fallbacks == (("primary", "backup", "circuit_open"),) and primary.chat_count == before
        labels = {"provider": "primary", "model": "m", "outcome": "circuit_open"}
        assert sample(cascade, "uniwizard_cascade_requests_total", labels) == 1
        assert "circuit breaker opened" in cascade.status()["providers"][0]["last_error"]
    finally:
        await cascade.aclose()
        primary.stop()


async def test_the_health_probe_readmits_a_recovered_provider_and_the_next_request_closes_it(
    backup: FakeOpenAI,
) -> None:
    primary = FakeOllama(models=("m",)).start()
    cascade = build(provider("primary", primary, **QUICK_BREAKER), provider("backup", backup))
    try:
        primary.stop()  # its port now refuses connections
        await trip(cascade)
        assert cascade.providers[0].breaker.state == "open"
        assert await cascade.probe_once() == {"primary": False, "backup": True}
        assert cascade.providers[0].breaker.state == "open"  # a failed probe re-admits nothing
        primary.start()  # back on the same port
        assert (await cascade.probe_once())["primary"] is True
        assert cascade.providers[0].breaker.state == "half-open" and state_gauge(cascade, "primary") == 1
        answer = await cascade.complete(HELLO)
        assert (answer.provider, answer.fallbacks) == ("primary", ())
        assert cascade.providers[0].breaker.state == "closed" and state_gauge(cascade, "primary") == 0
        assert transitions(cascade, "primary", "half-open", "closed") == 1
    finally:
        await cascade.aclose()
        primary.stop()


async def test_after_reset_timeout_a_trial_call_closes_it_or_a_failed_trial_opens_it_again(
    backup: FakeOpenAI,
) -> None:
    primary = FakeOllama(models=("m",), fault=Fault.SERVER_ERROR).start()
    settings = {"breaker": {"fail_max": 2, "reset_timeout_seconds": 0.2}, "retry": {"attempts": 1}}
    cascade = build(provider("primary", primary, **settings), provider("backup", backup))
    try:
        await trip(cascade)
        await asyncio.sleep(0.3)  # past reset_timeout: the next call is a trial
        assert (await cascade.complete(HELLO)).provider == "backup"  # the trial failed (500)
        assert cascade.providers[0].breaker.state == "open"
        assert transitions(cascade, "primary", "half-open", "open") == 1
        primary.fault = Fault.NONE
        await asyncio.sleep(0.3)
        assert (await cascade.complete(HELLO)).provider == "primary"
        assert cascade.providers[0].breaker.state == "closed"
    finally:
        await cascade.aclose()
        primary.stop()


async def test_half_open_admits_a_single_trial_and_the_others_fail_over_as_if_open(backup: FakeOpenAI) -> None:
    with FakeOllama(models=("m",), fault=Fault.SLOW_FIRST_BYTE, delay=0.5) as primary:
        cascade = build(provider("primary", primary, **QUICK_BREAKER), provider("backup", backup))
        try:
            cascade.providers[0].breaker.breaker.half_open()
            answers = await asyncio.gather(*(cascade.complete(HELLO, stream=True) for _ in range(4)))
        finally:
            await cascade.aclose()
        assert primary.chat_count == 1  # pybreaker alone would have let all four through
    assert sorted(a.provider for a in answers) == ["backup", "backup", "backup", "primary"]
    assert {a.fallbacks for a in answers if a.provider == "backup"} == {(("primary", "backup", "circuit_open"),)}
    assert cascade.providers[0].breaker.state == "closed"


async def _cancel_while_asked(cascade: Cascade, server: FakeOllama) -> None:
    task = asyncio.create_task(cascade.complete(HELLO, stream=True))
    for _ in range(200):
        if server.chat_count:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancellation_never_counts_against_the_breaker() -> None:
    with FakeOllama(models=("m",), fault=Fault.SLOW_FIRST_BYTE, delay=30) as primary:
        cascade = build(provider("primary", primary, breaker={"fail_max": 1}, timeouts={"first_token_seconds": 60}))
        try:
            await _cancel_while_asked(cascade, primary)
            breaker = cascade.providers[0].breaker
            assert (breaker.state, breaker.failures) == ("closed", 0)
            labels = {"provider": "primary", "model": "m", "outcome": "cancelled"}
            assert sample(cascade, "uniwizard_cascade_requests_total", labels) == 1
        finally:
            await cascade.aclose()


async def test_a_cancelled_trial_leaves_the_breaker_half_open_not_closed() -> None:
    with FakeOllama(models=("m",), fault=Fault.SLOW_FIRST_BYTE, delay=30) as primary:
        cascade = build(provider("primary", primary, timeouts={"first_token_seconds": 60}))
        try:
            breaker = cascade.providers[0].breaker
            breaker.breaker.half_open()
            await _cancel_while_asked(cascade, primary)
            assert breaker.state == "half-open"  # pybreaker alone would have closed it: a cancel proves nothing
            assert breaker.trial_in_flight is False  # the next caller may be the trial
        finally:
            await cascade.aclose()


async def test_readiness_fails_only_when_the_cascade_is_required_and_nothing_is_usable() -> None:
    dead = provider("dead", f"http://127.0.0.1:{closed_port()}")
    optional, required = build(dead), build(dead, required=True)
    try:
        for cascade in (optional, required):
            await cascade.probe_once()
        assert optional.readiness()["ready"] is True
        verdict = required.readiness()
        assert verdict["ready"] is False and verdict["usable"] == []
        assert verdict["providers"] == {"dead": {"breaker": "closed", "reachable": False}}
    finally:
        await optional.aclose()
        await required.aclose()


async def test_the_background_probe_runs_until_stopped(backup: FakeOpenAI) -> None:
    cascade = build(provider("backup", backup), health={"interval_seconds": 0.05, "timeout_seconds": 1})
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(cascade.run_health_probes(stop))
        for _ in range(200):
            if sum(1 for method, _, _ in backup.requests if method == "GET") >= 2:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        await cascade.aclose()
    assert [path for method, path, _ in backup.requests if method == "GET"][:2] == ["/v1/models", "/v1/models"]
    assert cascade.status()["providers"][0]["reachable"] is True
