"""Chapter 6, the spine: Bezalel's PR, Timmy's review, the merge; and Ezra's report.

A devforge of the chapter's own (chapter 5's is gone with its world), with the mesh's users and
organisation bootstrapped (``mesh_layout`` without its repositories). Timmy creates ``mesh/spine``,
seeds it with a tiny project (``calc.py``, a unittest, ``.uni-wizard.yaml`` naming the test command)
through the contents API, then protects ``main`` as the mesh does: one approval, approvals and merges
whitelisted to timmy, status check ``uni-wizard/proof``.

Timmy files two issues, each with a playbook: an implementation (a bug in ``add``) and an analysis (how
well ``add`` is tested). The loops are driven turn by turn, as ``tests/integration/test_spine.py`` does:
Allegro's dispatcher (``run_once``, watching only ``mesh/spine``), Bezalel's and Ezra's workers
(``poll_once``), Timmy's reviewer (``review_once``, ``merge_once``, ``auto_approve`` on), at most
``TURNS`` turns. After each turn the forge is read and each stage is stamped when first seen: routed,
claimed, proof (``uni-wizard/proof`` success on the PR's head), PR, approved, merged; for the analysis,
routed, claimed, report. The chapter checks the end state and prints each issue's path with its times.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from rich.table import Table

from ..assembly.dispatcher import build_dispatch_loop
from ..assembly.reviewer import reviewer_on
from ..assembly.worker import worker_on
from ..config import Settings
from ..devforge import DevforgeServer
from ..dispatch.config import load_triage_config
from ..forge import GiteaClient
from ..forge.bootstrap import bootstrap
from ..harness.runtime import Runtime
from ..review import ReviewConfig
from ..tools.env import ToolEnv
from ..work.report import report_marker
from .mesh_world import mesh_layout
from .tour import IssuePath, Tour

__all__ = ["FILES", "FIXED", "STUDY_BODY", "chapter_spine", "fix_body"]

ADMIN = ("demo-admin", "demo-admin-password")
OWNER, NAME = "mesh", "spine"
REPO = f"{OWNER}/{NAME}"
PROOF = "uni-wizard/proof"
HOST = "demo-host"
TURNS = 40

FILES = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/__init__.py": "",
    "tests/test_calc.py": (
        "import unittest\n\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n        self.assertEqual(add(2), 2)\n"
    ),
    ".uni-wizard.yaml": f"test_command: [{sys.executable!r}, -m, unittest, discover, -s, tests, -t, .]\n",
    ".gitignore": "__pycache__/\n",
}
FIXED = "def add(a, b=0):\n    return a + b\n"


def _playbook(text: str) -> str:
    return f"\n\n```uni-wizard\n{text.strip()}\n```\n"


FIX_TITLE = "add crashes without a second number"


def fix_body(content: str) -> str:
    """The implementation issue: a playbook that writes ``content`` as calc.py (the proof then runs the suite)."""
    return "Bug: `add` crashes with a traceback when given no second number; it should default to 0." + _playbook(
        f"""
title: Default the second number of add
steps:
  - name: fix add
    tool: file_write
    args:
      path: "{{worktree}}/calc.py"
      content: {json.dumps(content)}
    expect:
      - status: ok
"""
    )


FIX_BODY = fix_body(FIXED)
STUDY_TITLE = "Research: how well is calc tested?"
STUDY_BODY = "Research: analyse how the calc module is tested and write up whether the suite covers add." + _playbook(
    """
steps:
  - name: read the module
    tool: file_read
    args: {path: "{worktree}/calc.py"}
    expect:
      - {path: output.content, op: contains, value: def add}
  - name: find the tests of add
    tool: file_search
    args: {path: "{worktree}", regex: "add\\\\("}
    expect:
      - status: ok
"""
)
FIX_STAGES = ("routed", "claimed", "proof", "PR", "approved", "merged")
STUDY_STAGES = ("routed", "claimed", "report")


@dataclass
class _Path:
    """One issue's way through the spine: when each stage was first seen, in seconds from its filing."""

    title: str
    stages: tuple[str, ...]
    number: int = 0
    filed: float = 0.0
    seen: dict[str, float] = field(default_factory=dict)
    house: str | None = None
    pr: int | None = None

    def stamp(self, stage: str, now: float) -> None:
        self.seen.setdefault(stage, now - self.filed)

    @property
    def done(self) -> bool:
        return all(s in self.seen for s in self.stages)


