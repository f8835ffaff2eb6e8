"""The spine on loopback: issue → routed → claimed → proof → PR → approved → merged, per stage, against a baseline.

    .venv/bin/python benchmarks/spine.py [--issues 20] [--poll 0.1] [--review-concurrency N] [--breaking K]

Setup, all in this process on 127.0.0.1: a devforge (``DevforgeServer``) bootstrapped from
``configs/forge-layout.example.yaml`` (timmy, ezra, bezalel, allegro). Repository ``mesh/spine`` holds a
tiny project (``app.py``, a unittest, ``.uni-wizard.yaml`` naming the test command) and is protected as
the mesh protects ``main`` on Gitea: one approval, approvals and merges whitelisted to timmy, status
check ``uni-wizard/proof``. Three roles run concurrently in the benchmark's event loop, each with a
runtime (store, workspace) of its own and its house's token, as on three hosts:

- the dispatcher (``build_dispatch_loop`` acting as allegro, ``DispatchLoop.run``: no webhooks, an
  incremental sweep every ``--poll`` seconds);
- bezalel's ``Worker`` (``run``, polling every ``--poll`` seconds); its ``max_concurrency`` is raised to
  ``--issues`` for the run (``model_copy``; shipped: 2) so no issue waits for a slot;
- Timmy's reviewer (``build_reviewer`` with ``auto_approve: true`` and ``run_reviewer`` every ``--poll``
  seconds): proof checked, the tests re-run in a clean worktree, approval bound to the head, merge. It reviews
  ``--review-concurrency`` PRs at once (``concurrency`` of ``configs/review.yaml``; default: unset, the host's
  cores).

The dispatcher's runtime knows only the houses allegro and bezalel (bezalel raised too), so that every
issue is routed to the implementer under test rather than spread over the houses. ``--issues`` issues
are filed by timmy in a burst, each with a playbook that writes its own module ``{worktree}/mod_<i>.py``
(no two PRs conflict) and runs the tests. So the figures include queueing: 20 issues arrive at once and
the reviewer handles ``concurrency`` PRs at a time.

The milestones are stamped (``perf_counter``) by a recording httpx transport under every client and
under the reviewer's Harness tools, when the forge has answered a write: routed = allegro's last write
on the issue (audit comment, labels, then the assignee); claimed = bezalel's first label write on it
(``status/in-progress``); proof = bezalel's ``uni-wizard/proof`` status on the head; PR = bezalel's
``POST /pulls``; approved = timmy's APPROVED review; merged = timmy's merge. The worker posts the proof
before it opens the PR, so the stages are, in order: triage (created → routed), claim (→ claimed), work
(→ proof posted: worktree, playbook, tests, commit, push, tests again), PR (→ opened), review (→
approved), merge (→ merged). Stamping costs nothing and adds no polling to the load.

``--breaking K``: issue K's playbook changes what ``greet`` returns and updates its own test, so its PR passes
alone; every other issue's module comes with a test that relies on ``greet`` as it was. Merged together they
fail: the merge queue tests the approved PRs together on the base, finds the PR without which the others pass,
requests changes on K's PR and merges the others (if K's branch is cut after another PR merged, its own proof
fails instead: the run says which). The run counts the reviewer's test runs: the reviews' re-runs, and the merge
queue's (batches and culprit searches) against one by one (one run per PR landing on a base it was not tested
on).

Every run checks what the spine must not lose: one PR per issue, each merged PR merged once, at a head with a
green proof and an approval of that head given before the merge.

Baseline, from the same run: the bare git way for one issue, with no uni-wizard in it: ``git clone``,
write a file, ``git commit``, ``git push`` of a branch, ``create_pull`` through ``GiteaClient``, on an
unprotected repository with the same content (median of 3). The ratio is the spine's total over it.
Everything shares one process and the GIL with the devforge: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from uni_wizard.assembly.dispatcher import build_dispatch_loop
from uni_wizard.assembly.reviewer import build_reviewer
from uni_wizard.assembly.worker import worker_on
from uni_wizard.config import Settings, default_houses_dir
from uni_wizard.devforge import DevforgeServer
from uni_wizard.dispatch.config import TriageConfig, load_triage_config
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.bootstrap import bootstrap, load_layout
from uni_wizard.forge.models import PullRequest
from uni_wizard.harness.runtime import Runtime
from uni_wizard.policy.loader import load_houses
from uni_wizard.policy.model import HousePolicy
from uni_wizard.review import ReviewConfig
from uni_wizard.review.loop import run_reviewer
from uni_wizard.testing import RecordingTransport
from uni_wizard.testing import git_as as git
from uni_wizard.tools.env import ToolEnv

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "configs" / "forge-layout.example.yaml"
ADMIN = ("root", "root-password-1")
ORG = "mesh"
PROOF = "uni-wizard/proof"
STAGES = ("triage", "claim", "work", "PR", "review", "merge")

APP = "def greet():\n    return 'hello'\n"
TEST = (
    "import unittest\n\nfrom app import greet\n\n\n"
    "class GreetTest(unittest.TestCase):\n    def test_greet(self):\n        self.assertEqual(greet(), 'hello')\n"
)
FILES = {
    "app.py": APP,
    "tests/__init__.py": "",
    "tests/test_app.py": TEST,
    ".uni-wizard.yaml": f"test_command: [{sys.executable!r}, -m, unittest, discover, -s, tests, -t, .]\n",
    ".gitignore": "__pycache__/\n",
}


def module_test(i: int) -> str:
    return (
        f"import unittest\n\nfrom app import greet\nfrom mod_{i} import value\n\n\n"
        f"class Module{i}Test(unittest.TestCase):\n    def test_value(self):\n"
        f"        self.assertEqual((value(), greet()), ({i}, 'hello'))\n"
    )


def playbook(i: int, breaking: bool = False) -> str:
    if breaking:
        return breaking_playbook(i)
    return f"""Add module {i}.

