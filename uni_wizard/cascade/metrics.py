"""The cascade's Prometheus metrics, created once per registry; label sets pre-initialised per cascade.

Labels are bounded: provider and model come from the configuration, outcome and reason are small enums.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..metricset import MetricSet

__all__ = ["BREAKER_STATE_VALUES", "OUTCOMES", "REASONS", "CascadeMetrics"]

# Seconds: a local model's first token can take a cold load; a whole answer minutes.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
OUTCOMES = (
    "success",
    "incomplete",
    "unavailable",
    "timeout",
    "rate_limited",
    "server_error",
    "malformed",
    "circuit_open",
    "rejected",
    "model_not_found",
    "context_length",
    "cancelled",
)
REASONS = (
    "unavailable",
    "timeout",
    "rate_limited",
    "server_error",
    "malformed",
    "circuit_open",
    "model_not_found",
    "context_length",
)
BREAKER_STATE_VALUES = {"closed": 0, "half-open": 1, "open": 2}


class CascadeMetrics(MetricSet):
    """All ``uniwizard_cascade_*`` series of one registry; ``CascadeMetrics.for_registry(registry)`` shares them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.requests = Counter(
            "uniwizard_cascade_requests",
            "Attempts at a provider (after a breaker refusal too), by outcome.",
            ["provider", "model", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "uniwizard_cascade_request_duration_seconds",
            "Wall time of one attempt at a provider, from sending to the last token or the failure.",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "uniwizard_cascade_time_to_first_token_seconds",
            "From sending a request to the first token (or the whole answer when not streaming).",
            ["provider", "model"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "uniwizard_cascade_tokens",
            "Tokens the providers reported, by direction (input: the prompt, output: the answer).",
            ["provider", "model", "direction"],
            registry=registry,
        )
        self.breaker_state = Gauge(
            "uniwizard_cascade_breaker_state",
            "A provider's circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=registry,
        )
        self.transitions = Counter(
            "uniwizard_cascade_breaker_transitions",
            "Circuit breaker state changes.",
            ["provider", "from_state", "to_state"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "uniwizard_cascade_fallbacks",
            "Moves from one provider to the next, by the reason of the move.",
            ["from_provider", "to_provider", "reason"],
            registry=registry,
        )
        self.retries = Counter(
            "uniwizard_cascade_retries",
            "Retries of an attempt at the same provider, by the transient reason.",
            ["provider", "reason"],
            registry=registry,
        )
        self.exhausted = Counter(
            "uniwizard_cascade_exhausted",
            "Requests that no allowed provider could answer.",
            registry=registry,
        )

    def prepare(self, targets: Sequence[tuple[str, str]], providers: Sequence[str]) -> None:
        """Create every label set of these (provider, model) targets so series exist before a failure."""
        for provider, model in targets:
            for outcome in OUTCOMES:
                self.requests.labels(provider, model, outcome)
            self.duration.labels(provider, model)
            self.ttft.labels(provider, model)
            for direction in ("input", "output"):
                self.tokens.labels(provider, model, direction)
        for index, provider in enumerate(providers):
            self.breaker_state.labels(provider).set(0)
            for reason in ("unavailable", "timeout", "rate_limited"):
                self.retries.labels(provider, reason)
            for later in providers[index:]:
                for reason in REASONS:
                    self.fallbacks.labels(provider, later, reason)
