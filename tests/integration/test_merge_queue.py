"""The merge queue: approved PRs with green proof are tested together on top of their branch's base, merged one
by one under their own approvals when the batch passes, bisected to the culprit when it fails; ``/hold`` takes a
PR out even mid-batch; a PR whose head contains the base is not re-tested; a conflicting one is left out.

The world of test_review.py (a real devforge over loopback, real git, the sandboxed re-run through Timmy's
Harness). Test runs are counted from the provenance (one ``run_tests`` record each), never timed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from test_review import CALC, ORG, World, approvals, mesh, world  # noqa: F401 - test_review's world
from worlds import HOST

from uni_wizard.harness import Harness
from uni_wizard.observe.events import EventLog
from uni_wizard.review import Reviewer
from uni_wizard.review.queue_view import read_queue
from uni_wizard.review.render import QUEUE_FAILED, marker

# check.py of a project with plugins: the calculator's test, and every plugin's NAME is unique
PLUGIN_CHECK = (
    "import pathlib\nimport runpy\nimport sys\n\nfrom calc import add\n\n"
    "names = [runpy.run_path(str(p))['NAME'] for p in sorted(pathlib.Path('plugins').glob('*.py'))]\n"
    "dupes = sorted({n for n in names if names.count(n) > 1})\n"
    "ok = add(2, 3) == 5 and not dupes\n"
    "if dupes:\n    print('duplicate plugin name: ' + ', '.join(dupes))\n"
    'print("1 passed, 0 failed" if ok else "0 passed, 1 failed")\nsys.exit(0 if ok else 1)\n'
)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> World:
    """test_review's world (a fresh repository on the module's devforge)."""
    found: World = request.getfixturevalue("world")
    return found


# check.py of a project whose checks are scripts under checks/: each runs, any failure fails the tests
CHECKS = (
    "import pathlib\nimport runpy\nimport sys\n\nfailed = 0\n"
    "for path in sorted(pathlib.Path('checks').glob('*.py')):\n"
    "    try:\n        runpy.run_path(str(path))\n"
    "    except AssertionError as exc:\n        failed += 1\n        print(f'{path}: {exc}')\n"
    'print(f"{0 if failed else 1} passed, {failed} failed")\nsys.exit(1 if failed else 0)\n'
)
ADDS = "from calc import add\n\nassert add(2, 3) == 5, 'add(2, 3) is not 5'\n"


def plugin(name: str) -> str:
    return f"NAME = {name!r}\n"


def module(i: int) -> dict[str, str]:
    return {f"mod_{i}.py": f"def value():\n    return {i}\n"}


def runs(lab: World, prefix: str = "") -> int:
    """The sandboxed test runs this host made (``prefix``: of tasks starting with it)."""
    return sum(1 for r in lab.runtime.provenance.tail(1000) if r.tool == "run_tests" and r.task.startswith(prefix))


def metric(lab: World, name: str, **labels: str) -> float | None:
    return lab.runtime.metrics.registry.get_sample_value(name, labels)


def queue_runs(lab: World) -> int:
    return runs(lab, "merge-queue:")


def reviewer(lab: World, **config: object) -> Reviewer:
    """Timmy's reviewer with the host's event log (the queue's ``queue.tested`` and ``pull.*`` events)."""
    found = lab.reviewer(**config)
    found.events = found.journal.events = EventLog(lab.runtime.store, HOST)
    return found


def events(lab: World, kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in EventLog(lab.runtime.store, HOST).page(since=0).events if e.kind == kind]


def main_tree(lab: World) -> str:
    subprocess.run(["git", "fetch", "-q", "origin"], cwd=lab.work, check=True)
    done = subprocess.run(
        ["git", "rev-parse", "origin/main^{tree}"], cwd=lab.work, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


async def approved(lab: World, count: int, files: Callable[[int], dict[str, str]]) -> list[int]:
    """``count`` PRs from the same base, each reviewed and approved by Timmy at its head."""
    numbers = [(await lab.open_pr(files(i)))[1].number for i in range(count)]
    reports = await reviewer(lab).review_once()
    assert sorted((r.number, r.verdict) for r in reports) == [(n, "approved") for n in sorted(numbers)], reports
    return numbers


async def test_a_passing_batch_is_tested_once_on_the_base_and_merged_pr_by_pr_under_their_approvals(
    lab: World,
) -> None:
    numbers = await approved(lab, 3, module)
    assert runs(lab) == 3 and queue_runs(lab) == 0  # the reviews re-ran each head alone

    reports = await reviewer(lab).merge_once()

    assert [(r.number, r.outcome) for r in reports] == [(n, "merged") for n in numbers], reports
    assert queue_runs(lab) == 1  # the three merged onto main together: one run
    (tested,) = events(lab, "queue.tested")
    assert tested["pulls"] == numbers and tested["verdict"] == "passed"
    assert main_tree(lab) == tested["tree"]  # what the forge merged is exactly the tree that was tested
    merged = events(lab, "pull.merged")
    assert [m["approved_by"] for m in merged] == ["timmy"] * 3  # each under its own approval of its head
    for number in numbers:
        pull = await lab.pull(number)
        assert pull.merged and pull.merge_commit_sha
        (approval,) = approvals(await lab.reviews(number), "timmy")
        assert approval.commit_id == pull.head_sha
    assert "merge queue: the tests of" in reports[0].reasons[-1]
    # the metrics, by the house that opened the PRs
    assert metric(lab, "uniwizard_review_verdicts_total", house="bezalel", verdict="approved") == 3
    assert metric(lab, "uniwizard_review_merges_total", house="bezalel", outcome="merged") == 3
    assert metric(lab, "uniwizard_review_approval_latency_seconds_count", house="bezalel") == 3
    assert metric(lab, "uniwizard_review_merge_latency_seconds_count", house="bezalel") == 3
    assert metric(lab, "uniwizard_merge_queue_runs_total", verdict="passed") == 1
    assert metric(lab, "uniwizard_merge_queue_length") == 3


async def test_a_failing_batch_sends_back_the_pr_without_which_the_others_pass_and_merges_them(
    lab: World,
) -> None:
    await lab.open_pr({"check.py": PLUGIN_CHECK, "plugins/base.py": plugin("base")})
    await reviewer(lab).review_once()
    assert [r.outcome for r in await reviewer(lab).merge_once()] == ["merged"]
    # each passes alone; merged together, the third duplicates the first's name
    names = {0: "one", 1: "two", 2: "one", 3: "three"}
    numbers = await approved(lab, 4, lambda i: {f"plugins/p{i}.py": plugin(names[i])})
    before = runs(lab)

    reports = await reviewer(lab).merge_once()

    outcomes = {r.number: r.outcome for r in reports}
    culprit = numbers[2]
    assert outcomes == {n: "merged" for n in numbers} | {culprit: "rejected"}, reports
    # [all four] fails; without p3 it still fails (p0 and p2 share a name); without p2 it passes: p2 is sent back
    # and p0, p1, p3 merge, as tested
    assert runs(lab) - before == queue_runs(lab) == 3
    verdicts = [(e["pulls"], e["verdict"]) for e in events(lab, "queue.tested")]
    rest = [numbers[0], numbers[1], numbers[3]]
    assert verdicts == [(numbers, "failed"), (numbers[:3], "failed"), (rest, "passed")]
    assert main_tree(lab) == events(lab, "queue.tested")[-1]["tree"]
    pull = await lab.pull(culprit)
    assert pull.state == "open" and not pull.merged
    (asked,) = [r for r in await lab.reviews(culprit) if r.state == "REQUEST_CHANGES"]
    assert asked.user is not None and asked.user.login == "timmy" and asked.commit_id == pull.head_sha
    assert marker(QUEUE_FAILED, culprit, pull.head_sha) in asked.body
    assert "duplicate plugin name: one" in asked.body and "@bezalel" in asked.body
    assert f"together with #{numbers[0]}, #{numbers[1]}, #{numbers[3]}" in asked.body
    assert [e["head"] for e in events(lab, "pull.rejected")] == [pull.head_sha]
    assert metric(lab, "uniwizard_review_merges_total", house="bezalel", outcome="rejected") == 1
    assert metric(lab, "uniwizard_merge_queue_runs_total", verdict="failed") == 2

    again = await reviewer(lab).merge_once()  # nothing left to test; the culprit is blocked by the request

    assert [(r.number, r.outcome) for r in again] == [(culprit, "blocked")]
    assert "requested changes" in " ".join(again[0].reasons)
    assert queue_runs(lab) == 3
    assert len([r for r in await lab.reviews(culprit) if r.state == "REQUEST_CHANGES"]) == 1


async def test_a_single_pr_whose_head_contains_the_base_is_not_retested(lab: World) -> None:
    await approved(lab, 1, module)

    (report,) = await reviewer(lab).merge_once()

    assert report.outcome == "merged" and queue_runs(lab) == 0 and runs(lab) == 1
    assert "contains main already" in report.reasons[-1]


@pytest.mark.parametrize(("retest", "queue_runs_after"), [(True, 1), (False, 0)])
async def test_a_pr_whose_base_moved_is_retested_or_only_rechecked_as_the_policy_says(
    lab: World, retest: bool, queue_runs_after: int
) -> None:
    first, second = await approved(lab, 2, module)
    await lab.owner.add_labels(ORG, lab.name, second, ["hold"])
    assert [(r.number, r.outcome) for r in await reviewer(lab).merge_once()] == [
        (first, "merged"),
        (second, "blocked"),
    ]
    for label in (await lab.pull(second)).labels:
        if label.name == "hold":
            await lab.owner.remove_label(ORG, lab.name, second, label.id)

    (report,) = await reviewer(lab, merge_queue={"retest_when_base_moved": retest}).merge_once()

    assert report.outcome == "merged" and queue_runs(lab) == queue_runs_after
    assert ("re-checked" in report.reasons[-1]) is not retest


class HoldDuringTests:
    """A seam around the reviewer's Harness factory: when the merge queue's test run starts, the owner writes
    ``/hold`` on ``number`` (as they would from the forge while the batch is tested)."""

    def __init__(self, lab: World, reviewer: Reviewer, number: int) -> None:
        self.lab, self.number, self.inner = lab, number, reviewer._harness
        self.held = False

    def __call__(self, task: str) -> Any:
        harness: Harness = self.inner(task)
        if not task.startswith("merge-queue:") or self.held:
            return harness
        seam = self

        class Holding:
            async def aexecute(self, tool: str, **args: Any) -> Any:
                seam.held = True
                await seam.lab.owner.create_comment(ORG, seam.lab.name, seam.number, "/hold")
                return await harness.aexecute(tool, **args)

        return Holding()


async def test_a_hold_written_while_the_batch_is_tested_takes_the_pr_out_of_the_queue(lab: World) -> None:
    numbers = await approved(lab, 3, module)
    desk = reviewer(lab)
    desk._harness = HoldDuringTests(lab, desk, numbers[1])

    reports = await desk.merge_once()

    assert [(r.number, r.outcome) for r in reports] == [
        (numbers[0], "merged"),
        (numbers[1], "blocked"),
        (numbers[2], "blocked"),
    ], reports
    assert any("`hold` label is set" in why for why in reports[1].reasons)
    assert "did not merge" in reports[2].reasons[0]  # its batch changed: it is tested again
    assert "hold" in await lab.labels(numbers[1])
    assert any("held" in body for body in await lab.comments_by(numbers[1], "timmy"))

    later = await reviewer(lab).merge_once()

    assert [(r.number, r.outcome) for r in later] == [(numbers[1], "blocked"), (numbers[2], "merged")]
    assert queue_runs(lab) == 2  # the batch of three, then the third alone on the new base
    assert not (await lab.pull(numbers[1])).merged


async def test_a_pr_that_conflicts_with_the_ones_before_it_is_left_out_and_the_rest_merge(lab: World) -> None:
    changes = {
        0: {"calc.py": CALC + "\n\ndef mul(a, b):\n    return a * b\n"},
        1: {"calc.py": CALC + "\n\ndef sub(a, b):\n    return a - b\n"},  # the same lines: conflicts with 0
        2: module(2),
    }
    numbers = await approved(lab, 3, lambda i: changes[i])

    reports = await reviewer(lab).merge_once()

    outcomes = {r.number: r.outcome for r in reports}
    assert outcomes == {numbers[0]: "merged", numbers[1]: "blocked", numbers[2]: "merged"}, reports
    (left_out,) = [r for r in reports if r.number == numbers[1]]
    assert "conflicts with main and the PRs queued before it" in left_out.reasons[0]
    assert queue_runs(lab) == 1  # numbers 0 and 2 together
    assert not (await lab.pull(numbers[1])).merged


async def test_the_owner_sees_the_queue_in_order(lab: World) -> None:
    numbers = await approved(lab, 2, module)
    await lab.owner.add_labels(ORG, lab.name, numbers[0], ["hold"])

    lines = await read_queue(reviewer(lab))

    assert [(line.number, line.state) for line in lines] == [(numbers[0], "held"), (numbers[1], "queued")]
    assert lines[1].position == 1 and lines[1].base_ref == "main" and lines[1].approved_by == "timmy"


async def test_a_merge_pass_leaves_the_queue_it_found_for_the_now_page(lab: World) -> None:
    numbers = await approved(lab, 2, module)
    await lab.owner.add_labels(ORG, lab.name, numbers[0], ["hold"])
    desk = reviewer(lab)

    await desk.merge_once()

    seen = [(line.number, line.state, line.position) for line in desk.journal.queue_lines]
    assert seen == [(numbers[0], "held", None), (numbers[1], "queued", 1)]
    assert metric(lab, "uniwizard_merge_queue_length") == 1


async def test_a_pr_that_breaks_every_other_one_is_found_even_first_in_line(lab: World) -> None:
    """The first PR in line changes what ``add`` means (and its own check with it): green alone, red with any other
    PR, each of which checks ``add`` as it was. Landing the first half first would merge it and send back all the
    others; the queue finds the one PR without which the rest pass."""
    await lab.open_pr({"check.py": CHECKS, "checks/base.py": ADDS})
    await reviewer(lab).review_once()
    assert [r.outcome for r in await reviewer(lab).merge_once()] == ["merged"]

    def change(i: int) -> dict[str, str]:
        if i == 0:  # concatenates now: add(2, 3) == "23"
            return {
                "calc.py": "def add(a, b):\n    return f'{a}{b}'\n",
                "checks/base.py": ADDS.replace("== 5", "== '23'"),
            }
        return {f"checks/check_{i}.py": ADDS}

    numbers = await approved(lab, 4, change)
    before = queue_runs(lab)

    reports = await reviewer(lab).merge_once()

    outcomes = {r.number: r.outcome for r in reports}
    assert outcomes == {numbers[0]: "rejected"} | {n: "merged" for n in numbers[1:]}, reports
    assert queue_runs(lab) - before == 5  # the batch, then without each of #3, #2, #1 (red), without #0 (green)
    (asked,) = [r for r in await lab.reviews(numbers[0]) if r.state == "REQUEST_CHANGES"]
    assert "add(2, 3) is not 5" in asked.body
    assert not (await lab.pull(numbers[0])).merged
