"""Typed settings: a YAML file plus ``UNIWIZARD_*`` environment overrides, validated at start.

Precedence (highest first): environment, the YAML file given with ``--config``
(or ``UNIWIZARD_CONFIG``), defaults. Secrets (the API bearer token, the forge
token, the webhook secret) come from the environment or from files named by ``*_file`` keys, never
from the repository, and are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import socket
import stat
import types
import zoneinfo
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from .configfile import read_yaml, validation_error
from .errors import ConfigError
from .reporef import RepoName

__all__ = ["ROLES", "SECRETS", "Settings", "default_houses_dir", "load_settings", "read_secret_file"]

log = logging.getLogger(__name__)

ROLES = ("dispatcher", "worker", "reviewer", "reconciler")
"""The daemon roles a host may run (``roles``)."""
SECRETS = ("api_token", "viewer_token", "gitea_token", "webhook_secret", "syncthing_api_key")
"""The secret settings; each may instead name a file holding it (``<name>_file``)."""

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


def _is_sequence(annotation: Any) -> bool:
    """True for ``tuple[...]``, ``list[...]``, ``set[...]`` (also inside ``X | None``)."""
    origin = get_origin(annotation)
    if origin in (tuple, list, set, frozenset):
        return True
    if origin in (Union, types.UnionType):
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return False


class _EnvSource(EnvSettingsSource):
    """``UNIWIZARD_*`` variables. A list-valued one is JSON (``["a", "b"]``) or comma-separated (``a,b``)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith(("[", "{")) and _is_sequence(field.annotation):
            return [part.strip() for part in value.split(",") if part.strip()]
        return super().decode_complex_value(field_name, field, value)


_warned_readable: set[Path] = set()


def read_secret_file(path: Path, *, source: str | None, key: str) -> str:
    """The stripped content of a secret file. Unreadable, not UTF-8, empty or blank: ``ConfigError`` naming
    ``source`` (where ``key`` was set) and ``key``. Readable by every user: a warning, once per file."""
    try:
        raw = path.expanduser().read_bytes()
        mode = path.expanduser().stat().st_mode
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the secret file {path}: {reason}", source=source, key=key) from None
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"the secret file {path} is not UTF-8 text", source=source, key=key) from None
    if not value:
        raise ConfigError(f"the secret file {path} is empty", source=source, key=key)
    if mode & stat.S_IROTH and path not in _warned_readable:
        _warned_readable.add(path)
        log.warning("%s: the secret file %s is readable by every user: chmod o-r it (0600 or 0640)", key, path)
    return value


class AttentionSettings(BaseModel):
    """The settings of the owner's attention (``uni_wizard/attention/``): the daily briefing and the escalations.
    A part of ``Settings`` (its keys are top-level keys of a settings file, ``UNIWIZARD_*`` like the others)."""

    owner_timezone: str = Field(
        "UTC", description="The owner's timezone (IANA name, e.g. Europe/Paris): when the daily briefing is written."
    )
    briefing_hour: int = Field(
        7, ge=0, le=23, description="Dispatcher: the hour (owner_timezone) the daily briefing issue is written."
    )
    briefing_model: bool = Field(
        False, description="The daily briefing begins with a summary paragraph written by the cascade (facts kept)."
    )
    escalation_urgent: tuple[str, ...] = Field(
        ("upgrade.rolled_back", "peer.down", "issue.p0"),
        description="Escalations that mention the owner at once, never batched: a category or category.kind.",
    )
    escalation_window_hours: float = Field(
        4.0, gt=0, description="Escalations that are not urgent are batched into one digest comment per window."
    )
    escalation_engage_hours: float = Field(
        24.0, gt=0, description="An escalation the owner did not act on within this many hours counts as ignored."
    )
    escalation_threshold_min: float = Field(
        0.2, ge=0, le=1, description="Lowest threshold of a category (acted on: more reaches the owner at once)."
    )
    escalation_threshold_max: float = Field(
        0.8, ge=0, le=1, description="Highest threshold of a category (ignored: more waits for the digest)."
    )

    @field_validator("owner_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (an IANA name such as Europe/Paris)") from exc
        return value


