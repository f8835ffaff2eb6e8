"""Building a Cascade over the shipped fake model servers (real loopback sockets) for the cascade tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from uni_wizard.cascade import Cascade, Message
from uni_wizard.cascade.config import CascadeConfig
from uni_wizard.testing import RecordingSleep
from uni_wizard.testing.model_servers import FakeModelServer

HELLO = [Message("user", "hello")]


def provider(name: str, server: FakeModelServer | str, *, kind: str | None = None, **extra: Any) -> dict[str, Any]:
    """A provider entry for ``server`` (or a URL), serving the server's models (context 4096 unless given)."""
    if isinstance(server, str):
        url, models, kind = server, ("fake-model",), kind or "ollama"
    else:
        url, models, kind = server.url, server.models, kind or server.kind
    entry: dict[str, Any] = {"name": name, "kind": kind, "url": url}
    entry["models"] = extra.pop("models", [{"name": m, "context": 4096} for m in models])
    return entry | extra


def build(
    *providers: dict[str, Any],
    sleep: RecordingSleep | None = None,
    env: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
    **config: Any,
) -> Cascade:
    """A Cascade with quick settings: no back-off jitter, short timeouts, fail_max 3, 2 attempts."""
    defaults = {
        "timeouts": {"connect_seconds": 1, "first_token_seconds": 2, "total_seconds": 5},
        "breaker": {"fail_max": 3, "reset_timeout_seconds": 60},
        "retry": {"attempts": 2, "backoff_seconds": 0.01, "max_delay_seconds": 2},
    }
    data = {"defaults": defaults, "providers": list(providers), "health": {"timeout_seconds": 1}} | config
    return Cascade.from_config(
        CascadeConfig.model_validate(data),
        registry=registry or CollectorRegistry(),
        secrets_env=env or {},
        sleep=sleep or RecordingSleep(),
        rand=lambda: 0.0,
    )


def sample(cascade: Cascade, name: str, labels: dict[str, str]) -> float:
    """A metric's value on the cascade's registry (0.0 when absent)."""
    value = cascade.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)