@dataclass(frozen=True)
class _Stamp:
    at: float
    who: str
    method: str
    path: str
    body: str


class _Recorder(httpx.AsyncBaseTransport):
    """A real transport that stamps every write the forge accepted (the stages' times); closing it leaves
    it usable (the tools open and close a client per call on it): ``shutdown`` closes it for good."""

    def __init__(self, who: str, stamps: list[_Stamp]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.who, self.stamps = who, stamps

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method not in ("GET", "HEAD") and response.status_code < 400:
            body = request.content.decode(errors="replace") if request.content else ""
            self.stamps.append(_Stamp(time.perf_counter(), self.who, request.method, request.url.path, body))
        return response

    async def aclose(self) -> None:
        return None

    async def shutdown(self) -> None:
        await self.inner.aclose()


def chapter_spine(tour: Tour) -> None:
    tour.console.rule("6. The spine: Bezalel's PR, Timmy's review, the merge")
    asyncio.run(_spine(tour))


async def _spine(tour: Tour) -> None:
    root = tour.root / "spine"
    secrets_dir = root / "secrets"
    async with AsyncExitStack() as stack:
        forge = await asyncio.to_thread(DevforgeServer(root / "devforge", ADMIN).start)
        stack.callback(forge.stop)
        layout = mesh_layout("http://127.0.0.1:9/unused").model_copy(update={"repos": ()})
        await bootstrap(layout, url=forge.url, admin=ADMIN, secrets_dir=secrets_dir)

        def token(user: str) -> str:
            return (secrets_dir / f"{user}.token").read_text(encoding="utf-8").strip()

        stamps: list[_Stamp] = []
        clients: dict[str, GiteaClient] = {}
        for user in ("timmy", "allegro", "ezra", "bezalel"):
            recorder = _Recorder(user, stamps)
            stack.push_async_callback(recorder.shutdown)
            clients[user] = GiteaClient(forge.url, token(user), registry=CollectorRegistry(), transport=recorder)
            stack.push_async_callback(clients[user].aclose)
        tools = _Recorder("tools", stamps)  # the reviewer's approve and merge tools, as timmy
        stack.push_async_callback(tools.shutdown)
        timmy = clients["timmy"]
        await _make_repo(forge.url)
        tour.check(
            True,
            f"devforge at {forge.url}: {REPO} seeded with calc.py and its unittest, then protected "
            f"(1 approval by timmy, status check {PROOF})",
        )

        runtime = _runtime(root, forge.url, token("timmy"), tools)
        stack.callback(runtime.close)
        turn = _roles(tour, runtime, clients, token)
        fix, study = _Path(FIX_TITLE, FIX_STAGES), _Path(STUDY_TITLE, STUDY_STAGES)
        started = time.perf_counter()
        for path, body in ((fix, FIX_BODY), (study, STUDY_BODY)):
            path.filed = time.perf_counter()
            path.number = (await timmy.create_issue(OWNER, NAME, path.title, body)).number
        tour.console.print(f"  timmy filed #{fix.number} {FIX_TITLE!r} and #{study.number} {STUDY_TITLE!r}")
        turns = 0
        while turns < TURNS and not (fix.done and study.done):
            turns += 1
            await turn()
            await _observe(timmy, fix, study)
        took = time.perf_counter() - started
        tour.console.print(f"  {turns} turn{'s' if turns != 1 else ''} (dispatcher, workers, reviewer) in {took:.1f} s")
        _refine(stamps, fix, study)
        await _check(tour, timmy, fix, study)
        tour.console.print(_table(fix, study))


def _runtime(root: Path, url: str, timmy_token: str, tools: _Recorder) -> Runtime:
    """The chapter's runtime: its own store and workspace; the approve and merge tools act as timmy through
    ``tools`` (which stamps their requests)."""
    (root / "workspace").mkdir(parents=True, exist_ok=True)
    settings = Settings(
        host=HOST, data_dir=root / "data", workspace=root / "workspace", gitea_url=url, gitea_token=timmy_token
    )
    env = ToolEnv(gitea_url=url, gitea_token=timmy_token, http_transport=tools)
    return Runtime(settings, env=env, metrics_registry=CollectorRegistry())


def _roles(
    tour: Tour, runtime: Runtime, clients: dict[str, GiteaClient], token: Callable[[str], str]
) -> Callable[[], Awaitable[None]]:
    """Allegro's dispatcher (watching only ``mesh/spine``), Bezalel's and Ezra's workers, Timmy's reviewer
    (``auto_approve`` on), each on its house's client; one turn of all of them, in that order."""
    config = load_triage_config(tour.runtime.settings.triage_config)
    config = config.model_copy(update={"dispatcher": config.dispatcher.model_copy(update={"repos": (REPO,)})})
    dispatcher = build_dispatch_loop(runtime.settings, runtime, forge=clients["allegro"], config=config)
    workers = [
        worker_on(runtime, clients[h], house=h, repos=[REPO], claim_ttl=60, host=HOST, token=token(h))
        for h in ("bezalel", "ezra")
    ]
    reviewer = reviewer_on(runtime, clients["timmy"], config=ReviewConfig(auto_approve=True), repos=[REPO], host=HOST)

    async def turn() -> None:
        await dispatcher.run_once()
        for worker in workers:
            await worker.poll_once()
        await reviewer.review_once()
        await reviewer.merge_once()

    return turn


async def _make_repo(url: str) -> None:
    """``mesh/spine``: created, the houses made collaborators, seeded, then ``main`` protected."""
    async with GiteaClient(url, username=ADMIN[0], password=ADMIN[1], registry=CollectorRegistry()) as admin:
        await admin.create_repo(NAME, org=OWNER, auto_init=True)
        await admin.add_collaborator(OWNER, NAME, "timmy", "admin")
        for user in ("allegro", "ezra", "bezalel"):
            await admin.add_collaborator(OWNER, NAME, user, "write")
        for path, content in FILES.items():
            await admin.create_file(OWNER, NAME, path, content.encode(), f"add {path}")
        await admin.create_branch_protection(
            OWNER, NAME, "main", required_approvals=1, enable_approvals_whitelist=True,
            approvals_whitelist_username=["timmy"], enable_merge_whitelist=True,
            merge_whitelist_usernames=["timmy"], enable_status_check=True, status_check_contexts=[PROOF],
            block_on_rejected_reviews=True, dismiss_stale_approvals=True,
        )  # fmt: skip


async def _observe(timmy: GiteaClient, fix: _Path, study: _Path) -> None:
    """Stamp every stage now visible on the forge."""
    now = time.perf_counter()
    for path in (fix, study):
        issue = await timmy.get_issue(OWNER, NAME, path.number)
        labels = set(issue.label_names)
        if issue.assignees:
            path.house = issue.assignees[0].login
        if labels & {"status/routed", "status/in-progress", "status/review", "status/done"}:
            path.stamp("routed", now)
        if labels & {"status/in-progress", "status/review", "status/done"}:
            path.stamp("claimed", now)
    pulls = await timmy.list_pulls(OWNER, NAME, state="all")
    pr = next((p for p in pulls if (p.body or "").startswith(f"Closes #{fix.number}\n")), None)
    if pr is not None:
        fix.pr = pr.number
        fix.stamp("PR", now)
        statuses = await timmy.list_statuses(OWNER, NAME, pr.head_sha)
        if any(s.context == PROOF and s.status == "success" for s in statuses):
            fix.stamp("proof", now)
        reviews = await timmy.list_reviews(OWNER, NAME, pr.number)
        if any(r.state == "APPROVED" and r.user is not None and r.user.login == "timmy" for r in reviews):
            fix.stamp("approved", now)
        if pr.merged:
            fix.stamp("merged", now)
    if "report" not in study.seen:
        comments = await timmy.list_comments(OWNER, NAME, study.number)
        if any(report_marker("ezra", study.number) in c.body for c in comments):
            study.stamp("report", now)


def _refine(stamps: list[_Stamp], fix: _Path, study: _Path) -> None:
    """Each stage's time from the forge's accepted writes, where one is found (otherwise the turn's end,
    when ``_observe`` first saw it): routed = allegro's last write on the issue before its claim; claimed =
    the house's first label write on it; proof = the ``uni-wizard/proof`` success status; PR = the
    ``POST /pulls``; approved = the APPROVE review; merged = the merge; report = Ezra's report comment."""
    base = f"/api/v1/repos/{OWNER}/{NAME}"

    def first(found: list[float]) -> float | None:
        return min(found) if found else None

    for path in (fix, study):
        on = [x for x in stamps if re.fullmatch(rf"{base}/issues/{path.number}(/.*)?", x.path)]
        times: dict[str, float | None] = {}
        claimed = first([x.at for x in on if x.who == path.house and x.path.endswith("/labels")])
        times["claimed"] = claimed
        if claimed is not None:
            times["routed"] = max((x.at for x in on if x.who == "allegro" and x.at <= claimed), default=None)
        if path is study:
            marker = report_marker("ezra", study.number)
            times["report"] = first([x.at for x in on if x.who == "ezra" and marker in x.body])
        elif fix.pr is not None:
            times["proof"] = first(
                [
                    x.at
                    for x in stamps
                    if x.path.startswith(f"{base}/statuses/") and PROOF in x.body and "success" in x.body
                ]
            )
            times["PR"] = first([x.at for x in stamps if x.method == "POST" and x.path == f"{base}/pulls"])
            reviews = f"{base}/pulls/{fix.pr}/reviews"
            times["approved"] = first([x.at for x in stamps if x.path == reviews and "APPROVE" in x.body])
            times["merged"] = first([x.at for x in stamps if x.path == f"{base}/pulls/{fix.pr}/merge"])
        for stage, at in times.items():
            if at is not None and stage in path.seen:
                path.seen[stage] = at - path.filed


async def _check(tour: Tour, timmy: GiteaClient, fix: _Path, study: _Path) -> None:
    """The end state, as the forge has it."""
    issue = await timmy.get_issue(OWNER, NAME, fix.number)
    pulls = await timmy.list_pulls(OWNER, NAME, state="all")
    pr = next((p for p in pulls if p.number == fix.pr), None)
    merged = pr is not None and pr.merged and pr.user is not None and pr.user.login == "bezalel"
    tour.check(
        fix.house == "bezalel" and fix.done and merged,
        f"#{fix.number} → bezalel: PR #{fix.pr} with {PROOF} success on its head, approved by timmy, merged",
        f"#{fix.number}: expected bezalel's PR proven, approved and merged; stages seen {sorted(fix.seen)}, "
        f"house {fix.house}, PR {fix.pr}",
    )
    tour.check(
        issue.state == "closed" and "status/done" in issue.label_names,
        f"#{fix.number} closed, status/done",
        f"#{fix.number}: expected closed with status/done, got {issue.state} {sorted(issue.label_names)}",
    )
    for path, state in ((fix, issue.state), (study, (await timmy.get_issue(OWNER, NAME, study.number)).state)):
        closed = state == "closed"
        tour.paths.append(IssuePath(REPO, path.number, path.title, path.house, dict(path.seen), path.pr, closed))
    study_pr = any((p.body or "").startswith(f"Closes #{study.number}\n") for p in pulls)
    study_issue = await timmy.get_issue(OWNER, NAME, study.number)
    comments = await timmy.list_comments(OWNER, NAME, study.number)
    reports = [c for c in comments if report_marker("ezra", study.number) in c.body]
    tour.check(
        study.house == "ezra" and len(reports) == 1 and "status/done" in study_issue.label_names and not study_pr,
        f"#{study.number} → ezra: a report comment, status/done, no PR",
        f"#{study.number}: expected ezra's report and status/done; got house {study.house}, {len(reports)} "
        f"reports, labels {sorted(study_issue.label_names)}, a PR: {study_pr}",
    )


def _table(fix: _Path, study: _Path) -> Table:
    """Each issue's path: the time of each stage, in seconds from the issue's filing."""
    table = Table("issue", "house", *FIX_STAGES[:-1], "merged / report", title=f"{REPO}: seconds from filing")
    for path in (fix, study):
        cells = [f"{path.seen[s]:.2f}" if s in path.seen else "—" for s in path.stages]
        if path is study:
            cells = [*cells[:2], "-", "-", "-", cells[2]]
        what = "fix" if path is fix else "analysis"
        table.add_row(f"#{path.number} {what}", path.house or "-", *cells)
    return table
