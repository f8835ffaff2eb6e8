"""The demo's world: ``Tour`` (the workspace, the runtime, what happened so far), the sample
repository and the closing summary tables."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..harness.core import Harness
from ..harness.result import Result, Status
from ..harness.runtime import Runtime
from ..policy.model import Mode

__all__ = [
    "IssuePath",
    "RoutedIssue",
    "Tour",
    "UpgradePath",
    "build_world",
    "paths_summary",
    "routing_summary",
    "summary",
    "upgrades_summary",
]


@dataclass(frozen=True)
class RoutedIssue:
    """One issue a chapter filed on the forge and saw triaged and routed."""

    repository: str
    number: int
    title: str
    kind: str
    priority: str
    house: str | None
    ms: float  # from the issue's creation to its routing (the dispatcher's issue.routed event)
    flags: tuple[str, ...] = ()  # needs-info, epic, duplicate of #n


@dataclass(frozen=True)
class IssuePath:
    """One issue a chapter saw worked through the spine: each stage's time from its filing, in seconds."""

    repository: str
    number: int
    title: str
    house: str | None
    stages: dict[str, float]
    pr: int | None = None
    closed: bool = False


@dataclass(frozen=True)
class UpgradePath:
    """One upgrade of the mesh a chapter saw through the queue and the reconcilers: each step's time, in
    seconds from the chapter's start; each host's deploy status; the changed setting live on each host."""

    repository: str
    number: int
    title: str
    state: str
    head: str
    merge_sha: str
    stages: dict[str, float]
    deploys: dict[str, str]
    live: dict[str, str]


@dataclass
class Tour:
    """The demo's world: the workspace, the runtime, and what happened so far.

    Chapters append tool calls to ``steps``, forge issues to ``routed``, issues worked through the
    spine to ``paths``, upgrades of the mesh to ``upgrades`` and what did not go as
    expected to ``failures`` (the demo fails at the end when there is any).
    """

    root: Path
    runtime: Runtime
    console: Console
    steps: list[tuple[str, Result]] = field(default_factory=list)
    routed: list[RoutedIssue] = field(default_factory=list)
    paths: list[IssuePath] = field(default_factory=list)
    upgrades: list[UpgradePath] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.root / "workspace" / "sample"

    def harness(self, house: str, mode: Mode = Mode.INTELLIGENT, task: str | None = None) -> Harness:
        return Harness(house, mode, runtime=self.runtime, task=task)

    def call(self, harness: Harness, tool: str, expect: Status, **args: Any) -> Result:
        result = harness.execute(tool, **args)
        self.steps.append((f"{harness.house}/{harness.mode}", result))
        mark = "[green]✓[/]" if result.status is expect else "[red]✗[/]"
        detail = result.reason if result.status in (Status.DENIED, Status.PENDING_APPROVAL) else result.error
        line = f"  {mark} {harness.house:<8} {tool:<14} → [bold]{result.status}[/] ({result.duration * 1000:.1f} ms)"
        self.console.print(line)
        if detail:
            self.console.print(f"      [dim]{detail}[/]", markup=True, highlight=False)
        if result.status is not expect:
            self.failures.append(f"{harness.house} {tool}: expected {expect}, got {result.status} ({detail})")
        return result

    def check(self, ok: bool, what: str, failure: str | None = None) -> bool:
        """Print ``what`` with a mark; record ``failure`` (or ``what``) when not ``ok``."""
        self.console.print(f"  {'[green]✓[/]' if ok else '[red]✗[/]'} {escape(what)}", highlight=False)
        if not ok:
            self.failures.append(failure or what)
        return ok


def _git(repo: Path, *args: str, token: str = "") -> str:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    if token:  # through the environment only: the sample's .git/config never holds it
        env |= {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: token {token}"}  # fmt: skip
    done = subprocess.run(  # a fixed argv, no shell
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, timeout=30, env=env
    )
    return done.stdout.strip()


def build_world(root: Path, origin: str, token: str) -> None:
    """A sample repository with tests, pushed to ``origin`` (a repository on the world's forge: the git tools
    push to the configured forge only), plus a symlink that escapes the workspace."""
    repo = root / "workspace" / "sample"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "uni-wizard demo")
    _git(repo, "config", "user.email", "demo@uni-wizard.invalid")
    (repo / "README.md").write_text("# sample\n\nA repository the houses work on.\n")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
    )
    command = f"[{sys.executable!r}, -m, pytest, -q, -p, no:cacheprovider]"
    (repo / ".uni-wizard.yaml").write_text(f"test_command: {command}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    _git(repo, "remote", "add", "origin", origin)
    _git(repo, "push", "-q", "-u", "origin", "main", token=token)
    _git(repo, "remote", "set-head", "origin", "main")
    (root / "workspace" / "etc-link").symlink_to("/etc")


def summary(tour: Tour) -> Table:
    """Every tool call of the tour."""
    table = Table("house/mode", "tool", "status", "ms", "provenance", title="tool calls")
    for who, r in tour.steps:
        table.add_row(who, r.tool, str(r.status), f"{r.duration * 1000:.1f}", str(r.provenance_id or "-"))
    return table


def routing_summary(tour: Tour) -> Table | None:
    """Every issue filed on the forge and how it was routed (None when no chapter filed any)."""
    if not tour.routed:
        return None
    table = Table("issue", "kind", "priority", "house", "flags", "ms to routed", title="forge issues")
    for issue in tour.routed:
        flags = ", ".join(issue.flags) or "-"
        where = f"{issue.repository}#{issue.number}"
        table.add_row(where, issue.kind, issue.priority, issue.house or "held", flags, f"{issue.ms:.0f}")
    return table


def paths_summary(tour: Tour) -> Table | None:
    """Each issue worked through the spine: its path, stage by stage, in seconds from its filing."""
    if not tour.paths:
        return None
    table = Table("issue", "house", "path (seconds from filing)", "PR", "closed", title="the spine")
    for path in tour.paths:
        stages = " → ".join(f"{stage} {at:.2f}" for stage, at in sorted(path.stages.items(), key=lambda kv: kv[1]))
        table.add_row(
            f"{path.repository}#{path.number}", path.house or "-", stages,
            f"#{path.pr}" if path.pr else "-", "yes" if path.closed else "no",
        )  # fmt: skip
    return table


def upgrades_summary(tour: Tour) -> Table | None:
    """Each upgrade of the mesh: its steps in seconds, its shas, each host's deploy status."""
    if not tour.upgrades:
        return None
    table = Table(
        "upgrade", "state", "steps (seconds)", "head → merge", "deploy status (the change live)",
        title="the mesh upgrades itself",
    )  # fmt: skip
    for up in tour.upgrades:
        steps = " → ".join(f"{stage} {at:.2f}" for stage, at in sorted(up.stages.items(), key=lambda kv: kv[1]))
        deploys = ", ".join(f"{host} {state} (live: {up.live.get(host, '?')})" for host, state in up.deploys.items())
        shas = f"{up.head[:8]} → {up.merge_sha[:8]}"
        table.add_row(f"{up.repository}#{up.number}", up.state, steps, shas, deploys or "-")
    return table
