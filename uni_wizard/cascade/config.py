"""``configs/cascade.yaml``: the model providers in the order they are tried, their models, timeouts,
breaker and retry settings, and the owner's allow/deny policy.

Unknown keys are errors naming the file and the key. A provider's ``timeouts``, ``breaker`` and ``retry``
blocks are merged key by key over the file's ``defaults``. API keys are never in the file: a provider
names an environment variable (``api_key_env``, never a ``UNIWIZARD_*`` name: those are settings) or a
file (``api_key_file``) holding it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..configfile import load_model, shipped

__all__ = [
    "BreakerSettings",
    "CascadeConfig",
    "CascadePolicy",
    "HealthSettings",
    "ModelSpec",
    "ProviderConfig",
    "ProviderDefaults",
    "RetrySettings",
    "Timeouts",
    "default_cascade_path",
    "is_local_url",
    "load_cascade_config",
]

ProviderKind = Literal["ollama", "openai-compatible"]
PACKAGE_DIR = Path(__file__).resolve().parents[1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    connect_seconds: float = Field(2.0, gt=0, description="Opening the TCP connection (and TLS).")
    first_token_seconds: float = Field(
        60.0, gt=0, description="From sending the request to the first token of a stream (a cold model load counts)."
    )
    total_seconds: float = Field(300.0, gt=0, description="One attempt, from sending to the last token.")


class BreakerSettings(_Strict):
    fail_max: int = Field(3, ge=1, description="Consecutive failed attempts that open the provider's breaker.")
    reset_timeout_seconds: float = Field(30.0, gt=0, description="How long an open breaker refuses calls.")


class RetrySettings(_Strict):
    attempts: int = Field(2, ge=1, le=10, description="Attempts per provider for transient errors (1: no retry).")
    backoff_seconds: float = Field(0.25, ge=0, description="First back-off; doubles per retry, with jitter.")
    max_delay_seconds: float = Field(
        4.0, ge=0, description="Longest wait before a retry; a longer Retry-After fails over instead."
    )


class HealthSettings(_Strict):
    interval_seconds: float = Field(15.0, gt=0, description="How often the background probe asks each provider.")
    timeout_seconds: float = Field(2.0, gt=0, description="Timeout of one probe request.")


class ModelSpec(_Strict):
    name: str = Field(min_length=1, description="The model as the provider names it (e.g. llama3.2:3b).")
    context: int = Field(gt=0, description="Its context window in tokens; decides context-length failover.")


class ProviderConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$", description="Short name (a metric label).")
    kind: ProviderKind
    url: str = Field(description="Base URL: Ollama's root (http://127.0.0.1:11434) or the OpenAI-style base with /v1.")
    models: tuple[ModelSpec, ...] = Field(min_length=1, description="Tried in order; the first is the default.")
    cloud: bool = Field(False, description="Must be true for a URL that is not loopback or private.")
    api_key_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the API key; a name outside UNIWIZARD_ (e.g. HOSTED_API_KEY).",
    )
    api_key_file: Path | None = Field(None, description="File holding the API key.")
    timeouts: Timeouts = Field(default_factory=Timeouts)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username or parts.password or parts.query:
            raise ValueError("must not carry credentials or a query (use api_key_env or api_key_file)")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _not_a_setting(cls, value: str | None) -> str | None:
        if value is not None and value.upper().startswith("UNIWIZARD_"):
            raise ValueError(
                "UNIWIZARD_* variables are settings (every command refuses one it does not know): "
                "name the key's variable outside that prefix, e.g. HOSTED_API_KEY"
            )
        return value

    @model_validator(mode="after")
    def _locality_and_key(self) -> ProviderConfig:
        if self.api_key_env and self.api_key_file:
            raise ValueError("give api_key_env or api_key_file, not both")
        if not self.cloud and not is_local_url(self.url):
            raise ValueError(
                f"{urlsplit(self.url).hostname} is not a loopback or private address: "
                "declare the provider `cloud: true` (and allow cloud in the policy)"
            )
        return self

    @property
    def locality(self) -> str:
        return "cloud" if self.cloud else "local"


class CascadePolicy(_Strict):
    allow_cloud: bool = Field(False, description="Cloud providers are used only when this is true.")
    allow_kinds: tuple[ProviderKind, ...] = ("ollama", "openai-compatible")
    allow_models: tuple[str, ...] = Field(("*",), description="Model-name globs that may be used.")
    deny_models: tuple[str, ...] = Field((), description="Model-name globs never used (wins over allow).")
    deny_providers: tuple[str, ...] = Field((), description="Provider-name globs never used.")
    deny_hosts: tuple[str, ...] = Field((), description="URL host globs never contacted (e.g. *.example.com).")


class ProviderDefaults(_Strict):
    """What a provider's own ``timeouts``, ``breaker`` and ``retry`` keys are merged over."""

    timeouts: Timeouts = Field(default_factory=Timeouts)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)


class CascadeConfig(_Strict):
    required: bool = Field(
        False, description="If true, /ready fails while no allowed provider is usable; if false it never does."
    )
    policy: CascadePolicy = Field(default_factory=CascadePolicy)
    health: HealthSettings = Field(default_factory=HealthSettings)
    defaults: ProviderDefaults = Field(default_factory=ProviderDefaults)
    providers: tuple[ProviderConfig, ...] = ()
    source: str = Field("", exclude=True, description="The file it was read from (set by the loader).")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("providers"), list):
            return data
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            return data
        merged = []
        for provider in data["providers"]:
            if isinstance(provider, dict):
                provider = dict(provider)
                for block in ("timeouts", "breaker", "retry"):
                    base, own = defaults.get(block) or {}, provider.get(block) or {}
                    if isinstance(base, dict) and isinstance(own, dict) and (base or own):
                        provider[block] = {**base, **own}
            merged.append(provider)
        return {**data, "providers": merged}

    @model_validator(mode="after")
    def _unique_names(self) -> CascadeConfig:
        names = [p.name for p in self.providers]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"providers.{index}.name: {name!r} is used twice")
        return self


def is_local_url(url: str) -> bool:
    """True for ``localhost`` and for IP literals that are not globally routable (loopback, private,
    link-local, shared address space). Any other host name could be anywhere: it is not local."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


def default_cascade_path() -> Path:
    """The cascade.yaml shipped with uni-wizard: inside the wheel, or the repository's ``configs/``."""
    return shipped("cascade.yaml")


def load_cascade_config(path: Path | None = None) -> CascadeConfig:
    """Read and validate a cascade file (None: the shipped one); errors name the file and the key."""
    path = path or default_cascade_path()
    config = load_model(CascadeConfig, path, kind="a cascade file")
    return config.model_copy(update={"source": str(path)})