class Settings(BaseSettings, AttentionSettings):
    model_config = SettingsConfigDict(env_prefix="UNIWIZARD_", extra="forbid", frozen=True)

    host: str = Field(default_factory=socket.gethostname, description="This host's name in the mesh.")
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the SQLite store (uni-wizard.db) lives; must be writable by the daemon.",
    )
    houses_dir: Path = Field(
        default_factory=default_houses_dir,
        description="Directory of the house policy files, houses/<name>.yaml (docs/POLICY.md).",
    )
    workspace: Path = Field(
        default_factory=lambda data: Path(data["data_dir"]) / "workspace",
        description="The host's workspace; `{workspace}` in house path roots (default: <data_dir>/workspace).",
    )
    owner: str = Field("owner", description="The human owner's name; may approve like a sovereign house.")
    bind: str = Field("127.0.0.1", description="Address the daemon listens on (`serve --bind`).")
    port: int = Field(
        8643,
        ge=0,
        le=65535,
        description="Port the daemon listens on (`serve --port`); a busy port stops `serve` (exit 2).",
    )
    api_token: SecretStr | None = Field(
        None, description="Bearer token of the HTTP API (/api/v1/...); unset: the API answers 503."
    )
    api_token_file: Path | None = Field(None, description="File holding the API bearer token (api_token wins over it).")
    viewer_token: SecretStr | None = Field(None, description="Read-only token: a viewer logs in to the dashboard "
        "with it (or sends it as a bearer token to /api/v1/events and /api/v1/now) but may not decide.")  # fmt: skip
    viewer_token_file: Path | None = Field(None, description="File holding the viewer token (viewer_token wins).")
    gitea_url: str | None = Field(
        None,
        description="Base URL of the forge (Gitea or the devforge); the roles dispatcher, worker and reviewer need it.",
    )
    gitea_token: SecretStr | None = Field(
        None,
        description="Forge token of the house this host acts as (the dispatcher's, worker's or reviewer's forge user).",
    )
    gitea_token_file: Path | None = Field(None, description="File holding the forge token (gitea_token wins over it).")
    webhook_secret: SecretStr | None = Field(
        None, description="Secret of the forge's webhooks; turns on POST /hooks/gitea (unset: the intake answers 503)."
    )
    webhook_secret_file: Path | None = Field(
        None, description="File holding the webhook secret (webhook_secret wins over it)."
    )
    max_retries: int = Field(2, ge=0, le=10, description="Retries of idempotent tools on transient errors.")
    concurrency: int = Field(
        8, ge=1, le=256, description="Most tool calls run at once by one batch (Harness.aexecute_many)."
    )
    tool_threads: int = Field(
        4, ge=1, le=64, description="Threads per house for blocking tools (file tools); one house cannot use another's."
    )
    tool_stuck_max: int = Field(
        16,
        ge=1,
        le=1024,
        description="Blocking calls of one house that may be stuck (timed out, never returned) before its blocking "
        "tools are refused.",
    )
    tool_call_events: bool = Field(
        True,
        description="Log each recorded tool call (INTELLIGENT, SOVEREIGN) as a `tool.called` event, in its provenance "
        "record's transaction: the live feed shows it, and the telemetry spool carries it to the peers.",
    )
    breaker_fail_max: int = Field(5, ge=1, description="Consecutive transient failures that open a breaker.")
    breaker_reset_seconds: float = Field(
        30.0, gt=0, description="Seconds an open breaker waits before it lets one trial call through."
    )
    approval_ttl_days: float = Field(
        7.0, gt=0, description="Days before a pending approval request expires (it can no longer be approved)."
    )
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
    worker_repos: tuple[RepoName, ...] = Field(
        (),
        description="Worker: owner/name of every repository it takes issues from; empty: the dispatcher's "
        "dispatcher.repos of triage_config.",
    )
    worker_poll_seconds: float | None = Field(
        None, gt=0, description="Worker: seconds between two looks for routed issues; unset: dispatcher.poll_seconds."
    )
    triage_config: Path | None = Field(
        None, description="The triage and routing file, like configs/triage.yaml (unset: the shipped one)."
    )
    review_config: Path | None = Field(
        None, description="The reviewer and merge gate file, like configs/review.yaml (unset: the shipped one)."
    )
    upgrades_config: Path | None = Field(
        None, description="configs/upgrades.yaml: the self-upgrade queue (default: the shipped one)."
    )
    cascade_config: Path | None = Field(
        None, description="configs/cascade.yaml: the model providers (default: the shipped one, local only)."
    )
    mesh_config: Path | None = Field(
        None, description="configs/mesh.yaml: hosts, peers, the forge lease and Syncthing (default: a mesh of one)."
    )
    planner: Literal["auto", "playbook", "model"] = Field(
        "auto",
        description="What a worker does with an issue without a playbook: `auto` runs the model planner (a "
        "tool-calling agent loop on the cascade of cascade_config) when a provider of the cascade answers, and "
        "blocks the issue saying what to configure otherwise; `model` always runs the model planner; `playbook` "
        "never asks a model and blocks the issue asking for a playbook.",
    )
    planner_max_steps: int = Field(12, ge=1, le=500, description="Model planner: most tool calls per issue.")
    planner_max_tokens: int = Field(20_000, ge=1, description="Model planner: most tokens (in + out) per issue.")
    planner_max_seconds: float = Field(600.0, gt=0, description="Model planner: most seconds of wall time per issue.")
    triage_model: bool = Field(
        False, description="Triage asks the cascade for an issue's kind (the rules decide when it cannot answer)."
    )
    syncthing_api_key: SecretStr | None = Field(None, description="Syncthing's REST API key (X-API-Key).")
    syncthing_api_key_file: Path | None = Field(
        None, description="File holding Syncthing's REST API key (syncthing_api_key wins over it)."
    )
    release_root: Path = Field(
        Path("/opt/uni-wizard"),
        description="Reconciler: releases/<sha>/ venvs, the `current` symlink and the reconciler's state file.",
    )
    config_dir: Path = Field(
        Path("/etc/uni-wizard"),
        description="Reconciler: where the mesh repository's houses/*.yaml and configs/*.yaml are installed.",
    )
    sandbox_uid: int = Field(
        65534,
        ge=1,
        description="Sandbox (every run of repository code, e.g. run_tests): the uid the tests run as when the "
        "daemon runs as root (default nobody); a daemon that is not root runs them as its own uid.",
    )
    sandbox_gid: int = Field(65534, ge=1, description="Sandbox: the gid that goes with sandbox_uid.")
    sandbox_memory_mb: int = Field(
        4096, ge=64, description="Sandbox: address space of each process of a test run (RLIMIT_AS), in MiB."
    )
    sandbox_tmpfs_mb: int = Field(
        1024,
        ge=1,
        description="Sandbox: size of each writable tmpfs (the workspace copy, /tmp, /dev/shm), in MiB; also the "
        "largest file a test may write.",
    )
    sandbox_processes: int = Field(
        256, ge=8, description="Sandbox: processes and threads of the sandbox's uid (RLIMIT_NPROC)."
    )
    sandbox_open_files: int = Field(1024, ge=16, description="Sandbox: open files per process (RLIMIT_NOFILE).")
    sandbox_ro_binds: tuple[str, ...] = Field(
        (),
        description="Sandbox: extra absolute paths bound read-only at the same place (a toolchain, a package "
        "cache); never a directory holding secrets.",
    )
    sandbox_env_names: tuple[str, ...] = Field(
        (),
        description="Sandbox: names of the daemon's environment variables passed to test runs (never UNIWIZARD_*); "
        "nothing else of the daemon's environment reaches them.",
    )
    log_level: str = Field(
        "INFO",
        description="Logging level of the daemon: DEBUG, INFO, WARNING, ERROR or CRITICAL (`--debug` adds the HTTP "
        "clients' request lines).",
    )
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

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
        return (init_settings, _EnvSource(settings_cls), _YamlSource(settings_cls))

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for role in value:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        return value

    @field_validator(*SECRETS)
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty: give the secret, or unset the key")
        return value

    @field_validator("*")
    @classmethod
    def _no_nul_in_paths(cls, value: Any) -> Any:
        if isinstance(value, Path) and "\x00" in str(value):
            raise ValueError("a path must not contain a NUL character")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "uni-wizard.db"

    def origin(self, key: str) -> str:
        """Where ``key``'s value came from: ``arguments``, ``environment variable UNIWIZARD_<KEY>``, the settings
        file, or ``default`` (set by ``load_settings``; ``settings`` for an object built otherwise)."""
        return self._origins.get(key, "settings")

    def secret(self, name: str) -> str | None:
        """``api_token``, ``viewer_token``, ``gitea_token``, ``webhook_secret`` or ``syncthing_api_key``: the value,
        else the content of its ``*_file`` (see ``read_secret_file``: an empty or unreadable file is a
        ``ConfigError``)."""
        value: SecretStr | None = getattr(self, name)
        if value is not None:
            return value.get_secret_value()
        path: Path | None = getattr(self, f"{name}_file")
        if path is None:
            return None
        return read_secret_file(path, source=self.origin(f"{name}_file"), key=f"{name}_file")

    def check_secrets(self) -> None:
        """Read every secret that is set, so that a daemon refuses to start on a bad secret file."""
        for name in SECRETS:
            self.secret(name)

    def check_data_dir(self) -> None:
        """``ConfigError`` naming ``data_dir`` unless it is a writable directory, or can be created as one.
        Nothing is created here: the store does that when it first opens."""
        path = self.data_dir
        try:
            _check_writable_dir(path)
            if self.db_path.exists() and not self.db_path.is_file():
                raise ValueError(f"{self.db_path} is not a file")
        except ValueError as exc:
            raise ConfigError(str(exc), source=self.origin("data_dir"), key="data_dir") from None
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}", source=self.origin("data_dir"), key="data_dir") from None


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``overrides``, the environment, then ``path`` (or ``$UNIWIZARD_CONFIG``), in that order.

    A bad value is blamed on where it came from: the argument, the ``UNIWIZARD_*`` variable or the file.
    """
    env_path = os.environ.get("UNIWIZARD_CONFIG")
    path = path or (Path(env_path) if env_path else None)
    _check_variables()
    data = _read_settings_file(path) if path is not None else {}
    origins = _origins(path, data, overrides)
    token = _yaml_values.set(data)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        key = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        fallback = "arguments" if key in overrides else str(path) if path is not None else "settings"
        raise validation_error(exc, origins.get(key, fallback)) from None
    except SettingsError as exc:  # an environment variable that cannot be decoded (a list that is not a,b or JSON)
        match = re.search(r'field "(\w+)"', str(exc))
        key = match.group(1) if match else ""
        raise ConfigError(
            'cannot parse the value: give a list as a,b or as JSON (["a", "b"])',
            source=f"environment variable UNIWIZARD_{key.upper()}",
            key=key or None,
        ) from None
    finally:
        _yaml_values.reset(token)
    settings._origins = origins
    return settings


def _check_variables() -> None:
    """Every ``UNIWIZARD_*`` variable must name a setting: a misspelt one is an error, not a silent default."""
    known = {f"UNIWIZARD_{name.upper()}" for name in Settings.model_fields} | {"UNIWIZARD_CONFIG"}
    unknown = sorted(name for name in os.environ if name.upper().startswith("UNIWIZARD_") and name.upper() not in known)
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0].upper(), sorted(known), n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known))}"
    raise ConfigError(
        f"unknown variable ({hint}); every UNIWIZARD_* variable names a setting, "
        "and a provider's API key (api_key_env) takes a name outside UNIWIZARD_",
        source="environment",
        key=unknown[0],
    )


def _read_settings_file(path: Path) -> dict[str, Any]:
    loaded = read_yaml(path)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError("a settings file must be a mapping of keys", source=str(path))
    for key in loaded:
        if not isinstance(key, str):
            raise ConfigError("unknown key (a key is a name, not a number or a list)", source=str(path), key=repr(key))
    return dict(loaded)


def _origins(path: Path | None, data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, str]:
    """For each setting, where its value comes from (see ``Settings.origin``)."""
    environment = {name.upper() for name in os.environ}
    origins: dict[str, str] = {}
    for name in Settings.model_fields:
        variable = f"UNIWIZARD_{name.upper()}"
        if name in overrides:
            origins[name] = "arguments"
        elif variable in environment:
            origins[name] = f"environment variable {variable}"
        elif name in data:
            origins[name] = str(path)
        else:
            origins[name] = "default"
    if origins["data_dir"] == "default":
        for variable in ("STATE_DIRECTORY", "XDG_DATA_HOME"):  # what the default is made of (_default_data_dir)
            if os.environ.get(variable):
                origins["data_dir"] = f"environment variable {variable}"
                break
    return origins


def _check_writable_dir(path: Path) -> None:
    """``ValueError`` saying why ``path`` is not, and cannot become, a directory this process can write in."""
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ValueError(f"{path} is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{path} is not writable by this user")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{path} cannot be created: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{path} cannot be created: {ancestor} is not writable by this user")
