"""Typed settings: a YAML file plus ``UNIWIZARD_*`` environment overrides, validated at start.

Precedence (highest first): environment, the YAML file given with ``--config``
(or ``UNIWIZARD_CONFIG``), defaults. Secrets (the API bearer token, the forge
token, the webhook secret) come from the environment or from files named by ``*_file`` keys, never
from the repository, and are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
import socket
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError
from .policy.loader import read_yaml, validation_error

__all__ = ["Settings", "default_houses_dir", "load_settings"]

PACKAGE_DIR = Path(__file__).resolve().parent


def default_houses_dir() -> Path:
    """The houses shipped with uni-wizard: inside the wheel, or the repository's ``houses/``."""
    for candidate in (PACKAGE_DIR / "_defaults" / "houses", PACKAGE_DIR.parent / "houses"):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent / "houses"


def _default_data_dir() -> Path:
    state = os.environ.get("STATE_DIRECTORY")  # set by systemd's StateDirectory=
    if state:
        return Path(state.split(":")[0])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "uni-wizard"


_yaml_values: ContextVar[dict[str, Any] | None] = ContextVar("uniwizard_yaml_values", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    """The values of the settings file being loaded (see ``load_settings``)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_values.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UNIWIZARD_", extra="forbid", frozen=True)

    host: str = Field(default_factory=socket.gethostname, description="This host's name in the mesh.")
    data_dir: Path = Field(default_factory=_default_data_dir, description="Where the SQLite store lives.")
    houses_dir: Path = Field(default_factory=default_houses_dir, description="Directory of houses/*.yaml.")
    workspace: Path = Field(
        default_factory=lambda data: Path(data["data_dir"]) / "workspace",
        description="The host's workspace; `{workspace}` in house path roots (default: <data_dir>/workspace).",
    )
    owner: str = Field("owner", description="The human owner's name; may approve like a sovereign house.")
    bind: str = Field("127.0.0.1", description="Address the daemon listens on.")
    port: int = Field(8643, ge=0, le=65535, description="Port the daemon listens on.")
    api_token: SecretStr | None = Field(None, description="Bearer token for POST /api/v1/execute.")
    api_token_file: Path | None = Field(None, description="File holding the API bearer token.")
    gitea_url: str | None = Field(None, description="Base URL of the forge.")
    gitea_token: SecretStr | None = Field(None, description="Forge token of this host's house.")
    gitea_token_file: Path | None = Field(None, description="File holding the forge token.")
    webhook_secret: SecretStr | None = Field(None, description="Secret of the forge's webhooks (POST /hooks/gitea).")
    webhook_secret_file: Path | None = Field(None, description="File holding the webhook secret.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of idempotent tools on transient errors.")
    concurrency: int = Field(8, ge=1, le=256, description="Parallel calls in aexecute_many.")
    breaker_fail_max: int = Field(5, ge=1, description="Consecutive transient failures that open a breaker.")
    breaker_reset_seconds: float = Field(30.0, gt=0, description="Seconds an open breaker waits for a trial.")
    approval_ttl_days: float = Field(7.0, gt=0, description="Days before an approval request expires.")
    roles: tuple[str, ...] = Field(
        (),
        description="Daemon roles on this host: `dispatcher` runs Allegro's lane (as a standby without the lease); "
        "`worker` runs the worker of `house`; `reviewer` runs the reviewer and merge gate as `house`; "
        "`reconciler` applies approved upgrades of the mesh repository to this host (release_root, config_dir).",
    )
    dispatcher_house: str = Field("allegro", description="The house whose forge user the dispatcher acts as.")
    house: str | None = Field(
        None,
        description="The house this host's worker or reviewer acts as (roles `worker`, `reviewer`); "
        "gitea_token is its forge user's.",
    )
    triage_config: Path | None = Field(None, description="configs/triage.yaml (default: the shipped one).")
    review_config: Path | None = Field(None, description="configs/review.yaml (default: the shipped one).")
    upgrades_config: Path | None = Field(
        None, description="configs/upgrades.yaml: the self-upgrade queue (default: the shipped one)."
    )
    cascade_config: Path | None = Field(
        None, description="configs/cascade.yaml: the model providers (default: the shipped one, local only)."
    )
    mesh_config: Path | None = Field(
        None, description="configs/mesh.yaml: hosts, peers, the forge lease and Syncthing (default: a mesh of one)."
    )
    planner: Literal["playbook", "model"] = Field(
        "playbook",
        description="What a worker does with an issue without a playbook: `playbook` blocks it and asks for one; "
        "`model` runs the model planner (a tool-calling agent loop on the cascade of cascade_config).",
    )
    planner_max_steps: int = Field(12, ge=1, le=500, description="Model planner: most tool calls per issue.")
    planner_max_tokens: int = Field(20_000, ge=1, description="Model planner: most tokens (in + out) per issue.")
    planner_max_seconds: float = Field(600.0, gt=0, description="Model planner: most seconds of wall time per issue.")
    triage_model: bool = Field(
        False, description="Triage asks the cascade for an issue's kind (the rules decide when it cannot answer)."
    )
    syncthing_api_key: SecretStr | None = Field(None, description="Syncthing's REST API key (X-API-Key).")
    syncthing_api_key_file: Path | None = Field(None, description="File holding Syncthing's REST API key.")
    release_root: Path = Field(
        Path("/opt/uni-wizard"),
        description="Reconciler: releases/<sha>/ venvs, the `current` symlink and the reconciler's state file.",
    )
    config_dir: Path = Field(
        Path("/etc/uni-wizard"),
        description="Reconciler: where the mesh repository's houses/*.yaml and configs/*.yaml are installed.",
    )
    log_level: str = Field("INFO", description="Python logging level.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # explicit arguments (the CLI's --port) > environment > the YAML file > defaults
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "uni-wizard.db"

    def secret(self, name: str) -> str | None:
        """``api_token``, ``gitea_token``, ``webhook_secret`` or ``syncthing_api_key``: the value, else the content
        of its ``*_file``."""
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value()
        path: Path | None = getattr(self, f"{name}_file")
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the secret file: {exc.strerror}", source=str(path)) from exc


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``overrides``, the environment, then ``path`` (or ``$UNIWIZARD_CONFIG``), in that order.

    A bad value is blamed on where it came from: the argument, the ``UNIWIZARD_*`` variable or the file.
    """
    env_path = os.environ.get("UNIWIZARD_CONFIG")
    path = path or (Path(env_path) if env_path else None)
    known = {f"UNIWIZARD_{name.upper()}" for name in Settings.model_fields} | {"UNIWIZARD_CONFIG"}
    unknown = sorted(name for name in os.environ if name.upper().startswith("UNIWIZARD_") and name.upper() not in known)
    if unknown:
        raise ConfigError(f"unknown variable (known: {', '.join(sorted(known))})", source="environment", key=unknown[0])
    data: dict[str, Any] = {}
    if path is not None:
        loaded = read_yaml(path)
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError("a settings file must be a mapping of keys", source=str(path))
        data = dict(loaded or {})
    token = _yaml_values.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        key = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        env_name = f"UNIWIZARD_{key.upper()}"
        if key in overrides:
            source = "arguments"
        elif env_name in os.environ:
            source = f"environment variable {env_name}"
        else:
            source = str(path) if path is not None else "settings"
        raise validation_error(exc, source) from None
    finally:
        _yaml_values.reset(token)
