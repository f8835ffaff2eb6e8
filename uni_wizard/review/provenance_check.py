"""Did the houses' policies hold while the work was done? Re-decide every call the provenance shows ran.

The worker runs a task's calls through its house's Harness with ``task = "<owner>/<repo>#<issue>"``.
Here those records are replayed in order through ``decide()`` with the house's policy as it is now:
reads are tracked (a call that read a path, status ok, adds it to the task's read set) and every call
that RAN (status ok) although the policy denies it now is reported, as a sentence. The usual catch is
Ezra's read-before-write: a ``file_write`` of a file that existed, with no read of it earlier in the task.

Whether a written file existed before is not in the record: it existed if the task wrote it before,
or if it is in the PR's merge base under a repository root the task worked in (the ``repo_path`` of
its git calls). When neither tells, the write is not held against the house, and a note says so.

The hash chain of the whole log is verified too (``ProvenanceLog.verify``). Records live on the host
that ran the calls; a reviewer on another host sees none, and the summary says so instead of failing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import ProvenanceBroken, StoreError
from ..harness.provenance import ProvenanceLog, ProvenanceRecord
from ..policy.decide import Decision, DecisionContext, PathArg, PolicyCall, decide
from ..policy.model import HousePolicy, Mode
from ..policy.paths import PathAccess
from ..tools.registry import ToolRegistry
from ..tools.spec import ToolSpec

__all__ = ["ProvenanceReport", "ProvenanceSources", "check_provenance", "check_records"]

MAX_RECORDS = 100_000


@dataclass(frozen=True)
class ProvenanceReport:
    """What the provenance of a PR's tasks shows. ``violations`` block an approval; ``notes`` inform."""

    host: str
    tasks: tuple[str, ...]
    records: int
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    chain_records: int = 0
    chain_error: str | None = None

    @property
    def visible(self) -> bool:
        return self.records > 0

    @property
    def problems(self) -> list[str]:
        """Sentences that must block the approval."""
        chain = (
            [f"the provenance chain on `{self.host}` does not verify: {self.chain_error}"] if self.chain_error else []
        )
        return [*chain, *self.violations]

    def summary(self) -> str:
        if not self.tasks:
            return "provenance: not checked (the pull request closes no issue, so no task to look up)"
        names = ", ".join(f"`{task}`" for task in self.tasks)
        if not self.visible:
            return (
                f"provenance: no records of {names} are visible on `{self.host}` "
                "(the work ran on another host); the policy check could not be made here"
            )
        verdict = f"{len(self.violations)} call(s) the policy denies" if self.violations else "the policies held"
        chain = "chain broken" if self.chain_error else f"chain verified ({self.chain_records} records)"
        return f"provenance: {self.records} record(s) of {names} re-checked on `{self.host}`: {verdict}; {chain}"


@dataclass(frozen=True)
class ProvenanceSources:
    """What re-deciding a task's calls reads: the provenance ``log``, the houses' ``policies`` (asked at each
    check, so reloaded houses reach the next one) and the ``tools`` registry."""

    log: ProvenanceLog
    policies: Callable[[], Mapping[str, HousePolicy]]
    tools: ToolRegistry


def check_provenance(
    log: ProvenanceLog,
    tasks: Sequence[str],
    policies: Mapping[str, HousePolicy],
    registry: ToolRegistry,
    *,
    host: str,
    base_files: frozenset[str] | None = None,
) -> ProvenanceReport:
    """Read the records of ``tasks`` from ``log``, re-decide them and verify the chain (blocking I/O)."""
    if not tasks:
        return ProvenanceReport(host, (), 0)
    violations: list[str] = []
    notes: list[str] = []
    count = 0
    for task in tasks:
        records = log.tail(MAX_RECORDS, task=task)
        count += len(records)
        found, noted = check_records(records, policies, registry, base_files=base_files)
        violations += found
        notes += noted
    if count == 0:
        return ProvenanceReport(host, tuple(tasks), 0)
    try:
        verified, chain_error = log.verify(), None
    except ProvenanceBroken as exc:
        verified, chain_error = 0, str(exc)
    except StoreError as exc:
        verified, chain_error = 0, f"cannot read the log: {exc}"
    return ProvenanceReport(host, tuple(tasks), count, tuple(violations), tuple(notes), verified, chain_error)


