"""The kinds of ``ProviderUnavailable`` are classes; ``reason`` is the metric label each class gives."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.cascade import Cascade, Message
from uni_wizard.cascade.config import CascadeConfig
from uni_wizard.cascade.metrics import OUTCOMES, REASONS
from uni_wizard.errors import (
    CascadeExhausted,
    ModelError,
    ProviderBreakerOpen,
    ProviderMalformed,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from uni_wizard.testing import RecordingSleep

KINDS: list[tuple[type[ProviderUnavailable], str]] = [
    (ProviderUnavailable, "unavailable"),
    (ProviderTimeout, "timeout"),
    (ProviderRateLimited, "rate_limited"),
    (ProviderServerError, "server_error"),
    (ProviderMalformed, "malformed"),
    (ProviderBreakerOpen, "circuit_open"),
]


@pytest.mark.parametrize(("kind", "reason"), KINDS, ids=[k.__name__ for k, _ in KINDS])
def test_each_kind_gives_its_label_read_only(kind: type[ProviderUnavailable], reason: str) -> None:
    error = kind("p (m) failed", provider="p", model="m", retry_after=1.5)
    assert isinstance(error, ProviderUnavailable) and isinstance(error, ModelError)
    assert (error.reason, error.provider, error.model, error.retry_after) == (reason, "p", "m", 1.5)
    assert reason in REASONS and reason in OUTCOMES  # the labels the metrics pre-initialise, unchanged
    with pytest.raises(AttributeError):
        error.reason = "other"  # type: ignore[misc]


def test_the_six_labels_are_all_the_reasons_of_an_outage() -> None:
    assert {reason for _, reason in KINDS} == set(REASONS) - {"model_not_found", "context_length"}


def cascade_answering(status: int, sleep: RecordingSleep, calls: list[str]) -> Cascade:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(status, json={"error": "no"})

    config = CascadeConfig.model_validate(
        {
            "defaults": {
                "retry": {"attempts": 3, "backoff_seconds": 0.01, "max_delay_seconds": 1},
                "breaker": {"fail_max": 10, "reset_timeout_seconds": 60},
            },
            "providers": [
                {
                    "name": "local",
                    "kind": "ollama",
                    "url": "http://127.0.0.1:9",
                    "models": [{"name": "m", "context": 4096}],
                }
            ],
        }
    )
    return Cascade.from_config(
        config, registry=CollectorRegistry(), transport=httpx.MockTransport(answer), sleep=sleep, rand=lambda: 0.0
    )


@pytest.mark.parametrize(
    ("status", "attempts", "reason"),
    [(503, 3, "unavailable"), (408, 3, "timeout"), (429, 3, "rate_limited"), (500, 1, "server_error")],
)
async def test_the_class_decides_the_retry_and_the_label(status: int, attempts: int, reason: str) -> None:
    calls: list[str] = []
    cascade = cascade_answering(status, RecordingSleep(), calls)
    try:
        with pytest.raises(CascadeExhausted) as raised:
            await cascade.complete([Message("user", "hi")])
    finally:
        await cascade.aclose()
    assert len(calls) == attempts
    assert [why.split(":")[0] for _, _, why in raised.value.attempts] == [reason]
    labels = {"provider": "local", "model": "m", "outcome": reason}
    assert cascade.metrics.registry.get_sample_value("uniwizard_cascade_requests_total", labels) == attempts