```uni-wizard
title: Add module {i}
steps:
  - name: write the module
    tool: file_write
    args:
      path: "{{worktree}}/mod_{i}.py"
      content: |
        def value():
            return {i}
  - name: write its test
    tool: file_write
    args:
      path: "{{worktree}}/tests/test_mod_{i}.py"
      content: |
{_indent(module_test(i), 8)}
  - tool: run_tests
    args: {{workspace: "{{worktree}}"}}
    expect:
      - output.failed: 0
```
"""


def breaking_playbook(i: int) -> str:
    """Issue ``i`` changes what ``greet`` says, and its own test with it: green alone, red with the others."""
    test = TEST.replace("'hello'", "'hi'")
    return f"""Say hi instead of hello.

```uni-wizard
title: Say hi (issue {i})
steps:
  - name: change greet
    tool: file_write
    args:
      path: "{{worktree}}/app.py"
      content: |
{_indent(APP.replace("'hello'", "'hi'"), 8)}
  - name: change its test
    tool: file_write
    args:
      path: "{{worktree}}/tests/test_app.py"
      content: |
{_indent(test, 8)}
  - tool: run_tests
    args: {{workspace: "{{worktree}}"}}
    expect:
      - output.failed: 0
```
"""


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line if line else "" for line in text.splitlines())


@dataclass
class Stamp:
    at: float
    who: str
    method: str
    path: str
    body: str


class Stamps:
    """Every write the forge accepted, stamped, from the ``RecordingTransport`` of each house (one per client and
    per tool environment; closing a client leaves its transport usable, as tools open and close a client per
    call on the same transport: ``shutdown`` closes them for good)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, RecordingTransport]] = []

    def transport(self, who: str) -> RecordingTransport:
        line = RecordingTransport(close_inner=False)
        self.lines.append((who, line))
        return line

    def __call__(self) -> list[Stamp]:
        return [
            Stamp(e.at, who, e.method, e.path, e.request_body.decode(errors="replace"))
            for who, line in self.lines
            for e in list(line.exchanges)
            if e.is_write and e.status is not None and e.status < 400 and not e.error
        ]

    async def shutdown(self) -> None:
        for _, line in self.lines:
            await line.inner.aclose()


@dataclass
class Results:
    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in (*STAGES, "total")})
    baseline: list[float] = field(default_factory=list)
    wall: float = 0.0
    test_time: list[float] = field(default_factory=list)  # per issue: the worker's and the review's test runs
    review_runs: int = 0  # the reviews' re-runs of the tests
    queue_runs: int = 0  # the merge queue's test runs (batches and bisection)
    landed_on_moved_base: int = 0  # PRs merged onto a base they were not tested on (one by one: a run each)
    culprit: str = ""  # --breaking: how the breaking PR was caught


