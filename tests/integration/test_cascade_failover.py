"""The cascade against real HTTP servers on loopback (the shipped fakes): each fault and where it leads.

Every test names the fault, what the cascade does with it (retry, fail over, raise, return incomplete),
and what the breaker and the metrics record.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cascade_helpers import HELLO, build, provider, sample

from uni_wizard.cascade import Message, ToolCall, ToolSchema
from uni_wizard.errors import CascadeExhausted, ContextLengthExceeded, ProviderRejected
from uni_wizard.testing import RecordingSleep
from uni_wizard.testing.model_servers import FakeOllama, FakeOpenAI, Fault, Reply, closed_port


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=("llama3.2:3b",)) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def llamacpp() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("smollm2",)) as server:
        yield server  # type: ignore[misc]


async def test_a_healthy_primary_answers_both_protocols_streamed_and_not(ollama: FakeOllama) -> None:
    cascade = build(provider("ollama", ollama))
    try:
        whole = await cascade.complete(HELLO)
        streamed = await cascade.complete(HELLO, stream=True)
    finally:
        await cascade.aclose()
    for answer in (whole, streamed):
        assert (answer.content, answer.provider, answer.model) == (
            "Hello from the fake model.",
            "ollama",
            "llama3.2:3b",
        )
        assert answer.fallbacks == () and not answer.incomplete
        assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 7)
    assert [body["stream"] for _, _, body in ollama.requests] == [False, True]
    labels = {"provider": "ollama", "model": "llama3.2:3b"}
    assert sample(cascade, "uniwizard_cascade_requests_total", labels | {"outcome": "success"}) == 2
    assert sample(cascade, "uniwizard_cascade_tokens_total", labels | {"direction": "output"}) == 14
    assert sample(cascade, "uniwizard_cascade_time_to_first_token_seconds_count", labels) == 2


async def test_connection_refused_fails_over_after_the_retries(llamacpp: FakeOpenAI) -> None:
    sleep = RecordingSleep()
    cascade = build(
        provider("ollama", f"http://127.0.0.1:{closed_port()}"), provider("llamacpp", llamacpp), sleep=sleep
    )
    try:
        answer = await cascade.complete(HELLO)
    finally:
        await cascade.aclose()
    assert answer.provider == "llamacpp"
    assert answer.fallbacks == (("ollama", "llamacpp", "unavailable"),)
    assert len(sleep.delays) == 1  # 2 attempts at ollama: one back-off
    assert sample(cascade, "uniwizard_cascade_retries_total", {"provider": "ollama", "reason": "unavailable"}) == 1
    reason = {"from_provider": "ollama", "to_provider": "llamacpp", "reason": "unavailable"}
    assert sample(cascade, "uniwizard_cascade_fallbacks_total", reason) == 1
    assert cascade.providers[0].breaker.failures == 2  # each attempt counts toward fail_max
    assert "cannot be reached" in cascade.status()["providers"][0]["last_error"]


async def test_slow_first_byte_times_out_at_the_first_token_and_fails_over(
    ollama: FakeOllama, llamacpp: FakeOpenAI
) -> None:
    ollama.fault, ollama.delay = Fault.SLOW_FIRST_BYTE, 30
    cascade = build(
        provider("ollama", ollama, timeouts={"first_token_seconds": 0.2}, retry={"attempts": 1}),
        provider("llamacpp", llamacpp),
    )
    try:
        answer = await cascade.complete(HELLO, stream=True)
    finally:
        await cascade.aclose()
    assert (answer.provider, answer.fallbacks) == ("llamacpp", (("ollama", "llamacpp", "timeout"),))
    assert "first token" in cascade.status()["providers"][0]["last_error"]
    labels = {"provider": "ollama", "model": "llama3.2:3b", "outcome": "timeout"}
    assert sample(cascade, "uniwizard_cascade_requests_total", labels) == 1


@pytest.mark.parametrize("fault", [Fault.BUSY, Fault.RATE_LIMITED])
async def test_busy_and_rate_limited_are_retried_after_their_retry_after(ollama: FakeOllama, fault: Fault) -> None:
    ollama.retry_after = 1.5
    ollama.script(fault)  # the first chat answers 503 (or 429) with Retry-After: 1.5, the next one answers
    sleep = RecordingSleep()
    cascade = build(provider("ollama", ollama), sleep=sleep)
    try:
        answer = await cascade.complete(HELLO)
    finally:
        await cascade.aclose()
    assert (answer.provider, answer.fallbacks) == ("ollama", ())
    assert sleep.delays == [1.5]  # honoured, not the 0.01 s back-off
    reason = "unavailable" if fault is Fault.BUSY else "rate_limited"
    assert sample(cascade, "uniwizard_cascade_retries_total", {"provider": "ollama", "reason": reason}) == 1
    assert ollama.chat_count == 2


async def test_a_retry_after_longer_than_max_delay_fails_over_at_once(ollama: FakeOllama, llamacpp: FakeOpenAI) -> None:
    ollama.fault, ollama.retry_after = Fault.BUSY, 120
    sleep = RecordingSleep()
    cascade = build(provider("ollama", ollama), provider("llamacpp", llamacpp), sleep=sleep)
    try:
        answer = await cascade.complete(HELLO)
    finally:
        await cascade.aclose()
    assert answer.provider == "llamacpp" and sleep.delays == [] and ollama.chat_count == 1


async def test_an_error_line_before_the_first_token_fails_over_transparently(
    ollama: FakeOllama, llamacpp: FakeOpenAI
) -> None:
    ollama.fault = Fault.ERROR_BEFORE_FIRST_TOKEN
    llamacpp.reply = Reply("From the second.")
    cascade = build(provider("ollama", ollama), provider("llamacpp", llamacpp))
    try:
        answer = await cascade.complete(HELLO, stream=True)
    finally:
        await cascade.aclose()
    assert (answer.content, answer.provider, answer.incomplete) == ("From the second.", "llamacpp", False)
    assert answer.fallbacks == (("ollama", "llamacpp", "unavailable"),)
    assert ollama.chat_count == 2  # an error line before the first token is transient: retried once


@pytest.mark.parametrize("fault", [Fault.ERROR_AFTER_FIRST_TOKEN, Fault.CUT_AFTER_FIRST_TOKEN])
@pytest.mark.parametrize("server_class", [FakeOllama, FakeOpenAI])
async def test_a_failure_after_the_first_token_returns_the_partial_answer_marked_incomplete(
    server_class: type[FakeOllama] | type[FakeOpenAI], fault: Fault, llamacpp: FakeOpenAI
) -> None:
    with server_class(models=("m",), fault=fault) as primary:
        cascade = build(provider("primary", primary), provider("llamacpp", llamacpp))
        try:
            answer = await cascade.complete(HELLO, stream=True)
        finally:
            await cascade.aclose()
    assert answer.provider == "primary" and answer.incomplete
    assert answer.content == "Hello "  # the one token that arrived, never spliced with another model's
    assert answer.error and answer.fallbacks == ()
    assert llamacpp.chat_count == 0
    assert cascade.providers[0].breaker.failures == 1  # judged when the stream ended
    labels = {"provider": "primary", "model": "m", "outcome": "unavailable"}
    assert sample(cascade, "uniwizard_cascade_requests_total", labels) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_json_fails_over_without_a_retry(
    ollama: FakeOllama, llamacpp: FakeOpenAI, stream: bool
) -> None:
    ollama.fault = Fault.MALFORMED_JSON
    cascade = build(provider("ollama", ollama), provider("llamacpp", llamacpp))
    try:
        answer = await cascade.complete(HELLO, stream=stream)
    finally:
        await cascade.aclose()
    assert answer.fallbacks == (("ollama", "llamacpp", "malformed"),)
    assert ollama.chat_count == 1


@pytest.mark.parametrize("server_class", [FakeOllama, FakeOpenAI])
async def test_a_404_model_not_found_moves_on_without_counting_against_the_breaker(
    server_class: type[FakeOllama] | type[FakeOpenAI], llamacpp: FakeOpenAI
) -> None:
    with server_class(models=("other",)) as primary:
        cascade = build(provider("primary", primary, models=[{"name": "missing", "context": 4096}]),
                        provider("llamacpp", llamacpp))  # fmt: skip
        try:
            answer = await cascade.complete(HELLO)
        finally:
            await cascade.aclose()
    assert answer.fallbacks == (("primary", "llamacpp", "model_not_found"),)
    assert cascade.providers[0].breaker.failures == 0 and cascade.providers[0].breaker.state == "closed"


async def test_a_model_not_pulled_is_known_from_api_tags_and_not_even_asked(
    ollama: FakeOllama, llamacpp: FakeOpenAI
) -> None:
    cascade = build(provider("ollama", ollama, models=[{"name": "qwen2.5:14b", "context": 4096}]),
                    provider("llamacpp", llamacpp))  # fmt: skip
    try:
        assert await cascade.probe_once() == {"ollama": True, "llamacpp": True}
        answer = await cascade.complete(HELLO)
        status = cascade.status()["providers"][0]
    finally:
        await cascade.aclose()
    assert answer.fallbacks == (("ollama", "llamacpp", "model_not_found"),)
    assert ollama.chat_count == 0
    assert status["models"] == [{"name": "qwen2.5:14b", "context": 4096, "allowed": True, "present": False}]


@pytest.mark.parametrize("server_class", [FakeOllama, FakeOpenAI])
async def test_context_length_skips_to_the_next_model_with_a_larger_context(
    server_class: type[FakeOllama] | type[FakeOpenAI],
) -> None:
    with (
        server_class(models=("small",), context_tokens=10) as small,
        FakeOpenAI(models=("same",)) as same,
        FakeOpenAI(models=("big",)) as big,
    ):
        cascade = build(
            provider("small", small, models=[{"name": "small", "context": 2048}]),
            provider("same", same, models=[{"name": "same", "context": 2048}]),
            provider("big", big, models=[{"name": "big", "context": 32768}]),
        )
        try:
            answer = await cascade.complete([Message("user", "word " * 100)])
        finally:
            await cascade.aclose()
        assert answer.provider == "big" and same.chat_count == 0
    assert answer.fallbacks == (("small", "big", "context_length"),)
    assert cascade.providers[0].breaker.failures == 0


async def test_a_prompt_that_fits_no_model_is_a_context_length_error_not_an_outage() -> None:
    with (
        FakeOpenAI(models=("small",), context_tokens=10) as small,
        FakeOllama(models=("tiny",), context_tokens=10) as tiny,
    ):
        cascade = build(
            provider("tiny", tiny, kind="ollama", models=[{"name": "tiny", "context": 1024}]),
            provider("small", small, models=[{"name": "small", "context": 2048}]),
        )
        try:
            with pytest.raises(ContextLengthExceeded, match="fits no allowed model"):
                await cascade.complete([Message("user", "word " * 100)])
        finally:
            await cascade.aclose()
    assert (tiny.chat_count, small.chat_count) == (1, 1)  # each refused for length; neither breaker counts it
    assert [p.breaker.failures for p in cascade.providers] == [0, 0]


async def test_a_permanent_refusal_is_raised_without_failover_and_the_key_stays_secret(
    llamacpp: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    secret = "sk-test-5ecret-never-shown"
    with FakeOpenAI(models=("gpt-x",), fault=Fault.UNAUTHORIZED) as cloud:
        cascade = build(
            provider("cloud", cloud, cloud=True, api_key_env="CLOUD_KEY"),
            provider("llamacpp", llamacpp),
            policy={"allow_cloud": True},
            env={"CLOUD_KEY": secret},
        )
        try:
            with pytest.raises(ProviderRejected) as raised:
                await cascade.complete(HELLO)
            status = cascade.status()
        finally:
            await cascade.aclose()
        assert cloud.headers[0]["authorization"] == f"Bearer {secret}"  # it was sent...
    assert llamacpp.chat_count == 0
    assert "401" in str(raised.value) and "[redacted]" in str(raised.value)
    for text in (str(raised.value), repr(raised.value.args), str(status), caplog.text):  # ...and shown nowhere
        assert secret not in text
    assert status["providers"][0]["api_key_from"] == "env CLOUD_KEY"


async def test_every_provider_down_raises_cascade_exhausted_with_the_attempts() -> None:
    cascade = build(
        provider("a", f"http://127.0.0.1:{closed_port()}"),
        provider("b", f"http://127.0.0.1:{closed_port()}", kind="openai-compatible"),
    )
    try:
        with pytest.raises(CascadeExhausted) as raised:
            await cascade.complete(HELLO)
    finally:
        await cascade.aclose()
    assert [(p, m) for p, m, _ in raised.value.attempts] == [("a", "fake-model"), ("b", "fake-model")]
    assert all(why.startswith("unavailable: ") for _, _, why in raised.value.attempts)
    assert sample(cascade, "uniwizard_cascade_exhausted_total", {}) == 1


async def test_tool_calls_of_both_protocols_parse_into_tool_calls(ollama: FakeOllama, llamacpp: FakeOpenAI) -> None:
    calls = (ToolCall("file_read", {"path": "notes.txt", "limit": 3}), ToolCall("git_status", {}))
    ollama.reply = llamacpp.reply = Reply("", tool_calls=calls)
    tools = [ToolSchema("file_read", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}})]
    answers = []
    for name, server in (("ollama", ollama), ("llamacpp", llamacpp)):
        cascade = build(provider(name, server))
        try:
            answers += [await cascade.complete(HELLO, tools=tools, stream=s) for s in (False, True)]
        finally:
            await cascade.aclose()
    for answer in answers:
        assert [(c.name, dict(c.arguments)) for c in answer.tool_calls] == [
            ("file_read", {"path": "notes.txt", "limit": 3}),
            ("git_status", {}),
        ]
        assert answer.finish_reason == "tool_calls"
    assert ollama.requests[0][2]["tools"][0]["function"]["name"] == "file_read"
