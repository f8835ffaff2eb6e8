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
import os
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

import pybreaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..errors import ToolCallError, ToolExecutionError, ToolTimeout, TransientToolError, UniWizardError
from ..policy.decide import Decision, DecisionContext, PathArg, PolicyCall, decide
from ..policy.model import House, Mode
from ..store import utc_now
from ..tools.spec import PathAccess, ToolSpec
from .provenance import Job, ProvenanceRecord, canonical_json, digest, redact, sha256_text
from .result import Call, Result, Status
from .runtime import Runtime

__all__ = ["Harness"]

_NO_DECISION = Decision(False, "not decided", "none")
T = TypeVar("T")


class _Task:
    """What one task has done so far that the policy needs (the files it read)."""

    def __init__(self, task_id: str | None) -> None:
        self.id = task_id
        self.read_paths: set[str] = set()


class Harness:
    """Runs tools for one house in one mode.

    ``runtime`` holds what Harnesses share (store, registry, breakers, metrics);
    it defaults to the process-wide one built from settings. ``task`` names the
    unit of work the calls belong to (read-before-write is per task).
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
        self._task = _Task(task)
        self._counters: dict[tuple[str, Status], Any] = {}
        self._histograms: dict[str, Any] = {}

    @property
    def task(self) -> str | None:
        return self._task.id

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
        started = time.perf_counter()
        rt, mode = self.runtime, self.mode
        try:
            spec = rt.registry.get(call.tool)
            values = spec.validate(call.args)
        except ToolCallError as exc:
            return await self._finish(call.tool, call.args, started, Status.ERROR, _NO_DECISION, error=exc)
        policy_call = self._policy_call(spec, values)
        if spec.facts is not None:  # what the policy needs beyond the arguments (git: the pushed branch)
            facts = {**policy_call.facts, **await spec.facts(values, rt.env)}
            policy_call = PolicyCall(spec.name, spec.group, spec.mutates, policy_call.paths, facts)
        decision = decide(self.policy, policy_call, DecisionContext(mode, frozenset(self._task.read_paths)))
        # the facts decided on are kept with the record: a later check replays the decision on them
        recorded: dict[str, Any] = {"facts": dict(policy_call.facts)} if policy_call.facts else {}
        if not decision.allowed:
            rt.metrics.denials.labels(self.house, spec.name, decision.rule).inc()
            return await self._finish(spec.name, values, started, Status.DENIED, decision, extra=recorded)
        checked = {**values, **{p.name: p.resolved for p in policy_call.paths}}
        if decision.needs_approval:  # an approval is for this exact call, paths as resolved now
            args_digest = digest(checked)
            granted = await asyncio.to_thread(
                rt.approvals.take_approved, house=self.house, tool=spec.name, args_digest=args_digest
            )
            if granted is None:
                request = await asyncio.to_thread(
                    rt.approvals.request,
                    house=self.house,
                    tool=spec.name,
                    args_digest=args_digest,
                    args_json=canonical_json(redact(checked)),
                    task=self._task.id,
                    reason=decision.reason,
                )
                return await self._finish(
                    spec.name,
                    values,
                    started,
                    Status.PENDING_APPROVAL,
                    decision,
                    approval_id=request.id,
                    extra=recorded,
                )
        timeout, retries, prediction = call.timeout or spec.timeout, 0, None
        if spec.idempotent:
            retries = rt.settings.max_retries
        if mode is not Mode.SIMPLE:
            prediction = rt.patterns.predict(self.house, spec.name, declared_timeout=timeout, max_retries=retries)
            if call.timeout is None:
                timeout = prediction.timeout
            retries = prediction.retries
        # the tool gets the paths the policy checked (resolved), not the text it was given
        output, error, attempts = await self._attempts(spec, checked, timeout, retries)
        status = Status.OK if error is None else Status.TIMEOUT if isinstance(error, TimeoutError) else Status.ERROR
        if status is Status.OK:
            self._task.read_paths.update(
                p.resolved for p in policy_call.paths if p.access is PathAccess.READ and p.is_file
            )
        learned = None
        if mode is not Mode.SIMPLE:
            learned = rt.patterns.learn(
                self.house, spec.name, ok=status is Status.OK, duration=time.perf_counter() - started
            )
        return await self._finish(
            spec.name,
            values,
            started,
            status,
            decision,
            output=output,
            error=error,
            attempts=attempts,
            also=learned,
            extra={**recorded, **({"prediction": prediction.as_dict()} if prediction else {})},
        )

    @staticmethod
    def _policy_call(spec: ToolSpec, values: Mapping[str, Any]) -> PolicyCall:
        paths = tuple(
            _path_arg(name, access, str(values[name]))
            for name, access in spec.path_args.items()
            if values.get(name) not in (None, "")
        )
        facts = {"requires_rule": spec.requires_rule} if spec.requires_rule else {}
        return PolicyCall(spec.name, spec.group, spec.mutates, paths, facts)

    async def _attempts(
        self, spec: ToolSpec, values: Mapping[str, Any], timeout: float, retries: int
    ) -> tuple[Any, BaseException | None, int]:
        kwargs = dict(values)
        if spec.env_param is not None:
            kwargs[spec.env_param] = self.runtime.env
        attempts = 0

        board = self.runtime.breakers
        breaker = board.breaker(spec.group)

        async def once() -> Any:
            nonlocal attempts
            attempts += 1
            try:
                with breaker.calling():  # never breaker.call(): it would not await (CASCADE_FACTS §2)
                    async with asyncio.timeout(timeout):
                        if spec.is_async:
                            return await spec.fn(**kwargs)
                        return await asyncio.to_thread(spec.fn, **kwargs)
            except pybreaker.CircuitBreakerError as exc:
                raise board.translate(spec.group, exc) from None

        try:
            try:
                return await once(), None, attempts
            except TransientToolError as first:
                if retries <= 0:
                    raise
                first_failure: TransientToolError | None = first

            async def again() -> Any:
                # tenacity is built only once a call has failed (it costs more than a whole SIMPLE call);
                # its first attempt replays that failure, so it waits before calling the tool again.
                nonlocal first_failure
                if first_failure is not None:
                    failure, first_failure = first_failure, None
                    raise failure
                return await once()

            retrying = AsyncRetrying(
                retry=retry_if_exception_type(TransientToolError),
                stop=stop_after_attempt(retries + 1),
                wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
                reraise=True,
                sleep=self.runtime.sleep or asyncio.sleep,
            )
            return await retrying(again), None, attempts
        except TimeoutError as exc:
            if not isinstance(exc, ToolTimeout):
                exc = ToolTimeout(f"{spec.name} did not finish within {timeout:g} s")
            return None, exc, attempts
        except UniWizardError as exc:
            return None, exc, attempts
        except Exception as exc:  # a bug or an unexpected failure inside the tool: report it, typed
            wrapped = ToolExecutionError(f"{spec.name} raised {type(exc).__name__}: {exc}")
            wrapped.__cause__ = exc
            return None, wrapped, attempts

    async def _finish(
        self,
        tool: str,
        args: Mapping[str, Any],
        started: float,
        status: Status,
        decision: Decision,
        *,
        output: Any = None,
        error: BaseException | None = None,
        attempts: int = 0,
        approval_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
        also: Job | None = None,
    ) -> Result:
        duration = time.perf_counter() - started
        rt = self.runtime
        provenance_id = None
        if self.mode is not Mode.SIMPLE:
            full = canonical_json(dict(args))
            redacted = redact(dict(args))
            record = ProvenanceRecord(
                at=utc_now(),
                house=self.house,
                host=rt.host,
                mode=str(self.mode),
                tool=tool,
                task=self._task.id,
                args_digest=sha256_text(full),
                args_json=full if redacted == args else canonical_json(redacted),
                output_digest=digest(output) if status is Status.OK else None,
                output_json=canonical_json(output) if self.mode is Mode.SOVEREIGN and status is Status.OK else None,
                status=str(status),
                error=str(error) if error else None,
                error_type=type(error).__name__ if error else None,
                duration=duration,
                attempts=attempts,
                decision_json=canonical_json(
                    {
                        "allowed": decision.allowed,
                        "rule": decision.rule,
                        "reason": decision.reason,
                        "approval_id": approval_id,
                        **(extra or {}),
                    }
                ),
            )
            provenance_id = await rt.provenance.aappend(record, also=also)
        known = tool in rt.registry
        key = (tool if known else "unknown", status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = rt.metrics.calls.labels(self.house, key[0], str(self.mode), str(status))
        counter.inc()
        if attempts:
            histogram = self._histograms.get(tool)
            if histogram is None:
                histogram = self._histograms[tool] = rt.metrics.duration.labels(self.house, tool)
            histogram.observe(duration)
        return Result(
            status=status,
            tool=tool,
            house=self.house,
            mode=self.mode,
            output=output,
            error=str(error) if error else (decision.reason if status is Status.DENIED else None),
            error_type=type(error).__name__ if error else ("PolicyDenied" if status is Status.DENIED else None),
            duration=duration,
            attempts=attempts,
            provenance_id=provenance_id,
            approval_id=approval_id,
            reason=decision.reason if decision is not _NO_DECISION else None,
            rule=decision.rule if decision is not _NO_DECISION else None,
        )


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


def _path_arg(name: str, access: PathAccess, given: str) -> PathArg:
    resolved = os.path.realpath(os.path.expanduser(given))
    return PathArg(name, access, given, resolved, os.path.isfile(resolved))
