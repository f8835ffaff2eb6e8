"""``build_reviewer``'s configuration errors, ``run_reviewer``'s loop, and ``uni-wizard review once``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import uni_wizard.assembly.reviewer as assembly
from uni_wizard.assembly.reviewer import build_reviewer, reviewer_poll_seconds
from uni_wizard.cli import main
from uni_wizard.errors import ConfigError, ForgeError
from uni_wizard.review import MergeReport, ReviewReport
from uni_wizard.review.loop import run_reviewer
from uni_wizard.testing import make_runtime


def build(tmp_path: Path, **settings: Any) -> Any:
    values: dict[str, Any] = {"gitea_url": "http://forge.invalid/", "gitea_token": "t0ken", "house": "timmy"}
    values.update(settings)
    runtime = make_runtime(tmp_path, **{k: v for k, v in values.items() if v is not None})
    try:
        return build_reviewer(runtime.settings, runtime)
    finally:
        runtime.close()


def test_the_reviewer_acts_as_the_house_over_the_dispatchers_repositories(tmp_path: Path) -> None:
    review = tmp_path / "review.yaml"
    review.write_text("auto_approve: true\nhold_label: frozen\n")
    reviewer = build(tmp_path, owner="alice", review_config=review)
    assert (reviewer.house, reviewer.login, reviewer.owner) == ("timmy", "timmy", "alice")
    assert reviewer.repos == ("mesh/work", "mesh/mesh")
    assert reviewer.config.auto_approve and reviewer.config.hold_label == "frozen"
    assert reviewer.approvers == frozenset({"timmy", "alice"})
    asyncio.run(reviewer.forge.aclose())


def test_the_review_caches_live_in_the_data_directory(tmp_path: Path) -> None:
    """Houses write under the workspace: the bare caches git works on are kept out of it."""
    reviewer = build(tmp_path)
    assert reviewer.worktrees.cache_root == tmp_path / "data" / "cache" / "review"  # make_runtime's data_dir
    assert reviewer.worktrees.root == tmp_path / "workspace" / "review"
    asyncio.run(reviewer.forge.aclose())


def test_the_shipped_review_config_is_the_default(tmp_path: Path) -> None:
    reviewer = build(tmp_path)
    assert not reviewer.config.auto_approve
    asyncio.run(reviewer.forge.aclose())


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({"house": None}, "house", "needs `house`"),
        ({"house": "nobody"}, "house", "no house 'nobody'"),
        ({"house": "bezalel"}, "house", "may_approve"),
        ({"gitea_token": None}, "gitea_token", "gitea_token"),
        ({"gitea_url": None}, "gitea_url", "gitea_url"),
    ],
)
def test_configuration_errors_name_the_key(tmp_path: Path, settings: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, **settings)
    assert caught.value.key == key and words in str(caught.value)


def test_no_repository_is_an_error_naming_dispatcher_repos(tmp_path: Path) -> None:
    triage = tmp_path / "triage.yaml"
    shipped = (Path(__file__).resolve().parents[2] / "configs" / "triage.yaml").read_text()
    triage.write_text(shipped.replace("repos: [mesh/work, mesh/mesh]", "repos: []"))
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, triage_config=triage)
    assert caught.value.key == "dispatcher.repos"


def test_the_reviewer_watches_its_own_repositories_at_its_own_pace(tmp_path: Path) -> None:
    review = tmp_path / "review.yaml"
    review.write_text("repos: [mesh/docs]\npoll_seconds: 20\n")
    reviewer = build(tmp_path, review_config=review)
    assert reviewer.repos == ("mesh/docs",)
    asyncio.run(reviewer.forge.aclose())
    runtime = make_runtime(tmp_path / "pace", review_config=review)
    assert reviewer_poll_seconds(runtime.settings) == 20.0
    runtime.close()


def test_unset_the_reviewer_follows_the_dispatchers_repositories_and_pace(tmp_path: Path) -> None:
    triage = tmp_path / "triage.yaml"
    shipped = (Path(__file__).resolve().parents[2] / "configs" / "triage.yaml").read_text()
    triage.write_text(shipped.replace("poll_seconds: 5", "poll_seconds: 7"))
    runtime = make_runtime(tmp_path / "pace", triage_config=triage)
    assert reviewer_poll_seconds(runtime.settings) == 7.0
    runtime.close()


def test_an_empty_list_of_its_own_repositories_names_repos_in_the_review_file(tmp_path: Path) -> None:
    review = tmp_path / "review.yaml"
    review.write_text("repos: []\n")
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, review_config=review)
    assert (caught.value.source, caught.value.key) == (str(review), "repos")


def test_a_malformed_repository_names_the_file_and_the_key(tmp_path: Path) -> None:
    review = tmp_path / "review.yaml"
    review.write_text("repos: [mesh]\n")
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, review_config=review)
    assert (caught.value.source, caught.value.key) == (str(review), "repos.0")
    assert "owner/name" in str(caught.value)


def test_a_bad_review_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    review = tmp_path / "review.yaml"
    review.write_text("auto_aprove: true\n")
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, review_config=review)
    assert "review.yaml" in str(caught.value) and "auto_aprove" in str(caught.value)


class FakeForge:
    closed = False

    async def aclose(self) -> None:
        self.closed = True


class FakeReviewer:
    def __init__(self, fail_first: bool = False) -> None:
        self.forge = FakeForge()
        self.passes = 0
        self.fail_first = fail_first

    async def review_once(self) -> list[ReviewReport]:
        self.passes += 1
        if self.fail_first and self.passes == 1:
            raise ForgeError("the forge is down")
        return [
            ReviewReport("mesh/work", 3, "a" * 40, "approved"),
            ReviewReport("mesh/work", 4, "b" * 40, "changes_requested", ["proof failed"]),
        ]

    async def merge_once(self) -> list[MergeReport]:
        return [MergeReport("mesh/work", 3, "a" * 40, "merged")]


def test_the_loop_logs_a_failed_pass_and_goes_on() -> None:
    reviewer = FakeReviewer(fail_first=True)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_reviewer(reviewer, stop, 0.01))  # type: ignore[arg-type]
        while reviewer.passes < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(asyncio.wait_for(go(), 5))
    assert reviewer.passes >= 3


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ws").mkdir()
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    return tmp_path / "data"


def test_review_once_prints_each_verdict_and_merge(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[tuple[FakeReviewer, bool, bool]] = []

    def fake_build(
        settings: Any, runtime: Any, *, closing: Any = None, dry_run: bool = False, extend: Any = None, **_: Any
    ) -> FakeReviewer:
        built.append((FakeReviewer(), dry_run, extend is not None))
        closing.push_async_callback(built[-1][0].forge.aclose)  # the builder's contract: its client closes with it
        return built[-1][0]

    monkeypatch.setattr(assembly, "build_reviewer", fake_build)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["review", "once", "--dry-run"]) == 0
    out = capsys.readouterr().out
    ((reviewer, dry_run, extended),) = built
    assert dry_run and extended and reviewer.forge.closed  # the CLI passes the upgrade queue's extension
    assert "reviews (dry run)" in out and "merges (dry run)" in out
    assert "approved" in out and "changes_requested" in out and "proof failed" in out and "merged" in out
    assert "#3" in out and "#4" in out and "aaaaaaaaaa" in out


def test_review_once_without_a_house_is_a_usage_error_naming_the_key(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "once"]) == 2
    assert "house" in capsys.readouterr().err
