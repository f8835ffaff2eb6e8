"""The comment that blocks an issue without a playbook that no model can plan: it says why, names the file and
the key that give the worker a model (the cascade file in force and its ``providers``, the ``planner``
setting and where it was set), and shows a playbook that parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from uni_wizard.assembly.worker import model_setup
from uni_wizard.cascade.config import default_cascade_path
from uni_wizard.config import load_settings
from uni_wizard.work.planner import PLAYBOOK_HELP, no_model_reason, no_plan_message
from uni_wizard.work.playbook import find_playbook
from uni_wizard.work.types import ModelCheck, ModelSetup

SHIPPED = ModelSetup("auto", "default", "/opt/uni-wizard/configs/cascade.yaml", shipped=True)
DOWN = ModelCheck(
    (),
    (
        "`ollama` (ollama at http://127.0.0.1:11434): no answer to `GET /api/tags` (is the server running?)",
        "`llamacpp` (openai-compatible at http://127.0.0.1:8080/v1): no answer to `GET /models`",
    ),
)


def test_auto_with_no_provider_answering_names_the_cascade_file_providers_and_planner() -> None:
    message = no_plan_message(SHIPPED, DOWN)

    first = message.splitlines()[0]
    assert first == (
        "This issue needs a playbook or a configured model: it has no `uni-wizard` block, and no model provider "
        "of the cascade file `/opt/uni-wizard/configs/cascade.yaml` can take it now, so nothing was run."
    )
    for problem in DOWN.problems:
        assert f"- {problem}" in message  # what the worker found, provider by provider
    assert "under the key `providers` of the cascade file in force, `/opt/uni-wizard/configs/cascade.yaml`" in message
    assert "copy it, edit the copy, and point the setting `cascade_config` at the copy" in message  # shipped file
    assert "The setting `planner` (now `auto`, its default) must be `auto`" in message
    assert "`UNIWIZARD_PLANNER=auto`" in message and "`uni-wizard cascade status`" in message
    assert "kind: ollama" in message and "models: [{name:" in message  # a provider entry to copy
    assert message.endswith(PLAYBOOK_HELP)  # and what a playbook looks like
    assert find_playbook(message) is None  # shown, never run


def test_planner_playbook_says_where_it_was_set() -> None:
    setup = ModelSetup("playbook", "/etc/uni-wizard/settings.yaml", "/etc/uni-wizard/cascade.yaml", shipped=False)

    message = no_plan_message(setup)

    assert (
        "this worker's setting `planner` is `playbook` (set by /etc/uni-wizard/settings.yaml), so it never asks a "
        "model, so nothing was run." in message
    )
    assert "`providers` of the cascade file in force, `/etc/uni-wizard/cascade.yaml`:" in message
    assert "cascade_config` at the copy" not in message  # the host's own file: edit it in place
    assert "What the worker found" not in message  # nothing was asked
    assert "(now `playbook`, set by /etc/uni-wizard/settings.yaml)" in message


def test_a_worker_built_without_a_model_says_so() -> None:
    assert no_model_reason(SHIPPED, None) == "this worker has no model planner"
    assert "this worker has no model planner, so nothing was run" in no_plan_message(SHIPPED)


def test_the_setup_comes_from_the_settings_and_where_they_were_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert model_setup(load_settings()) == ModelSetup("auto", "default", str(default_cascade_path()), shipped=True)

    settings_file = tmp_path / "settings.yaml"
    cascade = tmp_path / "cascade.yaml"
    settings_file.write_text(f"planner: playbook\ncascade_config: {cascade}\n")
    assert model_setup(load_settings(settings_file)) == ModelSetup(
        "playbook", str(settings_file), str(cascade), shipped=False
    )

    monkeypatch.setenv("UNIWIZARD_PLANNER", "model")
    setup = model_setup(load_settings(settings_file))
    assert (setup.planner, setup.planner_from) == ("model", "environment variable UNIWIZARD_PLANNER")