async def make_repo(root: GiteaClient, timmy: GiteaClient, name: str, config: TriageConfig, houses: list[str]) -> None:
    await root.create_repo(name, org=ORG, auto_init=True)
    for user, permission in (("timmy", "admin"), ("allegro", "write"), ("ezra", "write"), ("bezalel", "write")):
        await root.add_collaborator(ORG, name, user, permission)
    for path, content in FILES.items():
        await timmy.create_file(ORG, name, path, content.encode(), f"add {path}")
    for spec in config.labels(tuple(houses)):
        await timmy.ensure_label(
            ORG, name, spec.name, spec.color, description=spec.description, exclusive=spec.exclusive
        )


async def baseline(url: str, port: int, token: str, bezalel: GiteaClient, work: Path, rounds: int = 3) -> list[float]:
    times = []
    for i in range(rounds):
        clone = work / f"bare-{i}"
        start = time.perf_counter()
        git("clone", "-q", f"http://bezalel:{token}@127.0.0.1:{port}/{ORG}/plain.git", str(clone), cwd=work)
        (clone / f"mod_{i}.py").write_text(f"def value():\n    return {i}\n")
        git("checkout", "-q", "-b", f"bare-{i}", cwd=clone)
        git("add", "-A", cwd=clone)
        git("commit", "-q", "-m", f"Add module {i}", cwd=clone)
        git("push", "-q", "origin", f"HEAD:refs/heads/bare-{i}", cwd=clone)
        await bezalel.create_pull(ORG, "plain", head=f"bare-{i}", base="main", title=f"Add module {i}", body="bare")
        times.append(time.perf_counter() - start)
    return times


