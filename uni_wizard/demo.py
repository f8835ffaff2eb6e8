"""``uni-wizard demo``: a guided tour on a temporary git repository, with embedded defaults.

Each house runs a few tools; one denial of each kind is shown with its
reason; a SOVEREIGN call waits for an approval, is approved by Timmy and
runs; the provenance chain is verified; a summary closes the tour.
Later capabilities add their chapters to ``CHAPTERS``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from .config import Settings
from .errors import NotAuthorized, UniWizardError
from .harness.core import Harness
from .harness.result import Result, Status
from .harness.runtime import Runtime
from .policy.model import Mode

__all__ = ["CHAPTERS", "Tour", "run_demo"]


@dataclass
class Tour:
    """The demo's world: the workspace, the runtime, and what happened so far."""

    root: Path
    runtime: Runtime
    console: Console
    steps: list[tuple[str, Result]] = field(default_factory=list)
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


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(  # a fixed argv, no shell
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
        env={"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent), "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    return done.stdout.strip()


def build_world(root: Path) -> None:
    """A sample repository with tests, pushed to a bare origin, plus a symlink that escapes the workspace."""
    origin = root / "origin.git"
    repo = root / "workspace" / "sample"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True, timeout=30)
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
    _git(repo, "remote", "add", "origin", str(origin))
    _git(repo, "push", "-q", "-u", "origin", "main")
    _git(repo, "remote", "set-head", "origin", "main")
    (root / "workspace" / "etc-link").symlink_to("/etc")


def chapter_houses_at_work(tour: Tour) -> None:
    tour.console.rule("1. Each house at work")
    repo = str(tour.repo)
    timmy = tour.harness("timmy")
    tour.call(tour.harness("timmy", Mode.SIMPLE), "system_info", Status.OK)
    tour.call(timmy, "git_status", Status.OK, repo_path=repo)
    tour.call(timmy, "git_log", Status.OK, repo_path=repo, max_count=5)
    ezra = tour.harness("ezra", task="docs-1")
    tour.call(ezra, "file_read", Status.OK, path=f"{repo}/README.md")
    tour.call(
        ezra,
        "file_write",
        Status.OK,
        path=f"{repo}/README.md",
        content="# sample\n\nA repository the houses work on. Ezra read this before rewriting it.\n",
    )
    bezalel = tour.harness("bezalel", task="issue-1")
    tour.call(bezalel, "git_checkout", Status.OK, repo_path=repo, branch="bezalel/issue-1", create=True)
    tour.call(
        bezalel,
        "file_write",
        Status.OK,
        path=f"{repo}/calc.py",
        content="def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    )
    proof = tour.call(bezalel, "run_tests", Status.OK, workspace=repo)
    if proof.ok:
        out = proof.output
        tour.console.print(f"      [dim]proof: ok={out['ok']} passed={out['passed']} failed={out['failed']}[/]")
    tour.call(bezalel, "git_commit", Status.OK, repo_path=repo, message="Add sub() (#1)", add_all=True)
    tour.call(bezalel, "git_push", Status.OK, repo_path=repo, branch="bezalel/issue-1", set_upstream=True)
    allegro = tour.harness("allegro")
    tour.call(allegro, "file_search", Status.OK, path=repo, regex=r"def \w+", glob="*.py")
    tour.call(allegro, "health_check", Status.OK, path=str(tour.root))


def chapter_denials(tour: Tour) -> None:
    tour.console.rule("2. One denial of each kind, with its reason")
    repo = str(tour.repo)
    tour.call(tour.harness("ezra"), "http_post", Status.DENIED, url="http://127.0.0.1:9/")
    tour.call(tour.harness("allegro"), "git_diff", Status.DENIED, repo_path=repo)
    tour.call(tour.harness("ezra"), "file_read", Status.DENIED, path=str(tour.root / "origin.git" / "HEAD"))
    escape = tour.root / "workspace" / "etc-link" / "hostname"
    tour.call(tour.harness("ezra"), "file_read", Status.DENIED, path=str(escape))
    tour.call(tour.harness("ezra", task="docs-2"), "file_write", Status.DENIED, path=f"{repo}/README.md", content="x")
    tour.call(tour.harness("bezalel"), "git_push", Status.DENIED, repo_path=repo, branch="main")


def chapter_sovereign(tour: Tour) -> None:
    tour.console.rule("3. SOVEREIGN mode: a change waits for Timmy")
    repo = str(tour.repo)
    (tour.repo / "CHANGELOG.md").write_text("- sub() added\n")
    bezalel = tour.harness("bezalel", Mode.SOVEREIGN, task="issue-1")
    args = {"repo_path": repo, "message": "Changelog (#1)", "add_all": True}
    pending = tour.call(bezalel, "git_commit", Status.PENDING_APPROVAL, **args)
    assert pending.approval_id is not None
    queue = tour.runtime.approvals
    try:
        queue.approve(pending.approval_id, actor="ezra")
        tour.failures.append("ezra was allowed to approve")
    except NotAuthorized as exc:
        tour.console.print(f"  [green]✓[/] ezra tries to approve → refused: [dim]{exc}[/]")
    approved = queue.approve(pending.approval_id, actor="timmy", note="changelog only")
    tour.console.print(f"  [green]✓[/] timmy approves request {approved.id} → {approved.state}")
    tour.call(bezalel, "git_commit", Status.OK, **args)


def chapter_provenance(tour: Tour) -> None:
    tour.console.rule("4. Provenance")
    log = tour.runtime.provenance
    count = log.verify()
    tour.console.print(f"  [green]✓[/] {count} records, hash chain verified (`uni-wizard provenance verify`)")


CHAPTERS: list[Callable[[Tour], None]] = [
    chapter_houses_at_work,
    chapter_denials,
    chapter_sovereign,
    chapter_provenance,
]


def summary(tour: Tour) -> Table:
    table = Table("house/mode", "tool", "status", "ms", "provenance")
    for who, r in tour.steps:
        table.add_row(who, r.tool, str(r.status), f"{r.duration * 1000:.1f}", str(r.provenance_id or "-"))
    return table


def run_demo(*, keep: bool = False, console: Console | None = None, root: Path | None = None) -> Tour:
    """Run every chapter; raise ``UniWizardError`` listing what did not go as expected."""
    console = console or Console(highlight=False)
    root = root or Path(tempfile.mkdtemp(prefix="uni-wizard-demo-"))
    started = time.perf_counter()
    build_world(root)
    settings = Settings(host="demo-host", data_dir=root / "data", workspace=root / "workspace")
    runtime = Runtime(settings, metrics_registry=CollectorRegistry())
    tour = Tour(root=root, runtime=runtime, console=console)
    console.print(f"[bold]uni-wizard demo[/] — workspace {settings.workspace}")
    try:
        for chapter in CHAPTERS:
            chapter(tour)
    finally:
        runtime.close()
    console.rule("Summary")
    console.print(summary(tour))
    elapsed = time.perf_counter() - started
    by_status: dict[str, int] = {}
    for _, r in tour.steps:
        by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
    console.print(f"{len(tour.steps)} calls in {elapsed:.1f} s: " + ", ".join(f"{v} {k}" for k, v in by_status.items()))
    if keep:
        console.print(f"kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    if tour.failures:
        raise UniWizardError("the demo did not go as expected: " + "; ".join(tour.failures))
    return tour
