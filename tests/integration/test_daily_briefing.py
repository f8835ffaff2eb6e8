"""The daily briefing (``uni_wizard.attention.briefing``) on a real devforge over loopback: a scripted day in a
mesh repository (issues routed, one pull request merged, one blocked issue, one upgrade rolled back and one
applied, a peer down, one approval waiting with a failing proof) makes a briefing whose every figure matches
the forge read independently; restarts and a second runner write it once, only under the lease; the previous
day's figures are compared and its issue closed; a model that cannot answer leaves the facts whole.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from bootstrapped_forge import Mesh, mesh_fixture
from prometheus_client import CollectorRegistry
from worlds import Clients, clients, create_repo, fresh_name, plain_runtime

from uni_wizard.attention import Briefing, BriefingRunner
from uni_wizard.attention.briefing import BRIEFING_LABEL, figures_of
from uni_wizard.attention.briefing_facts import Period
from uni_wizard.attention.metrics import AttentionMetrics
from uni_wizard.cascade import Cascade
from uni_wizard.cascade.config import CascadeConfig
from uni_wizard.cli import main
from uni_wizard.dispatch.lease import LocalLease
from uni_wizard.forge import GiteaClient
from uni_wizard.harness import Runtime
from uni_wizard.observe.events import EventKind, EventLog

mesh = mesh_fixture()
ROOT = Path(__file__).resolve().parents[2]
UTC_ZONE = ZoneInfo("UTC")
LABELS = [("status/blocked", "#b60205", False), ("needs-owner", "#d93f0b", False)]


def briefing_day() -> tuple[date, int]:
    """A day and hour whose period holds the present moment (it ends within the next hour or two)."""
    later = datetime.now(UTC) + timedelta(hours=1)
    return later.date(), later.hour


@dataclass
class Day:
    repo: str
    runtime: Runtime
    client: Clients
    day: date
    hour: int
    merged: int
    pending: int
    blocked: int
    routed: tuple[int, ...]

    def briefing(self, forge: GiteaClient, **extra: Any) -> Briefing:
        return Briefing(
            self.runtime.store, forge, repo=self.repo, repos=[self.repo], tz=UTC_ZONE, hour=self.hour, **extra
        )


async def open_pull(forge: GiteaClient, repo: str, branch: str, title: str) -> Any:
    owner, name = repo.split("/")
    await forge.create_file(owner, name, f"{branch}.txt", b"change\n", title, branch="main", new_branch=branch)
    return await forge.create_pull(owner, name, head=branch, base="main", title=title)


@pytest.fixture
async def scripted(mesh: Mesh, tmp_path: Path) -> AsyncIterator[Day]:
    repo = await create_repo(mesh, fresh_name("b"), labels=LABELS)
    owner, name = repo.split("/")
    day, hour = briefing_day()
    async with clients(mesh) as client:
        with plain_runtime(tmp_path / "dispatcher", mesh, host="vps-a") as runtime:
            timmy, bezalel = client("timmy"), client("bezalel")
            events = EventLog(runtime.store, "vps-a")
            routed = []
            for title in ("Add a health page", "Fix the login typo"):  # two issues routed by the dispatcher
                issue = await timmy.create_issue(owner, name, title)
                routed.append(issue.number)
                await events.emit(EventKind.ISSUE_ROUTED, f"routed:{repo}#{issue.number}", repository=repo,
                                  number=issue.number, data={"house": "bezalel"})  # fmt: skip
            blocked = await timmy.create_issue(owner, name, "Migrate the database")
            await timmy.add_labels(owner, name, blocked.number, ["status/blocked"])
            await bezalel.create_comment(owner, name, blocked.number, "Blocked: the tests need a Postgres service.")
            merged = await open_pull(bezalel, repo, "health-page", "Add a health page")
            await timmy.merge_pull(owner, name, merged.number, head_commit_id=merged.head_sha)
            pending = await open_pull(bezalel, repo, "secrets-rotation", "Rotate the webhook secret")
            await timmy.add_labels(owner, name, pending.number, ["needs-owner"])
            await timmy.create_status(owner, name, pending.head_sha, "failure", "uni-wizard/proof")
            # one upgrade rolled back on vps-b, one applied on vps-a, a peer that went down (events as they log them)
            b_events = EventLog(runtime.store, "vps-b")
            await b_events.emit("deploy.failed", "deploy.failed:vps-b:abc", repository=repo, number=9,
                                data={"sha": "abc", "reason": "health failed; rolled back to previous"})  # fmt: skip
            await events.emit("deploy.applied", "deploy.applied:vps-a:abc", repository=repo, number=9,
                              data={"sha": "abc"})  # fmt: skip
            await events.emit(EventKind.PEER_LEFT, "peer.left:vps-a:vps-c:1", data={"peer": "vps-c"})
            yield Day(repo, runtime, client, day, hour, merged.number, pending.number, blocked.number, tuple(routed))


async def briefings(client: Clients, repo: str) -> list[Any]:
    owner, name = repo.split("/")
    found = client("timmy").iter_issues(owner, name, state="all", labels=[BRIEFING_LABEL])
    return [i async for i in found if BRIEFING_LABEL in i.label_names]  # an unknown label filters nothing


async def forge_figures(client: Clients, repo: str, period: Period) -> dict[str, int]:
    """The day's forge figures read independently of the briefing's code, straight from the devforge."""
    timmy = client("timmy")
    owner, name = repo.split("/")
    pulls = await timmy.list_pulls(owner, name, state="all")
    issues = {i.number: i for i in await timmy.list_issues(owner, name, state="all")}
    opened = [p for p in pulls if period.holds(issues[p.number].created_at)]
    merged = [p for p in pulls if p.merged and period.holds(issues[p.number].closed_at)]
    open_items = [i for i in issues.values() if i.state == "open"]
    failing = [
        p
        for p in pulls
        if p.state == "open" and (await timmy.combined_status(owner, name, p.head_sha)).state == "failure"
    ]
    return {
        "merged": len(merged),
        "opened": len(opened),
        "blocked": sum(1 for i in open_items if "status/blocked" in i.label_names and not i.is_pull),
        "failing_proofs": len(failing),
        "approvals_waiting": sum(1 for i in open_items if "needs-owner" in i.label_names),
    }


async def test_a_scripted_day_makes_a_briefing_whose_every_figure_matches_the_forge(scripted: Day) -> None:
    registry = CollectorRegistry()
    metrics = AttentionMetrics.for_registry(registry)
    written = await scripted.briefing(scripted.client("allegro"), metrics=metrics).write(scripted.day)

    assert written.created
    period = Period.of(scripted.day, UTC_ZONE, hour=scripted.hour)
    from_forge = await forge_figures(scripted.client, scripted.repo, period)
    assert from_forge == {"merged": 1, "opened": 2, "blocked": 1, "failing_proofs": 1, "approvals_waiting": 1}
    assert written.figures == {
        **from_forge,
        "upgrades_applied": 1,
        "upgrades_rolled_back": 1,
        "breakers_opened": 0,
        "peers_down": 1,
        "escalations": 0,
    }
    [issue] = await briefings(scripted.client, scripted.repo)
    assert issue.title == f"Daily briefing {scripted.day.isoformat()}"
    assert figures_of(issue.body) == (scripted.day.isoformat(), written.figures)
    body = issue.body
    assert "- **bezalel**: 1 merged, 2 opened" in body
    assert f"#{scripted.pending}]" in body and "Rotate the webhook secret: uni-wizard/proof" in body  # failing proof
    assert f"#{scripted.blocked}]" in body and "Blocked: the tests need a Postgres service." in body
    assert "- `vps-b`: 0 applied, 1 rolled back" in body and "- `vps-a`: 1 applied, 0 rolled back" in body
    assert "- vps-c (seen from vps-a)" in body
    assert "### Summary" not in body  # no model configured: rule-based only
    assert registry.get_sample_value("uniwizard_briefings_written_total") == 1.0


async def test_a_restart_at_the_hour_writes_it_once_and_only_the_lease_holder_writes(scripted: Day) -> None:
    at_the_hour = datetime.combine(scripted.day, datetime.min.time(), UTC) + timedelta(hours=scripted.hour, minutes=1)
    lease = LocalLease("dispatcher", ttl=3600, margin=0)
    standby = BriefingRunner(scripted.briefing(scripted.client("allegro")), lease, clock=at_the_hour.timestamp)

    assert await standby.tick() is None  # the lease is not held: nothing written
    assert await briefings(scripted.client, scripted.repo) == []
    before = BriefingRunner(
        scripted.briefing(scripted.client("allegro")), lease, clock=(at_the_hour - timedelta(hours=2)).timestamp
    )
    await lease.acquire()
    assert await before.tick() is None  # before the hour: not due

    first = await BriefingRunner(
        scripted.briefing(scripted.client("allegro")), lease, clock=at_the_hour.timestamp
    ).tick()
    # the daemon restarts at the hour (a new runner, a new client) and another host takes over the lease
    restarted = BriefingRunner(scripted.briefing(scripted.client("allegro")), lease, clock=at_the_hour.timestamp)
    again = await restarted.tick()
    other = BriefingRunner(scripted.briefing(scripted.client("timmy")), lease, clock=at_the_hour.timestamp)
    third = await other.tick()

    assert first is not None and first.created
    assert again is not None and not again.created and again.issue == first.issue
    assert third is not None and not third.created and third.issue == first.issue
    assert await restarted.tick() is None  # known written: not even a look at the forge
    assert [i.number for i in await briefings(scripted.client, scripted.repo)] == [first.issue]


async def test_the_previous_day_is_compared_and_closed(scripted: Day) -> None:
    daily = scripted.briefing(scripted.client("allegro"))
    yesterday = await daily.write(scripted.day - timedelta(days=1))
    today = await daily.write(scripted.day)

    assert yesterday.figures["merged"] == 0 and yesterday.figures["blocked"] == 1  # nothing of the day, the state
    owner, name = scripted.repo.split("/")
    timmy = scripted.client("timmy")
    closed = await timmy.get_issue(owner, name, yesterday.issue)
    body = (await timmy.get_issue(owner, name, today.issue)).body
    assert closed.state == "closed"
    assert "| merged | 1 | 0 | +1 |" in body and "| blocked | 1 | 1 | = |" in body
    assert "| peers down | 1 | 0 | +1 |" in body


async def test_a_model_that_cannot_answer_leaves_the_facts_whole(scripted: Day) -> None:
    dead = CascadeConfig.model_validate(
        {
            "providers": [
                {
                    "name": "ollama",
                    "kind": "ollama",
                    "url": "http://127.0.0.1:9",  # nothing listens: connection refused
                    "models": [{"name": "qwen2.5:0.5b", "context": 8192}],
                    "retry": {"attempts": 1},
                }
            ]
        }
    )
    cascade = Cascade.from_config(dead, registry=CollectorRegistry())
    try:
        with_model = await scripted.briefing(scripted.client("allegro"), summarize=cascade).compose(scripted.day)
    finally:
        await cascade.aclose()
    plain = await scripted.briefing(scripted.client("allegro")).compose(scripted.day)

    assert with_model[1] == plain[1] and "### Summary" not in with_model[1]
    assert with_model[0].figures() == plain[0].figures()


async def test_the_cli_shows_then_writes_todays_briefing_once(
    scripted: Day, mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    triage = yaml.safe_load((ROOT / "configs" / "triage.yaml").read_text())
    triage["dispatcher"]["repos"] = [scripted.repo]
    (tmp_path / "triage.yaml").write_text(yaml.safe_dump(triage))
    (tmp_path / "upgrades.yaml").write_text(f"repo: {scripted.repo}\n")
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({
        "host": "vps-a", "data_dir": str(scripted.runtime.settings.data_dir), "gitea_url": mesh.url,
        "gitea_token": mesh.token("allegro"), "triage_config": str(tmp_path / "triage.yaml"),
        "upgrades_config": str(tmp_path / "upgrades.yaml"), "briefing_hour": scripted.hour,
    }))  # fmt: skip

    async def cli(*args: str) -> dict[str, Any]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["--config", str(settings), "briefing", "--json", *args])
        out = capsys.readouterr().out
        assert code == 0, out
        return dict(json.loads(out))

    shown = await cli("--dry-run")
    assert await briefings(scripted.client, scripted.repo) == []  # a dry run writes nothing
    first, second = await cli(), await cli()

    today = datetime.now(UTC).date().isoformat()
    assert shown["day"] == first["day"] == today and "### Figures" in shown["body"]
    assert first["created"] and not second["created"] and second["issue"] == first["issue"]
    assert first["figures"] == shown["figures"]
    assert [i.number for i in await briefings(scripted.client, scripted.repo)] == [first["issue"]]
