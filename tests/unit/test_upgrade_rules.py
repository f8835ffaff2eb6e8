"""The upgrade queue's pure parts: risk rules, deploy outcomes, label mirroring, the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from uni_wizard.errors import ConfigError
from uni_wizard.forge.models import CommitStatus
from uni_wizard.upgrade import RiskRules, State, UpgradeConfig, assess, deploy_outcome, load_upgrade_config, mirrored

RULES = RiskRules()
PREFIX = "uni-wizard/deploy/"


@pytest.mark.parametrize(
    ("paths", "lines", "low", "because"),
    [
        (["docs/runbook.md"], 10, True, ""),
        (["configs/triage.yaml", "README.md"], 200, True, ""),
        (["configs/triage.yaml"], 201, False, "changes 201 lines, more than the 200"),
        (["houses/ezra.yaml"], 2, False, "never low risk: houses/ezra.yaml"),
        (["configs/upgrades.yaml"], 1, False, "never low risk: configs/upgrades.yaml"),  # the gate's own config
        (["configs/review.yaml"], 1, False, "never low risk: configs/review.yaml"),
        (["uni-wizard.version"], 1, False, "package version pin: uni-wizard.version"),
        (["requirements-prod.txt"], 1, False, "package version pin: requirements-prod.txt"),
        (["configs/cascade.yaml"], 1, False, "outside the low-risk globs: configs/cascade.yaml"),
        ([], 0, False, "changes no file"),
    ],
)
def test_risk_rules(paths: list[str], lines: int, low: bool, because: str) -> None:
    risk = assess(paths, lines, RULES)
    assert risk.low is low and risk.level == ("low" if low else "high")
    assert (not risk.reasons) if low else any(because in reason for reason in risk.reasons), risk.reasons


def status(host: str, state: str, description: str = "") -> CommitStatus:
    return CommitStatus(status=state, context=PREFIX + host, description=description)


@pytest.mark.parametrize(
    ("statuses", "outcome", "actor", "reason"),
    [
        ([], "waiting", "", "waiting for the deploy status of a, b"),
        ([status("a", "success")], "waiting", "", "waiting for the deploy status of b"),
        ([status("a", "success"), status("b", "pending")], "waiting", "", "of b"),
        ([status("b", "success"), status("a", "success")], "applied", "reconciler", "applied and healthy on a, b"),
        ([status("a", "success"), status("b", "failure", "health gate: /ready not green in 30 s")], "failed", "b",
         "health gate: /ready not green in 30 s"),
        ([status("c", "failure", "boom")], "failed", "c", "boom"),  # any host's failure counts
        ([CommitStatus(status="failure", context="uni-wizard/proof"), status("a", "success"), status("b", "success")],
         "applied", "reconciler", "on a, b"),
    ],
)  # fmt: skip
def test_deploy_outcome(statuses: list[CommitStatus], outcome: str, actor: str, reason: str) -> None:
    found = deploy_outcome(statuses, ("a", "b"), PREFIX)
    assert (found.outcome, found.actor) == (outcome, actor) and reason in found.reason


def test_the_newest_status_of_a_host_wins() -> None:
    newest_first = [status("a", "success"), status("a", "failure", "first try"), status("b", "success")]
    assert deploy_outcome(newest_first, ("a", "b"), PREFIX).outcome == "applied"


def test_without_reconciler_hosts_nothing_is_ever_applied() -> None:
    found = deploy_outcome([status("a", "success")], (), PREFIX)
    assert found.outcome == "waiting" and "no host in the mesh configuration has the reconciler role" in found.reason


@pytest.mark.parametrize("state", list(State))
def test_labels_mirror_exactly_one_state(state: State) -> None:
    labels = mirrored(["hold", "upgrade/proposed", "upgrade/approved", "status/review"], state, "upgrade")
    assert [label for label in labels if label.startswith("upgrade/")] == [f"upgrade/{state.value}"]
    assert {"hold", "status/review", "upgrade"} <= set(labels)


def test_the_shipped_configuration_is_the_documented_default() -> None:
    config = load_upgrade_config()
    assert config == UpgradeConfig()
    assert (config.upgrade_timeout_hours, config.auto_approve_upgrades, config.max_diff_lines) == (24, False, 10_000)
    assert (config.prune_after_days, config.repo, config.label) == (90, "mesh/mesh", "upgrade")


def test_a_bad_configuration_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "upgrades.yaml"
    path.write_text("risk:\n  low_risk_paths: ['/etc/**']\n")
    with pytest.raises(ConfigError, match="upgrades.yaml:risk.low_risk_paths"):
        load_upgrade_config(path)
    path.write_text("auto_approve: true\n")
    with pytest.raises(ConfigError, match="auto_approve"):
        load_upgrade_config(path)
