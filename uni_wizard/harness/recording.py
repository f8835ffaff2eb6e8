"""What a call leaves behind: its ``Result``, its provenance record (INTELLIGENT and SOVEREIGN) and its
metrics. Records keep the arguments redacted (by key and by value) and capped, the output only in
SOVEREIGN mode and only up to its cap; digests always cover everything.

A recorded call is also a ``tool.called`` event, written in the record's own transaction (one group commit
for both, so the event costs an index lookup and a row, not a commit) and carrying no arguments and no
output: house, tool, task, mode, status, error type, duration, attempts and the record's id. A task named
``owner/repo#12`` gives the event its repository and issue number. SIMPLE mode keeps no record and touches
no disk, so it logs no event either; the setting ``tool_call_events: false`` turns the event off."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from ..errors import UniWizardError
from ..observe.events import EventKind, EventLog
from ..policy.decide import Decision
from ..policy.model import Mode
from ..store import utc_now
from .provenance import Job, ProvenanceRecord, canonical_json, capped, digest, redact, stored_output
from .result import Result, Status
from .runtime import Runtime

__all__ = ["NO_DECISION", "Recorder"]

NO_DECISION = Decision(False, "not decided", "none")  # the call ended before the policy was asked
MAX_TASK_CHARS = 200  # of the task name in a tool.called event
_ISSUE_TASK = re.compile(r"^([^\s#]+/[^\s#]+)#([0-9]{1,9})$")


class Recorder:
    """Records the calls of one Harness (``house``, ``task``) on ``runtime``: store, metrics, host."""

    def __init__(self, runtime: Runtime, house: str, task: str | None) -> None:
        self.runtime, self.house, self.task = runtime, house, task
        self._events: EventLog | None = None  # made on the first recorded call (SIMPLE mode never needs it)
        self._counters: dict[tuple[str, Status, Mode], Any] = {}
        self._histograms: dict[str, Any] = {}

    async def finish(
        self,
        tool: str,
        args: Mapping[str, Any],
        started: float,
        status: Status,
        decision: Decision,
        *,
        mode: Mode,
        output: Any = None,
        error: BaseException | None = None,
        attempts: int = 0,
        approval_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
        also: Job | None = None,
    ) -> Result:
        """The call's Result, after its record (when the mode keeps one) is committed and its metrics counted."""
        provenance_id = None
        if mode is not Mode.SIMPLE:
            decided = {"approval_id": approval_id, **(extra or {})}
            record = self.record(tool, args, started, status, decision, mode, output, error, attempts, decided)
            if self.runtime.settings.tool_call_events:
                provenance_id = await self.runtime.provenance.aappend(record, also=self._logged(record, also, decided))
                self._log().notify()
            else:
                provenance_id = await self.runtime.provenance.aappend(record, also=also)
        result = self.result(
            tool, mode, started, status, decision, output=output, error=error, attempts=attempts,
            provenance_id=provenance_id, approval_id=approval_id,
        )  # fmt: skip
        self._count(tool, status, mode, result.duration if attempts else None)
        return result

    def _log(self) -> EventLog:
        if self._events is None:
            self._events = EventLog(self.runtime.store, self.runtime.host)
        return self._events

    def _logged(self, record: ProvenanceRecord, also: Job | None, decided: Mapping[str, Any]) -> Job:
        """``also``, after the ``tool.called`` event of ``record`` (run in the record's transaction)."""
        events, task = self._log(), self.task
        found = _ISSUE_TASK.match(task) if task else None
        data: dict[str, Any] = {
            "house": record.house,
            "tool": record.tool,
            "task": task[:MAX_TASK_CHARS] if task else None,
            "mode": record.mode,
            "status": record.status,
            "error_type": record.error_type,
            "duration": round(record.duration, 6),
            "attempts": record.attempts,
            "likely_failure": bool((decided.get("prediction") or {}).get("likely_failure")),  # intelligence/patterns.py
        }

        def log_call(db: sqlite3.Connection) -> None:
            record_id = int(db.execute("SELECT max(id) FROM provenance").fetchone()[0])  # the record just written
            events.write(
                db,
                EventKind.TOOL_CALLED,
                f"tool:{events.host}:{record_id}",
                repository=found.group(1)[:256] if found else None,
                number=int(found.group(2)) if found else None,
                data={**data, "provenance_id": record_id},
            )
            if also is not None:
                also(db)

        return log_call

    def _count(self, tool: str, status: Status, mode: Mode, duration: float | None) -> None:
        rt = self.runtime
        name = tool if tool in rt.registry else "unknown"
        counter = self._counters.get((name, status, mode))
        if counter is None:
            counter = self._counters[(name, status, mode)] = rt.metrics.calls.labels(
                self.house, name, str(mode), str(status)
            )
        counter.inc()
        if duration is not None:
            histogram = self._histograms.get(tool)
            if histogram is None:
                histogram = self._histograms[tool] = rt.metrics.duration.labels(self.house, tool)
            histogram.observe(duration)

    def record(
        self,
        tool: str,
        args: Mapping[str, Any],
        started: float,
        status: Status,
        decision: Decision,
        mode: Mode,
        output: Any,
        error: BaseException | None,
        attempts: int,
        decided: Mapping[str, Any],
    ) -> ProvenanceRecord:
        """The provenance record of a call (``decided``: the approval id, the facts, the prediction)."""
        kept = mode is Mode.SOVEREIGN and status is Status.OK
        return ProvenanceRecord(
            at=utc_now(),
            house=self.house,
            host=self.runtime.host,
            mode=str(mode),
            tool=tool,
            task=self.task,
            args_digest=digest(dict(args)),
            args_json=canonical_json(capped(redact(dict(args)))),
            output_digest=digest(output) if status is Status.OK else None,
            output_json=stored_output(redact(output)) if kept else None,
            status=str(status),
            error=redact(str(error)) if error else None,
            error_type=type(error).__name__ if error else None,
            duration=time.perf_counter() - started,
            attempts=attempts,
            decision_json=canonical_json(
                {"allowed": decision.allowed, "rule": decision.rule, "reason": decision.reason, **decided}
            ),
        )

    def result(
        self,
        tool: str,
        mode: Mode,
        started: float,
        status: Status,
        decision: Decision,
        *,
        output: Any = None,
        error: BaseException | None = None,
        attempts: int = 0,
        provenance_id: int | None = None,
        approval_id: int | None = None,
    ) -> Result:
        denied = status is Status.DENIED
        return Result(
            status=status,
            tool=tool,
            house=self.house,
            mode=mode,
            output=output,
            error=str(error) if error else (decision.reason if denied else None),
            error_type=type(error).__name__ if error else ("PolicyDenied" if denied else None),
            error_class=type(error) if isinstance(error, UniWizardError) else None,
            duration=time.perf_counter() - started,
            attempts=attempts,
            provenance_id=provenance_id,
            approval_id=approval_id,
            reason=decision.reason if decision is not NO_DECISION else None,
            rule=decision.rule if decision is not NO_DECISION else None,
        )