async def measure(args: argparse.Namespace) -> Results:
    results = Results()
    recorded = Stamps()
    with tempfile.TemporaryDirectory(prefix="spine-") as tmp:
        root_dir = Path(tmp)
        server = DevforgeServer(root_dir / "forge", ADMIN).start()
        clients: list[GiteaClient] = []

        def client(user: str) -> GiteaClient:
            token = (root_dir / "secrets" / f"{user}.token").read_text().strip()
            made = GiteaClient(server.url, token, registry=CollectorRegistry(), transport=recorded.transport(user))
            clients.append(made)
            return made

        runtimes: list[Runtime] = []
        try:
            await bootstrap(load_layout(LAYOUT), url=server.url, admin=ADMIN, secrets_dir=root_dir / "secrets")
            token = {u: (root_dir / "secrets" / f"{u}.token").read_text().strip() for u in ("timmy", "bezalel")}
            shipped = load_houses(default_houses_dir())
            raised: dict[str, HousePolicy] = dict(shipped)
            raised["bezalel"] = shipped["bezalel"].model_copy(update={"max_concurrency": max(args.issues, 2)})
            config = load_triage_config()
            config = config.model_copy(
                update={
                    "dispatcher": config.dispatcher.model_copy(
                        update={"repos": (f"{ORG}/spine",), "poll_seconds": args.poll}
                    )
                }
            )
            timmy, bezalel, allegro = client("timmy"), client("bezalel"), client("allegro")
            async with GiteaClient(server.url, username=ADMIN[0], password=ADMIN[1]) as root:
                for name in ("spine", "plain"):
                    await make_repo(root, timmy, name, config, list(shipped))
                await root.create_branch_protection(
                    ORG, "spine", "main", required_approvals=1, enable_approvals_whitelist=True,
                    approvals_whitelist_username=["timmy"], enable_merge_whitelist=True,
                    merge_whitelist_usernames=["timmy"], enable_status_check=True, status_check_contexts=[PROOF],
                    block_on_rejected_reviews=True,
                )  # fmt: skip
            results.baseline = await baseline(server.url, server.port, token["bezalel"], bezalel, root_dir)

            def runtime(role: str, user: str | None, houses: dict[str, HousePolicy], **extra: str) -> Runtime:
                (root_dir / role / "workspace").mkdir(parents=True)
                tok = token.get(user or "")
                settings = Settings(
                    host=f"{role}-host", data_dir=root_dir / role / "data", workspace=root_dir / role / "workspace",
                    gitea_url=server.url, gitea_token=tok, **extra,
                )  # fmt: skip
                env = ToolEnv(gitea_url=server.url, gitea_token=tok, http_transport=recorded.transport(user or role))
                made = Runtime(settings, env=env, houses=houses, metrics_registry=CollectorRegistry())
                runtimes.append(made)
                return made

            dispatch_rt = runtime("dispatcher", "allegro", {h: raised[h] for h in ("allegro", "bezalel")})
            loop = build_dispatch_loop(dispatch_rt.settings, dispatch_rt, forge=allegro, config=config)
            worker_rt = runtime("worker", "bezalel", raised)
            worker = worker_on(
                worker_rt, bezalel, house="bezalel", repos=config.dispatcher.repos,
                claim_ttl=config.dispatcher.claim_ttl_minutes * 60, host="worker-host", token=token["bezalel"],
                poll_seconds=args.poll,
            )  # fmt: skip
            review_rt = runtime("reviewer", "timmy", raised, house="timmy")
            reviewer = build_reviewer(review_rt.settings, review_rt, forge=client("timmy"))
            reviewer.repos = config.dispatcher.repos
            reviewer.config = ReviewConfig.model_validate(
                {"auto_approve": True, "owner_login": "timmy", "concurrency": args.review_concurrency}
            )

            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(loop.run(stop)),
                asyncio.create_task(worker.run(stop)),
                asyncio.create_task(run_reviewer(reviewer, stop, args.poll)),
            ]
            created: dict[int, float] = {}
            start = time.perf_counter()
            culprit = None
            for i in range(args.issues):
                t0 = time.perf_counter()
                breaking = i == args.breaking
                issue = await timmy.create_issue(ORG, "spine", f"Implement module {i}", playbook(i, breaking))
                created[issue.number] = t0
                culprit = issue.number if breaking else culprit
            expected = args.issues - (culprit is not None)
            deadline = time.monotonic() + args.timeout
            while not _finished(recorded(), expected, culprit):
                if time.monotonic() > deadline or any(t.done() for t in tasks):
                    stop.set()
                    raise RuntimeError(f"the spine did not merge {expected} PRs in {args.timeout} s")
                await asyncio.sleep(0.05)
            results.wall = time.perf_counter() - start
            stop.set()
            await asyncio.gather(*tasks)

            pulls = await timmy.list_pulls(ORG, "spine", state="all")
            issue_of_pr = {
                p.number: int(p.head_ref.rsplit("-", 1)[1]) for p in pulls if p.head_ref.startswith("bezalel/issue-")
            }
            issue_of_sha = {p.head_sha: issue_of_pr[p.number] for p in pulls if p.number in issue_of_pr}
            stamps = recorded()
            await verify(timmy, pulls, issue_of_pr, created, culprit, stamps)
            results.culprit = await caught(timmy, pulls, issue_of_pr, culprit)
            count_runs(results, review_rt, worker_rt, root_dir, server, token["timmy"], pulls)
            base = f"/api/v1/repos/{ORG}/spine"
            for n, t0 in created.items():
                if n == culprit:
                    continue
                on = [s for s in stamps if re.fullmatch(rf"{base}/issues/{n}(/.*)?", s.path)]
                claimed = min(s.at for s in on if s.who == "bezalel" and s.path.endswith("/labels"))
                routed = max(s.at for s in on if s.who == "allegro" and s.at <= claimed)
                proof = max(
                    s.at for s in stamps
                    if s.who == "bezalel" and s.path.startswith(f"{base}/statuses/")
                    and issue_of_sha.get(s.path.rsplit("/", 1)[1]) == n
                )  # fmt: skip
                pr = min(
                    s.at for s in stamps
                    if s.who == "bezalel" and s.method == "POST" and s.path == f"{base}/pulls"
                    and json.loads(s.body).get("head") == f"bezalel/issue-{n}"
                )  # fmt: skip
                numbers = [k for k, v in issue_of_pr.items() if v == n]
                approved = min(
                    s.at for s in stamps
                    if s.who == "timmy" and any(s.path == f"{base}/pulls/{k}/reviews" for k in numbers)
                    and "APPROVE" in s.body
                )  # fmt: skip
                merged = min(
                    s.at for s in stamps if s.who == "timmy" and s.path in {f"{base}/pulls/{k}/merge" for k in numbers}
                )
                points = [t0, routed, claimed, proof, pr, approved, merged]
                for stage, (a, b) in zip(STAGES, itertools.pairwise(points), strict=True):
                    results.stages[stage].append(b - a)
                results.stages["total"].append(merged - t0)
                results.test_time.append(own_test_seconds(worker_rt, review_rt, n, numbers))
        finally:
            for made in clients:
                await made.aclose()
            await recorded.shutdown()
            for rt in runtimes:
                rt.close()
            server.stop()
    return results


