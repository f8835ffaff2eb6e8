"""cascade.yaml: the shipped default, errors naming file and key, the policy, API keys, wire parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from uni_wizard.cascade import Cascade, load_cascade_config
from uni_wizard.cascade.config import CascadeConfig, is_local_url
from uni_wizard.cascade.ollama import OllamaProtocol
from uni_wizard.cascade.openai_compat import OpenAIProtocol
from uni_wizard.cascade.policy import decide_model, decide_provider
from uni_wizard.cascade.wire import error_for_status, parse_retry_after
from uni_wizard.errors import (
    ConfigError,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderMalformed,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)

LOCAL = {"name": "ollama", "kind": "ollama", "url": "http://127.0.0.1:11434", "models": [{"name": "m", "context": 8}]}
CLOUD = {
    "name": "hosted",
    "kind": "openai-compatible",
    "url": "https://api.example.com/v1",
    "cloud": True,
    "api_key_env": "HOSTED_KEY",
    "models": [{"name": "gpt-5", "context": 128000}, {"name": "open-model", "context": 32000}],
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cascade.yaml"
    path.write_text(text)
    return path


def test_the_shipped_default_is_local_only_ollama_then_llamacpp() -> None:
    config = load_cascade_config(None)
    assert [(p.name, p.kind, p.url) for p in config.providers] == [
        ("ollama", "ollama", "http://127.0.0.1:11434"),
        ("llamacpp", "openai-compatible", "http://127.0.0.1:8080/v1"),
    ]
    assert not config.policy.allow_cloud and not config.required
    assert all(not p.cloud and p.api_key_env is None for p in config.providers)
    assert config.source.endswith("cascade.yaml")


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("providers:\n  - {name: a, kind: ollama, url: 'http://127.0.0.1:1', models: [{name: m, context: 1}], colour: red}\n",
         "providers.0.colour", "unknown key"),
        ("providers:\n  - {name: a, kind: grpc, url: 'http://127.0.0.1:1', models: [{name: m, context: 1}]}\n",
         "providers.0.kind", "Input should be"),
        ("defaults:\n  timeouts: {connect_seconds: -1}\n", "defaults.timeouts.connect_seconds", "greater than 0"),
        ("providers:\n  - {name: a, kind: ollama, url: 'http://127.0.0.1:1', models: [{name: m, context: 1}],\n"
         "     retry: {attempts: 0}}\n", "providers.0.retry.attempts", "greater than or equal to 1"),
        ("providers:\n  - {name: a, kind: ollama, url: 'https://api.example.com', models: [{name: m, context: 1}]}\n",
         "providers.0", "declare the provider `cloud: true`"),
        ("providers:\n  - {name: a, kind: ollama, url: 'http://u:p@127.0.0.1:1', models: [{name: m, context: 1}]}\n",
         "providers.0.url", "must not carry credentials"),
        ("policy: {allow_cloud: yes, colour: 1}\n", "policy.colour", "unknown key"),
        ("providers: [\n", "line 2", "invalid YAML"),
    ],
)  # fmt: skip
def test_config_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_cascade_config(path)
    assert raised.value.source == str(path)
    assert raised.value.key == key
    assert message in str(raised.value)


def test_provider_blocks_are_merged_key_by_key_over_the_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "defaults: {timeouts: {connect_seconds: 1, total_seconds: 9}, retry: {attempts: 4}}\n"
        "providers:\n  - {name: a, kind: ollama, url: 'http://localhost:1', models: [{name: m, context: 1}],\n"
        "     timeouts: {total_seconds: 30}}\n",
    )
    provider = load_cascade_config(path).providers[0]
    assert (provider.timeouts.connect_seconds, provider.timeouts.total_seconds) == (1, 30)
    assert provider.timeouts.first_token_seconds == 60 and provider.retry.attempts == 4


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:11434", True),
        ("http://localhost:8080/v1", True),
        ("http://10.1.2.3:8080", True),
        ("http://192.168.1.5", True),
        ("http://100.64.0.7:8080", True),  # shared address space (e.g. a tailnet)
        ("http://[::1]:8080", True),
        ("https://api.example.com/v1", False),
        ("http://gpu-box.lan:8080", False),  # a name could resolve anywhere
        ("http://8.8.8.8", False),
    ],
)
def test_locality_of_a_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local


def test_policy_refuses_cloud_unless_allowed_and_denied_patterns_win() -> None:
    config = CascadeConfig.model_validate({"providers": [LOCAL, CLOUD]})
    local, cloud = config.providers
    assert decide_provider(config.policy, local).allowed
    verdict = decide_provider(config.policy, cloud)
    assert not verdict.allowed and "allow_cloud" in verdict.reason
    allowed = config.policy.model_copy(update={"allow_cloud": True, "deny_models": ("GPT-*",)})
    assert decide_provider(allowed, cloud).allowed
    denied = decide_model(allowed, cloud, "gpt-5")
    assert not denied.allowed and "'GPT-*'" in denied.reason
    assert decide_model(allowed, cloud, "open-model").allowed
    by_host = allowed.model_copy(update={"deny_hosts": ("*.example.com",)})
    assert "deny_hosts" in decide_provider(by_host, cloud).reason
    by_kind = config.policy.model_copy(update={"allow_kinds": ("ollama",)})
    assert not decide_provider(by_kind, config.providers[1]).allowed


def test_a_cascade_uses_only_what_the_policy_allows_and_status_says_why() -> None:
    denied = Cascade.from_config(
        CascadeConfig.model_validate({"providers": [LOCAL, CLOUD]}), registry=CollectorRegistry()
    )
    assert [t.provider.name for t in denied.targets] == ["ollama"]
    hosted = denied.status()["providers"][1]
    assert hosted["allowed"] is False and "allow_cloud" in hosted["denied"]
    config = {"providers": [LOCAL, CLOUD], "policy": {"allow_cloud": True, "deny_models": ["gpt-*"]}}
    cascade = Cascade.from_config(
        CascadeConfig.model_validate(config), registry=CollectorRegistry(), secrets_env={"HOSTED_KEY": "sk-1"}
    )
    assert [(t.provider.name, t.model.name) for t in cascade.targets] == [("ollama", "m"), ("hosted", "open-model")]


def test_a_missing_api_key_names_the_key_and_never_the_value(tmp_path: Path) -> None:
    config = CascadeConfig.model_validate({"providers": [CLOUD], "policy": {"allow_cloud": True}})
    with pytest.raises(ConfigError) as raised:
        Cascade.from_config(config, registry=CollectorRegistry(), secrets_env={})
    assert raised.value.key == "providers.0.api_key_env" and "HOSTED_KEY is not set" in str(raised.value)
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    from_file = dict(CLOUD, api_key_env=None, api_key_file=str(key_file))
    config = CascadeConfig.model_validate({"providers": [from_file], "policy": {"allow_cloud": True}})
    cascade = Cascade.from_config(config, registry=CollectorRegistry())
    assert "sk-from-file" not in repr(cascade.providers) + str(cascade.status())
    with pytest.raises(ValidationError, match="api_key_env or api_key_file, not both"):
        CascadeConfig.model_validate({"providers": [dict(CLOUD, api_key_file="k")]})


@pytest.mark.parametrize(
    ("status", "body_message", "codes", "error", "reason"),
    [
        (503, "server busy", "", ProviderUnavailable, "unavailable"),
        (502, "bad gateway", "", ProviderUnavailable, "unavailable"),
        (408, "request timeout", "", ProviderTimeout, "timeout"),
        (429, "slow down", "", ProviderRateLimited, "rate_limited"),
        (500, "boom", "", ProviderServerError, "server_error"),
        (501, "not implemented", "", ProviderServerError, "server_error"),
        (404, "model 'x' not found", "", ModelNotFound, None),
        (400, "This model's maximum context length is 2048 tokens", "400 invalid_request_error", ContextLengthExceeded, None),
        (400, "too long", "context_length_exceeded invalid_request_error", ContextLengthExceeded, None),
        (400, "the request exceeds the available context size", "400 exceed_context_size_error", ContextLengthExceeded, None),
        (400, "bad temperature", "invalid_request_error", ProviderRejected, None),
        (401, "bad key", "", ProviderRejected, None),
    ],
)  # fmt: skip
def test_http_errors_map_to_the_model_error_branch(
    status: int, body_message: str, codes: str, error: type[Exception], reason: str | None
) -> None:
    exc = error_for_status(status, body_message, codes, {"retry-after": "2"}, "p", "m")
    assert type(exc) is error
    if reason:
        assert isinstance(exc, ProviderUnavailable) and exc.reason == reason
    if status in (408, 429, 502, 503):
        assert isinstance(exc, ProviderUnavailable) and exc.retry_after == 2.0


def test_retry_after_as_seconds_or_an_http_date() -> None:
    assert parse_retry_after("3") == 3.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_openai_tool_call_arguments_streamed_in_pieces_are_joined_then_parsed() -> None:
    parser = OpenAIProtocol().stream_parser("p", "m")
    lines = [
        'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"echo","arguments":"{\\"te"}}]}}]}',
        'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"xt\\": \\"hi\\"}"}}]}}]}',
        'data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}',
        "data: [DONE]",
    ]  # fmt: skip
    for line in lines:
        parser.feed(line)
    finish = parser.finish()
    assert parser.done and finish.finish_reason == "tool_calls"
    assert [(c.id, c.name, dict(c.arguments)) for c in finish.tool_calls] == [("c1", "echo", {"text": "hi"})]


def test_ollama_error_lines_and_bad_tool_arguments_are_provider_failures() -> None:
    parser = OllamaProtocol().stream_parser("p", "m")
    with pytest.raises(ProviderUnavailable, match="error mid-answer"):
        parser.feed('{"error": "llama runner crashed"}')
    with pytest.raises(ProviderMalformed) as raised:
        parser.feed('{"message": {"tool_calls": [{"function": {"name": "x", "arguments": "[1]"}}]}}')
    assert raised.value.reason == "malformed"
