"""The tour's first chapters: each house at work, denials, SOVEREIGN approval, provenance."""

from __future__ import annotations

from ..errors import NotAuthorized
from ..harness.result import Status
from ..policy.model import Mode
from .tour import Tour

__all__ = ["chapter_denials", "chapter_houses_at_work", "chapter_provenance", "chapter_sovereign"]


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
    tour.call(tour.harness("ezra"), "file_read", Status.DENIED, path=str(tour.root / "forge" / "devforge.db"))
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
