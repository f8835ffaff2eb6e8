"""The Harness: one entry point that runs tools under a house's policy, in a mode, with provenance.

    >>> harness = Harness(house=House.TIMMY, mode=Mode.INTELLIGENT)
    >>> harness.execute("git_status", repo_path="/srv/repo").status
    <Status.OK: 'ok'>

Each call goes: look the tool up → validate arguments → policy decision →
(sovereign approval) → prediction → attempts under the group's breaker with a
timeout, retried for idempotent tools on transient errors → learning →
provenance → metrics. Nothing raises for a per-call problem: the ``Result``
says what happened (``raise_for_status()`` turns it into the exception).
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from ..errors import CircuitOpen, StoreError, StoreUnavailable, ToolCallError, ToolExecutionError, UniWizardError
from ..intelligence.patterns import Prediction, shape_of
from ..policy.decide import Decision, DecisionContext, PolicyCall, decide, mode_for
from ..policy.model import House, Mode
from ..policy.paths import PathAccess
from ..tools.spec import DecidedFacts, ToolSpec
from .attempts import Attempts
from .inputs import anchor_all, policy_call
from .provenance import canonical_json, capped, digest, redact
from .recording import NO_DECISION, Recorder
from .result import Call, Result, Status
from .runtime import Runtime

__all__ = ["Harness"]

log = logging.getLogger(__name__)

MAX_CALL_TIMEOUT = 3600.0  # a caller-set timeout is capped here
T = TypeVar("T")


class Harness:
    """Runs tools for one house in one mode.

    ``runtime`` holds what Harnesses share (store, registry, breakers, metrics);
    it defaults to the process-wide one built from settings. ``task`` names the
    unit of work the calls belong to (read-before-write is per task: the files it read).
    """

    def __init__(
        self,
        house: House | str = House.TIMMY,
        mode: Mode | str | None = None,
        *,
        runtime: Runtime | None = None,
        task: str | None = None,
    ) -> None:
        self.runtime = runtime or Runtime.default()
        self.house = str(house)
        self.policy = self.runtime.policy(self.house)
        self.mode = Mode(mode) if mode is not None else self.policy.default_mode
        self.task = task
        self.read_paths: set[str] = set()
        self._modes: dict[str, Mode] = {}
        self._recorder = Recorder(self.runtime, self.house, task)
        self._attempts = Attempts(self.runtime, self.house)

    def for_task(self, task: str) -> Harness:
        """A Harness for the same house and mode, sharing the runtime, with a fresh task."""
        return Harness(self.house, self.mode, runtime=self.runtime, task=task)

    # -- sync facade -------------------------------------------------------
    def execute(self, tool: str, /, **args: Any) -> Result:
        """Run one tool call and wait for it (not from inside a running event loop)."""
        return self._run_sync(self.run(Call(tool, args)))

    def execute_many(self, calls: Iterable[Call], *, concurrency: int | None = None) -> list[Result]:
        return self._run_sync(self.aexecute_many(calls, concurrency=concurrency))

    def _run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _thread_runner().run(coro)
        coro.close()
        raise UniWizardError("Harness.execute() cannot run inside an event loop: await harness.aexecute(...)")

    # -- async core --------------------------------------------------------
    async def aexecute(self, tool: str, /, **args: Any) -> Result:
        return await self.run(Call(tool, args))

    async def aexecute_many(self, calls: Iterable[Call], *, concurrency: int | None = None) -> list[Result]:
        """Run calls in parallel, at most ``concurrency`` at once; results in the calls' order."""
        limit = asyncio.Semaphore(concurrency or self.runtime.settings.concurrency)

        async def one(call: Call) -> Result:
            async with limit:
                return await self.run(call)

        return list(await asyncio.gather(*(one(c) for c in calls)))

    async def run(self, call: Call) -> Result:
        """Run one call. Never raises for a per-call problem, hostile arguments included: a bug inside the
        Harness or a tool becomes an ``error`` Result (with its provenance record when the mode keeps one)."""
        started = time.perf_counter()
        recorder = self._recorder
        try:
            return await self._run(call, started)
        except StoreError as exc:  # the record could not be committed: the call is not acknowledged as done
            log.error("%s: %s: its provenance record could not be written: %s", self.house, call.tool, exc)
            failed = StoreError(f"{call.tool}: its provenance record could not be written, so it is not done: {exc}")
            return recorder.result(call.tool, self.mode, started, Status.ERROR, NO_DECISION, error=failed)
        except Exception as exc:
            log.error("%s: %s failed inside the Harness: %s", self.house, call.tool, exc, exc_info=exc)
            wrapped = ToolExecutionError(f"{call.tool} failed inside the Harness: {type(exc).__name__}: {exc}")
            try:
                return await recorder.finish(
                    call.tool, call.args, started, Status.ERROR, NO_DECISION, error=wrapped, mode=self.mode
                )
            except Exception:  # the record cannot be written either: the caller still gets an answer
                return recorder.result(call.tool, self.mode, started, Status.ERROR, NO_DECISION, error=wrapped)

    async def _run(self, call: Call, started: float) -> Result:
        mode = self.mode
        try:
            spec = self.runtime.registry.get(call.tool)
            mode = self._mode_for(spec)
            values = spec.validate(call.args)
            if call.timeout is not None and not call.timeout > 0:
                raise ToolCallError(f"timeout must be a positive number of seconds, not {call.timeout!r}")
            asked = await policy_call(spec, values, self.runtime.env)
        except (ToolCallError, ToolExecutionError) as exc:
            return await self._recorder.finish(
                call.tool, call.args, started, Status.ERROR, NO_DECISION, error=exc, mode=mode
            )
        decision = decide(self.policy, asked, DecisionContext(mode, frozenset(self.read_paths)))
        # the facts decided on are kept with the record: a later check replays the decision on them
        recorded: dict[str, Any] = {"facts": dict(asked.facts)} if asked.facts else {}
        finish = functools.partial(self._recorder.finish, spec.name, values, started, mode=mode)
        if not decision.allowed:
            self.runtime.metrics.denials.labels(self.house, spec.name, decision.rule).inc()
            return await finish(Status.DENIED, decision, extra=recorded)
        checked = {**values, **{p.name: p.resolved for p in asked.paths}}
        if decision.needs_approval:  # an approval is for this exact call, paths as resolved now
            pending = await self._pending_approval(spec, checked, decision)
            if pending is not None:
                return await finish(Status.PENDING_APPROVAL, decision, approval_id=pending, extra=recorded)
        return await self._allowed(spec, values, asked, decision, call.timeout, mode, started, recorded)

    async def _allowed(
        self,
        spec: ToolSpec,
        values: Mapping[str, Any],
        asked: PolicyCall,
        decision: Decision,
        timeout: float | None,
        mode: Mode,
        started: float,
        recorded: dict[str, Any],
    ) -> Result:
        """An allowed call: anchor its paths, run it, learn from it, record it."""
        if mode is Mode.INTELLIGENT and not self.runtime.fallback.use_store(self.house):
            mode = Mode.SIMPLE  # degraded: the store is unavailable or slow (harness/fallback.py)
        finish = functools.partial(self._recorder.finish, spec.name, values, started, mode=mode)
        checked = {**values, **{p.name: p.resolved for p in asked.paths}}
        try:
            anchors = await asyncio.to_thread(anchor_all, asked.paths) if asked.paths else {}
        except ToolExecutionError as exc:  # a checked path changed before it could be opened
            return await finish(Status.ERROR, decision, error=exc, extra=recorded)
        try:
            given: dict[str, Any] = {**checked, **anchors}
            if spec.facts_param is not None:  # the tool acts on exactly what the policy allowed
                given[spec.facts_param] = DecidedFacts(asked.facts)
            output, error, attempts, prediction = await self._execute(spec, given, timeout, mode)
            if mode is Mode.INTELLIGENT and prediction is None:  # the store could not be read: SIMPLE-style
                mode, finish = Mode.SIMPLE, functools.partial(finish, mode=Mode.SIMPLE)
        finally:
            for anchored_path in anchors.values():
                anchored_path.release()
        status = Status.OK if error is None else Status.TIMEOUT if isinstance(error, TimeoutError) else Status.ERROR
        if status is Status.OK:
            self.read_paths.update(p.resolved for p in asked.paths if p.access is PathAccess.READ and p.is_file)
        learned = None
        if mode is not Mode.SIMPLE and not (isinstance(error, CircuitOpen) and attempts <= 1):  # refused: never ran
            learned = self.runtime.patterns.learn(
                self.house, spec.name, ok=status is Status.OK, duration=time.perf_counter() - started,
                shape=shape_of(values),
            )  # fmt: skip
        extra = {**recorded, **({"prediction": prediction.as_dict()} if prediction else {})}
        outcome = functools.partial(finish, status, decision, output=output, error=error, attempts=attempts)
        committing = time.perf_counter()
        try:
            result = await outcome(also=learned, extra=extra)
        except StoreUnavailable as exc:  # not a record that cannot be written (bad data): that is no degradation
            if mode is not Mode.INTELLIGENT:
                raise
            self.runtime.fallback.failed(self.house, f"the store refused a call's record: {exc}")
            result = await outcome(mode=Mode.SIMPLE)
        else:
            if mode is Mode.INTELLIGENT:
                await self.runtime.fallback.settled(self.house, time.perf_counter() - committing)
        if prediction is None:
            return result
        if prediction.likely_failure:
            self.runtime.fallback.metrics.likely_failures.labels(self.house, spec.name).inc()
        return dataclasses.replace(result, prediction=prediction.as_dict(), likely_failure=prediction.likely_failure)

    def _mode_for(self, spec: ToolSpec) -> Mode:
        """The mode a call of ``spec`` runs in: this Harness's, raised to the policy's floor (kept per tool)."""
        mode = self._modes.get(spec.name)
        if mode is None:
            mode = self._modes[spec.name] = mode_for(
                self.policy, PolicyCall(spec.name, spec.group, spec.mutates), self.mode
            )
        return mode

    async def _pending_approval(self, spec: ToolSpec, checked: Mapping[str, Any], decision: Decision) -> int | None:
        """``None`` when a sovereign approved this exact call (taken now), else the id of the request made."""
        rt = self.runtime
        args_digest = digest(checked)
        granted = await asyncio.to_thread(
            rt.approvals.take_approved, house=self.house, tool=spec.name, args_digest=args_digest
        )
        if granted is not None:
            return None
        request = await asyncio.to_thread(
            rt.approvals.request,
            house=self.house,
            tool=spec.name,
            args_digest=args_digest,
            args_json=canonical_json(capped(redact(dict(checked)))),
            task=self.task,
            reason=f"{decision.reason} ({self._foreseen(spec, checked)})",
        )
        return request.id

    def _foreseen(self, spec: ToolSpec, checked: Mapping[str, Any]) -> str:
        """What the approver is shown of the pattern database's prediction for this call."""
        declared, retries = spec.timeout, self.runtime.settings.max_retries if spec.idempotent else 0
        try:
            found = self.runtime.patterns.predict(
                self.house, spec.name, declared_timeout=declared, max_retries=retries, shape=shape_of(checked)
            )
        except StoreError as exc:
            return f"no prediction: {exc}"
        return found.sentence()

    async def _execute(
        self, spec: ToolSpec, values: Mapping[str, Any], timeout_override: float | None, mode: Mode
    ) -> tuple[Any, BaseException | None, int, Any]:
        """Predict (INTELLIGENT and up), then run the attempts: ``(output, error, attempts, prediction)``."""
        rt = self.runtime
        if timeout_override is not None:
            timeout_override = min(timeout_override, MAX_CALL_TIMEOUT)
        timeout, retries, prediction = timeout_override or spec.timeout, 0, None
        if spec.idempotent:
            retries = rt.settings.max_retries
        if mode is not Mode.SIMPLE:
            prediction = self._predict(spec, values, timeout, retries, mode)
        if prediction is not None:
            if timeout_override is None:
                timeout = prediction.timeout
            retries = prediction.retries
        output, error, attempts = await self._attempts.run(spec, values, timeout=timeout, retries=retries)
        return output, error, attempts, prediction

    def _predict(
        self, spec: ToolSpec, values: Mapping[str, Any], timeout: float, retries: int, mode: Mode
    ) -> Prediction | None:
        """The pattern database's prediction; None when the store cannot be read (INTELLIGENT degrades)."""
        try:
            return self.runtime.patterns.predict(
                self.house, spec.name, declared_timeout=timeout, max_retries=retries, shape=shape_of(values)
            )
        except StoreError as exc:
            if mode is not Mode.INTELLIGENT:
                raise
            self.runtime.fallback.failed(self.house, f"the pattern database could not be read: {exc}")
            return None


_runners = threading.local()
_all_runners: list[asyncio.Runner] = []


def _thread_runner() -> asyncio.Runner:
    """This thread's event loop for the sync facade: one per thread, shared by every Harness, closed at exit."""
    runner: asyncio.Runner | None = getattr(_runners, "runner", None)
    if runner is None:
        runner = _runners.runner = asyncio.Runner()
        _all_runners.append(runner)
    return runner


@atexit.register
def _close_runners() -> None:
    for runner in _all_runners:
        runner.close()
