"""The composition root: each role's own repositories and poll interval (the dispatcher's by default), each
configuration file loaded once, and every role's configuration checked before the daemon starts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from uni_wizard.assembly.configs import Configs
from uni_wizard.assembly.roles import check_roles
from uni_wizard.assembly.worker import build_worker
from uni_wizard.config import load_settings
from uni_wizard.errors import ConfigError
from uni_wizard.harness.runtime import Runtime
from uni_wizard.testing import make_runtime

SHIPPED_TRIAGE = Path(__file__).resolve().parents[2] / "configs" / "triage.yaml"
FORGE: dict[str, Any] = {"gitea_url": "http://forge.invalid/", "gitea_token": "t0ken"}


@pytest.fixture
def runtimes() -> Any:
    made: list[Runtime] = []
    yield made
    for runtime in made:
        runtime.close()


def runtime_with(runtimes: list[Runtime], root: Path, **settings: Any) -> Runtime:
    runtime = make_runtime(root / str(len(runtimes)), **{**FORGE, **settings})
    runtimes.append(runtime)
    return runtime


def triage_with(path: Path, old: str, new: str) -> Path:
    path.write_text(SHIPPED_TRIAGE.read_text().replace(old, new))
    return path


def test_the_worker_watches_its_own_repositories_at_its_own_pace(runtimes: list[Runtime], tmp_path: Path) -> None:
    runtime = runtime_with(runtimes, tmp_path, house="ezra", worker_repos=("mesh/docs",), worker_poll_seconds=12)
    worker = build_worker(runtime.settings, runtime)
    assert (worker.repos, worker.poll_seconds) == (("mesh/docs",), 12.0)
    asyncio.run(worker.forge.aclose())


def test_unset_the_worker_follows_the_dispatchers_repositories_and_pace(
    runtimes: list[Runtime], tmp_path: Path
) -> None:
    triage = triage_with(tmp_path / "triage.yaml", "poll_seconds: 5", "poll_seconds: 9")
    runtime = runtime_with(runtimes, tmp_path, house="ezra", triage_config=triage)
    worker = build_worker(runtime.settings, runtime)
    assert (worker.repos, worker.poll_seconds) == (("mesh/work", "mesh/mesh"), 9.0)
    asyncio.run(worker.forge.aclose())


def test_a_worker_with_no_repository_anywhere_names_dispatcher_repos(runtimes: list[Runtime], tmp_path: Path) -> None:
    triage = triage_with(tmp_path / "triage.yaml", "repos: [mesh/work, mesh/mesh]", "repos: []")
    runtime = runtime_with(runtimes, tmp_path, house="ezra", triage_config=triage)
    with pytest.raises(ConfigError) as caught:
        build_worker(runtime.settings, runtime)
    assert (caught.value.source, caught.value.key) == (str(triage), "dispatcher.repos")


def test_each_configuration_file_is_loaded_once(runtimes: list[Runtime], tmp_path: Path) -> None:
    runtime = runtime_with(runtimes, tmp_path)
    configs = Configs(runtime.settings)
    assert configs.triage is configs.triage and configs.review is configs.review and configs.mesh is configs.mesh


def test_a_broken_file_is_reported_each_time_it_is_asked_for(runtimes: list[Runtime], tmp_path: Path) -> None:
    review = tmp_path / "review.yaml"
    review.write_text("repos: [nowhere]\n")
    configs = Configs(runtime_with(runtimes, tmp_path, review_config=review).settings)
    for _ in range(2):
        with pytest.raises(ConfigError, match="repos.0"):
            configs.review


@pytest.mark.parametrize(("text", "key"), [("repos: []\n", "repos"), ("poll_seconds: 0\n", "poll_seconds")])
def test_the_reviewers_own_settings_are_checked_before_the_start(
    runtimes: list[Runtime], tmp_path: Path, text: str, key: str
) -> None:
    review = tmp_path / "review.yaml"
    review.write_text(text)
    runtime = runtime_with(runtimes, tmp_path, roles=("reviewer",), house="timmy", review_config=review)
    with pytest.raises(ConfigError) as caught:
        check_roles(runtime.settings, runtime, Configs(runtime.settings))
    assert (caught.value.source, caught.value.key) == (str(review), key)


def test_a_malformed_repository_of_the_worker_names_its_setting(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("worker_repos: [mesh]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert (caught.value.source, caught.value.key) == (str(path), "worker_repos.0")
