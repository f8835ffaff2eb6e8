"""``Runtime``: what every Harness of a process shares (store, registry, breakers, metrics, policies).

Built from ``Settings``; every part can be passed in instead (tests pass a
temporary store, a fresh metrics registry, a fake clock). The store opens on
first use, so a SIMPLE-mode Harness never touches the disk.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import cached_property

from prometheus_client import REGISTRY, CollectorRegistry

from ..config import Settings, load_settings
from ..errors import ConfigError
from ..intelligence.patterns import PatternDB
from ..observe.metrics import HarnessMetrics
from ..policy.loader import load_houses
from ..policy.model import HousePolicy
from ..store import Store
from ..tools.builtin import builtin_registry
from ..tools.env import ToolEnv
from ..tools.registry import ToolRegistry
from ..tools.sandbox import SandboxConfig
from .approvals import ApprovalQueue
from .breakers import BreakerBoard
from .fallback import Fallback
from .pools import ToolPools
from .provenance import REDACTOR, ProvenanceLog

__all__ = ["Runtime"]

SECRET_SETTINGS = ("api_token", "gitea_token", "webhook_secret", "syncthing_api_key")
_default: Runtime | None = None
_default_lock = threading.Lock()


def sandbox_config(settings: Settings) -> SandboxConfig:
    """The sandbox of repository code (``run_tests``) from the ``sandbox_*`` settings."""
    return SandboxConfig(
        uid=settings.sandbox_uid,
        gid=settings.sandbox_gid,
        memory_mb=settings.sandbox_memory_mb,
        tmpfs_mb=settings.sandbox_tmpfs_mb,
        processes=settings.sandbox_processes,
        open_files=settings.sandbox_open_files,
        ro_binds=settings.sandbox_ro_binds,
        env_names=settings.sandbox_env_names,
    )


class Runtime:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: ToolRegistry | None = None,
        houses: Mapping[str, HousePolicy] | None = None,
        env: ToolEnv | None = None,
        store: Store | None = None,
        breakers: BreakerBoard | None = None,
        metrics_registry: CollectorRegistry = REGISTRY,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.registry = registry or builtin_registry()
        self._houses = dict(houses) if houses is not None else None
        self.env = env or ToolEnv(
            gitea_url=self.settings.gitea_url,
            gitea_token=self.settings.secret("gitea_token"),
            sandbox=sandbox_config(self.settings),
            memory_db=store.path if store is not None else self.settings.db_path,
        )
        self._store = store
        self.breakers = breakers or BreakerBoard(
            fail_max=self.settings.breaker_fail_max, reset_timeout=self.settings.breaker_reset_seconds
        )
        self.metrics = HarnessMetrics.for_registry(metrics_registry)
        self.metrics_registry = metrics_registry
        self.metrics.breakers.add(self.breakers)
        self.pools = ToolPools(threads=self.settings.tool_threads, max_stuck=self.settings.tool_stuck_max)
        self.metrics.stuck.add(self.pools)
        self.metrics.approvals.add(self.pending_approval_times)
        self.sleep = sleep
        for name in SECRET_SETTINGS:  # redacted by value wherever they appear in provenance (and reports)
            with contextlib.suppress(ConfigError):
                REDACTOR.add(self.settings.secret(name))
        REDACTOR.add(self.env.gitea_token)
        self._bound: dict[str, HousePolicy] = {}

    @classmethod
    def default(cls) -> Runtime:
        """The process-wide runtime built from ``load_settings()`` (created on first use)."""
        global _default
        with _default_lock:
            if _default is None:
                _default = cls()
            return _default

    def with_env(self, env: ToolEnv) -> Runtime:
        """This runtime with another ``ToolEnv`` (a worker's own forge token): the store, registry,
        breakers, metrics, policies, provenance, approvals and patterns stay shared. Take one per task:
        houses reloaded later reach views made later."""
        view = copy.copy(self)
        view.env = env
        for name in ("provenance", "approvals", "patterns", "fallback"):  # one of each per process, never a second
            view.__dict__[name] = getattr(self, name)
        return view

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def houses(self) -> dict[str, HousePolicy]:
        if self._houses is None:
            self._houses = load_houses(self.settings.houses_dir)
        return self._houses

    def reload_houses(self) -> None:
        """Re-read ``houses_dir`` (SIGHUP, the reconciler): Harnesses built from now on use the new policies.
        An invalid directory raises ``ConfigError`` and the policies in force stay."""
        houses = load_houses(self.settings.houses_dir)
        self._houses, self._bound = houses, {}
        self.__dict__.pop("approvals", None)  # its approvers come from the houses

    def policy(self, house: str) -> HousePolicy:
        """The house's policy with its path roots bound to this host's workspace."""
        bound = self._bound.get(house)
        if bound is None:
            if house not in self.houses:
                known = ", ".join(sorted(self.houses))
                raise ConfigError(f"unknown house {house!r} (known: {known})", source=str(self.settings.houses_dir))
            bound = self._bound[house] = self.houses[house].bind(workspace=self.settings.workspace)
        return bound

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.db_path)
        return self._store

    @cached_property
    def provenance(self) -> ProvenanceLog:
        return ProvenanceLog(self.store)

    @cached_property
    def approvals(self) -> ApprovalQueue:
        approvers = {name for name, p in self.houses.items() if p.rules.may_approve} | {self.settings.owner}
        return ApprovalQueue(self.store, approvers=approvers, ttl=timedelta(days=self.settings.approval_ttl_days))

    def pending_approval_times(self) -> list[float]:
        """When each approval request still waiting was made (UNIX seconds); none before the store is opened."""
        if self._store is None:
            return []
        rows = self._store.query("SELECT requested_at FROM approvals WHERE state = 'pending'")
        return [datetime.fromisoformat(str(r["requested_at"]).replace("Z", "+00:00")).timestamp() for r in rows]

    @cached_property
    def patterns(self) -> PatternDB:
        return PatternDB(self.store)

    @cached_property
    def fallback(self) -> Fallback:
        """INTELLIGENT mode's degradation to SIMPLE while the store is unavailable or slow (``fallback.py``)."""
        return Fallback(lambda: self.store, self.host, metrics_registry=self.metrics_registry)

    def close(self) -> None:
        self.pools.close()
        if self._store is not None:
            self._store.close()
