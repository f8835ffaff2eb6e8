"""One host's reconciler: find the next appliable upgrade, apply it once, report it.

    outcome = await reconciler.reconcile_once()     # applied | failed | waiting | idle | planned | busy

An apply, in order (``state.applying`` is saved before the host changes, so a crash is recoverable):

1. status ``pending`` on the sha; read its files; validate every house and config with the real loaders
   and the pin file: invalid → failed, nothing changed;
2. a package change (the pin differs from the current release's) → ``releases/<sha>/`` installed;
3. configs installed (the replaced files backed up), ``current`` switched; units restarted when the
   package or ``configs/*.yaml`` changed, only reloaded (and this process's houses re-read) when
   only houses changed;
4. the health gate: every health URL answers 200 within the deadline;
5. success → status ``success``, event ``deploy.applied``, and the reconciler's own unit restarted
   last when the package changed; failure → configs restored, ``current`` switched back, units
   restarted, status ``failure`` with the reason, event ``deploy.failed``. A failed sha is never retried.

Each step done is a ``deploy.step`` event (``step``: ``fetched``, ``installed``, ``activated``, ``healthy``,
``rolled_back``; ``seconds`` since the apply began), between ``deploy.started`` and ``deploy.applied`` or
``deploy.failed``.

On start, an apply found in phase ``prepared`` (nothing changed yet) is dropped and retried; one in
phase ``changed`` is rolled back and recorded failed ("interrupted").
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError, DeployFailed, ForgeError, ForgeUnavailable, UniWizardError
from ..forge.pulls import StatusState
from ..meshfile.reconcile import ReconcileSettings
from ..observe.events import EventKind, EventLog
from ..reporef import RepoRef
from ..review.config import ReviewConfig
from .candidates import Upgrade, find_upgrades, waiting_for
from .configs import ConfigInstaller, validate_files
from .forge_api import ReconcileForge
from .metrics import ReconcileMetrics
from .releases import Releases, parse_pin
from .services import HealthGate, ServiceManager
from .source import MeshSource
from .state import Applying, DeployState, Release, StateFile

__all__ = ["Outcome", "Reconciler"]

log = logging.getLogger(__name__)
DEPLOY_STATES: dict[str, StatusState] = {"pending": "pending", "success": "success", "failure": "failure"}
"""The states a deploy status is posted with."""


@dataclass(frozen=True)
class Outcome:
    outcome: str
    sha: str = ""
    number: int = 0
    reason: str = ""
    seconds: float = 0.0


class Reconciler:
    """Applies the upgrades of ``repo`` (branch ``branch``) to host ``host``; every I/O edge is an argument."""

    def __init__(
        self,
        forge: ReconcileForge,
        *,
        repo: str,
        branch: str,
        host: str,
        settings: ReconcileSettings,
        review: ReviewConfig,
        approvers: Callable[[], Collection[str]],
        source: MeshSource,
        releases: Releases,
        configs: ConfigInstaller,
        state: StateFile,
        services: ServiceManager,
        health: HealthGate,
        health_urls: Sequence[str],
        units: Sequence[str],
        events: EventLog,
        metrics: ReconcileMetrics,
        reload_houses: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        dry_run: bool = False,
    ) -> None:
        self.forge, self.repo, self.branch, self.host = forge, repo, branch, host
        self.settings, self.review, self.approvers = settings, review, approvers
        self.source, self.releases, self.configs, self.state_file = source, releases, configs, state
        self.services, self.health, self.health_urls, self.units = services, health, tuple(health_urls), tuple(units)
        self.events, self.metrics, self.reload_houses = events, metrics, reload_houses
        self.clock, self.dry_run = clock, dry_run
        self.context = f"{settings.context_prefix}{host}"
        current = self.state_file.load().current
        self.metrics.current(current.sha if current else None)

    @property
    def owner_name(self) -> tuple[str, str]:
        owner, name = RepoRef.parse(self.repo)
        return owner, name

    async def reconcile_once(self) -> Outcome:
        """Resume or apply at most one upgrade; never two at once on this host (a lock file)."""
        self.releases.root.mkdir(parents=True, exist_ok=True)
        with open(self.releases.root / "reconcile.lock", "a+b") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return Outcome("busy", reason="another reconcile of this host is running")
            state = self.state_file.load()
            if not self.dry_run:
                await self._flush_reports(state)
                if state.applying is not None:
                    return await self._resume(state)
            return await self._next(state)

    async def _next(self, state: DeployState) -> Outcome:
        tip = await self.source.fetch(self.branch)
        upgrades, skipped = await find_upgrades(
            self.forge, self.repo, self.branch, self.settings, self.review, self.approvers()
        )
        for skip in skipped:
            log.debug("upgrade #%d (%s) is not appliable: %s", skip.number, skip.sha[:12], skip.reason)
        landed = {sha: i for i, sha in enumerate(await self.source.first_parents(tip))}
        pending = sorted(
            (u for u in upgrades if u.sha in landed and not state.done(u.sha)), key=lambda u: landed[u.sha]
        )
        if state.current is not None:
            pending = [u for u in pending if not await self.source.is_ancestor(u.sha, state.current.sha)]
        elif pending:
            pending = pending[-1:]  # a fresh host converges on the newest approved upgrade
        if not pending:
            return Outcome("idle", reason=f"nothing to apply ({len(skipped)} merged upgrade(s) not appliable)")
        upgrade = pending[0]
        owner, name = self.owner_name
        statuses = await self.forge.list_statuses(owner, name, upgrade.sha)
        waiting = waiting_for(statuses, self.settings.predecessors(self.host), self.settings.context_prefix)
        if waiting:
            return Outcome("waiting", upgrade.sha, upgrade.number, f"waiting for {', '.join(waiting)} to apply it")
        if self.dry_run:
            return Outcome("planned", upgrade.sha, upgrade.number, f"would apply #{upgrade.number} {upgrade.title}")
        return await self.apply(upgrade, state)

    async def apply(self, upgrade: Upgrade, state: DeployState) -> Outcome:
        started = self.clock()
        sha = upgrade.sha
        await self._report(state, sha, "pending", f"applying #{upgrade.number} on {self.host}")
        await self._event("deploy.started", upgrade.number, sha, {"head": upgrade.head, "by": upgrade.approved_by})
        try:
            tree = await self.source.read(sha)
            validate_files(tree.files)
            pin = parse_pin(tree.pin_text, self.settings.pin_path) if tree.pin_text is not None else None
        except (ConfigError, DeployFailed) as exc:
            return await self._failed(state, upgrade.number, sha, f"invalid: {exc}", started)
        await self._step(upgrade.number, sha, "fetched", started, files=len(tree.files))
        change = self.configs.plan(tree.files)
        current = state.current
        package = pin is not None and (current is None or current.pin != pin or current.target is None)
        applying = Applying(
            sha, upgrade.number, "prepared", self.releases.current_target(), package, change.configs, change.houses
        )
        state.applying = applying
        self.state_file.save(state)
        try:
            if package and pin is not None:
                await self.releases.install(sha, pin)
                await self._step(upgrade.number, sha, "installed", started, pin=pin)
        except DeployFailed as exc:
            return await self._failed(state, upgrade.number, sha, str(exc), started)
        state.applying = applying = replace(applying, phase="changed")
        self.state_file.save(state)
        try:
            self.configs.install(sha, tree.files, change)
            if package:
                self.releases.switch(f"releases/{sha}")
            await self._activate(restart=package or change.configs, houses=change.houses)
            await self._step(upgrade.number, sha, "activated", started, changed=len(change.paths), package=package)
            if package or change.paths:
                report = await self.health.wait_ready(self.health_urls, self.settings.health_deadline_seconds)
                if not report.healthy:
                    raise DeployFailed(f"health gate: {report.reason}")
                await self._step(upgrade.number, sha, "healthy", started)
        except (UniWizardError, OSError) as exc:
            rolled = await self._rollback(applying)  # first: the status description keeps 140 characters
            await self._step(upgrade.number, sha, "rolled_back", started, outcome=rolled[:300])
            return await self._failed(state, upgrade.number, sha, f"{rolled}; {exc}", started)
        kept_pin = pin if package else (current.pin if current else None)
        target = f"releases/{sha}" if package else (current.target if current else applying.previous_target)
        state.record_applied(Release(sha, kept_pin, target))
        self.state_file.save(state)
        self.configs.discard_backup(sha)
        seconds = self.clock() - started
        what = ("package " + (pin or "")) if package else ("configuration" if change.paths else "nothing to change")
        await self._report(state, sha, "success", f"applied on {self.host}: {what}")
        await self._event("deploy.applied", upgrade.number, sha, {"seconds": seconds, "changed": list(change.paths)})
        self.metrics.applied.labels(outcome="applied").inc()
        self.metrics.duration.set(seconds)
        self.metrics.current(sha)
        keep = {s for s in (sha, (current.sha if current else None)) if s}
        self.releases.prune(keep | {t.rsplit("/", 1)[-1] for t in (applying.previous_target,) if t})
        if package and self.settings.self_unit:
            await self.services.restart([self.settings.self_unit], wait=False)  # last: this process may end here
        return Outcome("applied", sha, upgrade.number, what, seconds)

    async def _activate(self, *, restart: bool, houses: bool) -> None:
        if restart:
            await self.services.restart(self.units)
        elif houses:
            await self.services.reload(self.units)
        if houses and self.reload_houses is not None:
            self.reload_houses()

    async def _rollback(self, applying: Applying) -> str:
        """Undo ``applying`` as far as it went; a sentence saying how the host ended up."""
        try:
            self.configs.restore(applying.sha)
            if applying.package:
                if applying.previous_target:
                    self.releases.switch(applying.previous_target)
                else:
                    self.releases.unlink_current()
            await self._activate(restart=applying.package or applying.configs, houses=applying.houses)
        except (UniWizardError, OSError) as exc:
            log.error("rollback of %s failed: %s", applying.sha[:12], exc)
            return f"ROLLBACK FAILED ({exc}): repair by hand (docs/OPERATIONS.md)"
        report = await self.health.wait_ready(self.health_urls, self.settings.health_deadline_seconds)
        back = applying.previous_target or "the previous configuration"
        return f"rolled back to {back}" + ("" if report.healthy else f", still unhealthy: {report.reason}")

    async def _resume(self, state: DeployState) -> Outcome:
        applying = state.applying
        assert applying is not None
        if applying.phase == "prepared":  # nothing on the host changed: try again from the start
            state.applying = None
            self.state_file.save(state)
            return Outcome("resumed", applying.sha, applying.number, "an apply cut short before any change; retrying")
        rolled = await self._rollback(applying)
        reason = f"interrupted mid-apply (the reconciler restarted); {rolled}"
        return await self._failed(state, applying.number, applying.sha, reason, self.clock())

    async def _failed(self, state: DeployState, number: int, sha: str, reason: str, started: float) -> Outcome:
        state.record_failed(sha, reason)
        self.state_file.save(state)
        self.configs.discard_backup(sha)
        seconds = self.clock() - started
        log.warning("upgrade #%d (%s) failed on %s: %s", number, sha[:12], self.host, reason)
        await self._report(state, sha, "failure", reason)
        await self._event("deploy.failed", number, sha, {"reason": reason, "seconds": seconds})
        self.metrics.applied.labels(outcome="failed").inc()
        self.metrics.duration.set(seconds)
        return Outcome("failed", sha, number, reason, seconds)

    async def _report(self, state: DeployState, sha: str, status: str, description: str) -> None:
        """Post the deploy status; one the forge does not take is kept and posted on the next poll."""
        state.unreported = [row for row in state.unreported if row[0] != sha] + [[sha, status, description[:140]]]
        await self._flush_reports(state)

    async def _flush_reports(self, state: DeployState) -> None:
        owner, name = self.owner_name
        left = []
        for sha, status, description in state.unreported:
            try:
                state_ = DEPLOY_STATES.get(status, "error")  # the state file is text: anything else is an error
                await self.forge.create_status(owner, name, sha, state_, self.context, description=description)
            except (ForgeError, ForgeUnavailable) as exc:
                log.warning("cannot post %s on %s yet: %s", self.context, sha[:12], exc)
                left.append([sha, status, description])
        if left != state.unreported:
            state.unreported = left
            self.state_file.save(state)

    async def _step(self, number: int, sha: str, step: str, started: float, **data: Any) -> None:
        """A ``deploy.step`` event: ``step`` of applying ``sha`` done, ``seconds`` after the apply ``started``."""
        seconds = round(self.clock() - started, 3)
        await self.events.emit(
            EventKind.DEPLOY_STEP,
            f"deploy.step:{self.host}:{sha}:{step}:{started:.6f}",
            repository=self.repo,
            number=number,
            data={"sha": sha, "step": step, "seconds": seconds, **data},
        )

    async def _event(self, kind: str, number: int, sha: str, data: dict[str, Any]) -> None:
        await self.events.emit(
            kind, f"{kind}:{self.host}:{sha}", repository=self.repo, number=number, data={"sha": sha, **data}
        )