MERGE_PATH = re.compile(rf"/api/v1/repos/{ORG}/spine/pulls/(\d+)/merge")


def _finished(stamps: list[Stamp], expected: int, culprit: int | None) -> bool:
    """``expected`` merges made, and (``--breaking``) the breaking PR caught: changes requested on it by the
    reviewer, or a failed proof posted by the worker."""
    if sum(1 for s in stamps if s.who == "timmy" and MERGE_PATH.fullmatch(s.path)) < expected:
        return False
    if culprit is None:
        return True
    rejected = any(s.who == "timmy" and s.path.endswith("/reviews") and "REQUEST_CHANGES" in s.body for s in stamps)
    failed = any(s.who == "bezalel" and "/statuses/" in s.path and '"failure"' in s.body for s in stamps)
    return rejected or failed


async def verify(
    timmy: GiteaClient,
    pulls: list[PullRequest],
    issue_of_pr: dict[int, int],
    created: dict[int, float],
    culprit: int | None,
    stamps: list[Stamp],
) -> None:
    """What the spine must not lose, checked on the forge: one PR per issue; each merged once, at a head with a
    green proof and an approval of that head given before the merge; the breaking PR not merged."""
    by_issue: dict[int, list[int]] = {}
    for number, issue in issue_of_pr.items():
        by_issue.setdefault(issue, []).append(number)
    assert sorted(by_issue) == sorted(created), "an issue has no PR"
    assert all(len(found) == 1 for found in by_issue.values()), f"an issue has several PRs: {by_issue}"
    merges: dict[int, int] = {}
    for s in stamps:
        if s.who == "timmy" and (m := MERGE_PATH.fullmatch(s.path)):
            merges[int(m.group(1))] = merges.get(int(m.group(1)), 0) + 1
    assert all(count == 1 for count in merges.values()), f"a PR was merged twice: {merges}"
    for pr in pulls:
        if pr.number not in issue_of_pr:
            continue
        if issue_of_pr[pr.number] == culprit:
            assert not pr.merged, "the breaking PR was merged"
            continue
        assert pr.merged, f"PR {pr.number} is not merged"
        status = await timmy.combined_status(ORG, "spine", pr.head_sha)
        assert any(s.context == PROOF and s.status == "success" for s in status.statuses), f"no proof on {pr.number}"
        reviews = await timmy.list_reviews(ORG, "spine", pr.number)
        assert any(r.state == "APPROVED" and r.commit_id == pr.head_sha for r in reviews), f"{pr.number} unapproved"


async def caught(timmy: GiteaClient, pulls: list[PullRequest], issue_of_pr: dict[int, int], culprit: int | None) -> str:
    """How the breaking PR was caught (``--breaking``)."""
    if culprit is None:
        return ""
    (pr,) = [p for p in pulls if issue_of_pr.get(p.number) == culprit]
    reviews = await timmy.list_reviews(ORG, "spine", pr.number)
    if any(r.state == "REQUEST_CHANGES" and "merge queue" in r.body for r in reviews):
        return f"PR #{pr.number} (issue #{culprit}): changes requested by the merge queue, the others merged without it"
    return f"PR #{pr.number} (issue #{culprit}): its own proof failed (its branch was cut after another merge)"


def count_runs(
    results: Results, review_rt: Runtime, worker_rt: Runtime, root: Path, server: DevforgeServer, token: str,
    pulls: list[PullRequest],
) -> None:  # fmt: skip
    """The reviewer's test runs (reviews, merge queue), and how many merged PRs landed on a base they were not
    tested on (read from each merge commit: its first parent is not in the head's history)."""
    runs = [r for r in review_rt.provenance.tail(100_000) if r.tool == "run_tests"]
    results.review_runs = sum(1 for r in runs if (r.task or "").startswith("review:"))
    results.queue_runs = sum(1 for r in runs if (r.task or "").startswith("merge-queue:"))
    clone = root / "landed"
    git("clone", "-q", f"http://timmy:{token}@127.0.0.1:{server.port}/{ORG}/spine.git", str(clone), cwd=root)
    for pr in pulls:
        if pr.merged and pr.merge_commit_sha:
            first, head = f"{pr.merge_commit_sha}^1", f"{pr.merge_commit_sha}^2"
            done = subprocess.run(["git", "merge-base", "--is-ancestor", first, head], cwd=clone, check=False)
            results.landed_on_moved_base += done.returncode != 0