def check_records(
    records: Iterable[ProvenanceRecord],
    policies: Mapping[str, HousePolicy],
    registry: ToolRegistry,
    *,
    base_files: frozenset[str] | None = None,
) -> tuple[list[str], list[str]]:
    """``(violations, notes)`` for the records of ONE task, replayed in id order (pure but for facts hooks)."""
    ordered = sorted(records, key=lambda r: r.id or 0)
    ran = [(record, _args(record)) for record in ordered if record.status == "ok"]
    roots = _roots(ran, registry)
    read: set[str] = set()
    written: set[str] = set()
    violations: list[str] = []
    notes: list[str] = []
    for record, args in ran:
        where = f"record {record.id} ({record.at}, task `{record.task}`)"
        policy = policies.get(record.house)
        if args is None:
            violations.append(f"{where}: its arguments cannot be read, so {record.tool} cannot be re-checked")
            continue
        if policy is None:
            violations.append(f"{where}: {record.house!r} is not a house here; its {record.tool} cannot be re-checked")
            continue
        if record.tool not in registry:
            violations.append(f"{where}: {record.house} ran {record.tool!r}, which is not a registered tool here")
            continue
        spec = registry.get(record.tool)
        paths, unknown = _paths(spec, args, written, roots, base_files)
        call = PolicyCall(spec.name, spec.group, spec.mutates, paths, _facts(spec, record, notes, where))
        context = DecisionContext(_mode(record.mode), frozenset(read))
        decision = decide(policy, call, context)
        if not decision.allowed:
            violations.append(
                f"{where}: {record.house} ran {spec.qualified_name}, which its policy denies: {decision.reason}"
            )
        elif unknown and _denied_if_existing(policy, call, context, unknown):
            notes.append(
                f"{where}: {record.house} wrote {', '.join(unknown)} without reading it first; whether it existed "
                "before cannot be told here (no repository root in the task), so read-before-write was not held "
                "against it"
            )
        read.update(p.resolved for p in paths if p.access is PathAccess.READ)
        written.update(p.resolved for p in paths if p.access is PathAccess.WRITE)
    return violations, notes


def _args(record: ProvenanceRecord) -> dict[str, object] | None:
    try:
        value = json.loads(record.args_json)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _resolve(given: object) -> str:
    return os.path.realpath(os.path.expanduser(str(given)))


def _roots(ran: Sequence[tuple[ProvenanceRecord, dict[str, object] | None]], registry: ToolRegistry) -> list[str]:
    """The repository working trees the task's git calls used, longest first."""
    roots = set()
    for record, args in ran:
        if args and record.tool in registry and registry.get(record.tool).group == "git" and args.get("repo_path"):
            roots.add(_resolve(args["repo_path"]))
    return sorted(roots, key=len, reverse=True)


def _existed(resolved: str, written: set[str], roots: Sequence[str], base_files: frozenset[str] | None) -> bool | None:
    """Whether the file was there before this write: True, False, or None when it cannot be told."""
    if resolved in written:
        return True
    for root in roots:
        if resolved.startswith(root.rstrip(os.sep) + os.sep):
            if base_files is None:
                return None
            return os.path.relpath(resolved, root).replace(os.sep, "/") in base_files
    return None


def _paths(
    spec: ToolSpec,
    args: Mapping[str, object],
    written: set[str],
    roots: Sequence[str],
    base_files: frozenset[str] | None,
) -> tuple[tuple[PathArg, ...], list[str]]:
    paths, unknown = [], []
    for name, access in spec.path_args.items():
        given = args.get(name)
        if given in (None, ""):
            continue
        resolved = _resolve(given)
        is_file = False
        if access is PathAccess.WRITE:
            existed = _existed(resolved, written, roots, base_files)
            if existed is None:
                unknown.append(resolved)
            is_file = bool(existed)
        paths.append(PathArg(name, access, str(given), resolved, is_file))
    return tuple(paths), unknown


def _denied_if_existing(policy: HousePolicy, call: PolicyCall, context: DecisionContext, unknown: list[str]) -> bool:
    assumed = tuple(
        PathArg(p.name, p.access, p.given, p.resolved, True) if p.resolved in unknown else p for p in call.paths
    )
    decision: Decision = decide(policy, PolicyCall(call.tool, call.group, call.mutates, assumed, call.facts), context)
    return not decision.allowed and decision.rule == "read_before_write"


def _facts(spec: ToolSpec, record: ProvenanceRecord, notes: list[str], where: str) -> Mapping[str, object]:
    """The facts the Harness decided on, as recorded with the call (never re-derived from today's disk)."""
    facts: dict[str, object] = {"requires_rule": spec.requires_rule} if spec.requires_rule else {}
    if spec.facts is None:
        return facts
    try:
        recorded = json.loads(record.decision_json).get("facts")
    except (ValueError, AttributeError):
        recorded = None
    if not isinstance(recorded, dict):
        notes.append(f"{where}: the record of {spec.name} carries no facts; checked without them")
        return facts
    return {**recorded, **facts}


def _mode(value: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        return Mode.INTELLIGENT