def own_test_seconds(worker_rt: Runtime, review_rt: Runtime, issue: int, pulls: list[int]) -> float:
    """The seconds the tests of ``issue`` took: the worker's runs on its task, the review's re-runs of its PR."""
    tasks = {f"{ORG}/spine#{issue}"}
    mine = [r for r in worker_rt.provenance.tail(100_000) if r.tool == "run_tests" and r.task in tasks]
    prefixes = tuple(f"review:{ORG}/spine#{n}@" for n in pulls)
    reviewed = [
        r for r in review_rt.provenance.tail(100_000) if r.tool == "run_tests" and (r.task or "").startswith(prefixes)
    ]
    return sum(r.duration for r in [*mine, *reviewed])


def command(args: argparse.Namespace) -> str:
    limit = "" if args.review_concurrency is None else f" --review-concurrency {args.review_concurrency}"
    breaking = "" if getattr(args, "breaking", None) is None else f" --breaking {args.breaking}"
    return f".venv/bin/python benchmarks/spine.py --issues {args.issues} --poll {args.poll:g}{limit}{breaking}"


def report(results: Results, args: argparse.Namespace) -> str:
    base = statistics.median(results.baseline)
    lines = [
        f"command: `{command(args)}`",
        "",
        f"{args.issues} implementation issues filed in a burst; dispatcher, bezalel's worker and Timmy's reviewer "
        f"(auto_approve) polling every {args.poll:g} s; "
        + (
            f"all {args.issues} merged in {results.wall:.1f} s"
            if args.breaking is None
            else f"{args.issues - 1} merged and the breaking one caught in {results.wall:.1f} s: {results.culprit}"
        ),
        "",
        "| stage | p50 s | max s |",
        "|---|---:|---:|",
    ]
    labels = {
        "triage": "triage (created → routed)",
        "claim": "claim (routed → in-progress)",
        "work": "work (→ proof posted: playbook, tests, commit, push)",
        "PR": "PR (proof → PR opened)",
        "review": "review (PR → approved; tests re-run)",
        "merge": "merge (approved → merged)",
        "total": "total (created → merged)",
    }
    for stage, label in labels.items():
        values = results.stages[stage]
        lines.append(f"| {label} | {statistics.median(values):.2f} | {max(values):.2f} |")
    total = statistics.median(results.stages["total"])
    tests = statistics.median(results.test_time)
    own = statistics.median(t - s for t, s in zip(results.stages["total"], results.test_time, strict=True))
    merged = len(results.stages["total"])
    lines += [
        f"| its own tests (the worker's runs and the review's re-run, summed) | {tests:.2f} | "
        f"{max(results.test_time):.2f} |",
        f"| total without its own tests | {own:.2f} | |",
        f"| baseline: bare git clone + commit + push + create PR, one issue (median of {len(results.baseline)}) "
        f"| {base:.2f} | {max(results.baseline):.2f} |",
        "",
        f"overhead: the spine's total is {total / base:.1f}x the bare baseline at p50 "
        f"({max(results.stages['total']) / base:.1f}x at max).",
        "",
        f"test runs by the reviewer: {results.review_runs} re-runs in reviews, {results.queue_runs} by the merge queue "
        f"(batches and culprit searches) for {merged} PRs merged, {results.landed_on_moved_base} of them onto a base "
        f"they were not tested on (one by one: {results.landed_on_moved_base} runs, one each).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--issues", type=int, default=20, help="implementation issues to push through the spine")
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between the roles' polls")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before the run is given up")
    parser.add_argument(
        "--review-concurrency",
        type=int,
        default=None,
        help="PRs the reviewer reviews at once (review.yaml concurrency; default: the host's cores)",
    )
    parser.add_argument(
        "--breaking",
        type=int,
        default=None,
        metavar="K",
        help="issue K (0-based) changes greet and its own test: green alone, red merged with the others",
    )
    args = parser.parse_args(argv)
    if args.breaking is not None and not 0 <= args.breaking < args.issues:
        parser.error("--breaking must name one of the issues (0 to --issues - 1)")
    if args.issues < 1 or args.poll <= 0 or (args.review_concurrency is not None and args.review_concurrency < 1):
        parser.error("--issues and --review-concurrency must be at least 1 and --poll positive")
    text = report(asyncio.run(measure(args)), args)
    print(text)
    return text


if __name__ == "__main__":
    main()
