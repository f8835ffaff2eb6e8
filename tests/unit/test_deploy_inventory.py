"""The deploy inventory (mesh.yaml + addresses, settings, secrets), the wheelhouse naming and pyinfra's report."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from uni_wizard.cli import main
from uni_wizard.deployment.inventory import load_inventory, plan_hosts
from uni_wizard.deployment.layout import role_port, unit_name
from uni_wizard.deployment.runner import parse_proposed, parse_totals, pyinfra_argv, run_deploy
from uni_wizard.deployment.wheelhouse import pack_wheelhouse, release_name
from uni_wizard.errors import ConfigError, DeployFailed
from uni_wizard.meshfile.schema import HostEntry

MESH = {
    "hosts": [
        {"name": "sovereign", "url": "http://10.0.0.1:8643", "houses": ["timmy"], "roles": ["reviewer", "reconciler"]},
        {"name": "vps-a", "url": "http://vps-a.example:9000", "houses": ["bezalel"], "roles": ["worker", "dispatcher"]},
    ]
}
RESULTS = """
--> Results:
    Operation          Hosts   Success   Error   No Change
    group uni-wizard   2       -         -       2
    Grand total        58      3         -       55
"""


def write(tmp_path: Path, inventory: dict[str, Any], mesh: dict[str, Any] = MESH) -> Path:
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(mesh))
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"mesh": "mesh.yaml", **inventory}))
    return path


def test_each_host_gets_a_settings_file_per_role(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "vps-a").mkdir(parents=True)
    (secrets / "api_token").write_text("shared")
    (secrets / "vps-a" / "gitea_token").write_text("bezalel's")
    path = write(
        tmp_path,
        {"secrets_dir": "secrets", "settings": {"gitea_url": "https://forge"}, "addresses": {"vps-a": "203.0.113.7"}},
    )
    sovereign, vps_a = plan_hosts(load_inventory(path))
    assert (sovereign.address, vps_a.address) == ("10.0.0.1", "203.0.113.7")
    assert sorted(sovereign.config_files) == ["/etc/uni-wizard/reconciler.yaml", "/etc/uni-wizard/reviewer.yaml"]
    # seeded once into the directories the reconciler owns: the inventory's mesh, the shipped houses and configs
    assert yaml.safe_load(sovereign.seed_files["/etc/uni-wizard/configs/mesh.yaml"]) == MESH
    assert "/etc/uni-wizard/houses/timmy.yaml" in sovereign.seed_files
    assert "/etc/uni-wizard/configs/review.yaml" in sovereign.seed_files
    reviewer = yaml.safe_load(sovereign.config_files["/etc/uni-wizard/reviewer.yaml"])
    assert reviewer == {
        "api_token_file": "/run/credentials/uni-wizard@reviewer.service/secrets_api_token",
        "bind": "10.0.0.1",
        "gitea_url": "https://forge",
        "host": "sovereign",
        "house": "timmy",
        "houses_dir": "/etc/uni-wizard/houses",
        "mesh_config": "/etc/uni-wizard/configs/mesh.yaml",
        "triage_config": "/etc/uni-wizard/configs/triage.yaml",
        "review_config": "/etc/uni-wizard/configs/review.yaml",
        "upgrades_config": "/etc/uni-wizard/configs/upgrades.yaml",
        "cascade_config": "/etc/uni-wizard/configs/cascade.yaml",
        "port": 8643,  # the host's url: its first role (reviewer, then reconciler on 8644)
        "roles": ["reviewer"],
    }
    worker = yaml.safe_load(vps_a.config_files["/etc/uni-wizard/worker.yaml"])
    assert (worker["bind"], worker["port"], worker["house"]) == ("0.0.0.0", 9001, "bezalel")  # dispatcher 9000
    assert worker["gitea_token_file"] == "/run/credentials/uni-wizard@worker.service/secrets_gitea_token"
    assert vps_a.secrets == {"api_token": secrets / "api_token", "gitea_token": secrets / "vps-a" / "gitea_token"}
    assert "gitea_token" not in sovereign.secrets
    data = vps_a.pyinfra_data()
    assert (
        data["ssh_hostname"] == "203.0.113.7"
        and data["ssh_user"] == "root"
        and data["uw_roles"] == ["worker", "dispatcher"]
    )


@pytest.mark.parametrize(
    ("inventory", "key"),
    [
        ({"addresses": {"nowhere": "10.0.0.9"}}, "addresses.nowhere"),
        ({"settings": {"port": 1}}, "settings.port"),
        ({"settings": {"gitea_token": "x"}}, "settings.gitea_token"),
        ({"settings": {"colour": "blue"}}, "settings.colour"),
        ({"ssh": {"port": "ssh"}}, "ssh.port"),
    ],
)
def test_inventory_errors_name_the_key(tmp_path: Path, inventory: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan_hosts(load_inventory(write(tmp_path, inventory)), source="inv.yaml")
    assert key in str(raised.value)


def test_a_worker_acts_as_exactly_one_house(tmp_path: Path) -> None:
    mesh = {"hosts": [{"name": "a", "url": "http://10.0.0.1:1", "houses": ["ezra", "bezalel"], "roles": ["worker"]}]}
    with pytest.raises(ConfigError, match="hosts.a.houses"):
        plan_hosts(load_inventory(write(tmp_path, {}, mesh)))


def test_an_empty_mesh_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no hosts"):
        plan_hosts(load_inventory(write(tmp_path, {}, {"hosts": []})))


def test_role_ports_and_units() -> None:
    host = HostEntry(name="h", url="http://h:8643", roles=("reconciler", "worker", "reviewer", "dispatcher"))
    assert [role_port(host, r) for r in ("dispatcher", "worker", "reviewer", "reconciler")] == [8643, 8644, 8645, 8646]
    reviewer_only = HostEntry(name="r", url="http://r:9000", roles=("reconciler", "reviewer"))
    assert role_port(reviewer_only, "reviewer") == 9000  # the host's url reaches its first role's daemon
    assert role_port(reviewer_only, "reconciler") == 9001
    with pytest.raises(ValueError, match="has no 'worker' role"):
        role_port(reviewer_only, "worker")
    assert unit_name("worker") == "uni-wizard@worker.service"
    with pytest.raises(ValueError, match="unknown role"):
        unit_name("janitor")


def test_release_name_follows_the_wheels(tmp_path: Path) -> None:
    wheels = tmp_path / "wh"
    wheels.mkdir()
    (wheels / "uni_wizard-1.2.3-py3-none-any.whl").write_bytes(b"one")
    (wheels / "dep-1.0-py3-none-any.whl").write_bytes(b"dep")
    first = release_name(wheels)
    assert first.startswith("1.2.3-") and len(first) == len("1.2.3-") + 12
    assert release_name(wheels) == first
    tar = pack_wheelhouse(wheels, tmp_path / "packs")
    assert tar.name == f"{first}.tar"
    (wheels / "dep-1.0-py3-none-any.whl").write_bytes(b"dep, rebuilt")
    assert release_name(wheels) != first
    (wheels / "uni_wizard-1.2.4-py3-none-any.whl").write_bytes(b"two")
    with pytest.raises(DeployFailed, match="exactly one uni_wizard wheel"):
        release_name(wheels)


def test_parse_totals() -> None:
    assert parse_totals(RESULTS) == (3, 55, 0)
    assert parse_totals("\x1b[1m    Grand total  4  -  1  3\x1b[0m") == (0, 3, 1)
    with pytest.raises(DeployFailed, match="no result table"):
        parse_totals("--> pyinfra error: boom")


PROPOSED = """
--> Proposed changes:
    Operation                                   Change              Conditional Change
    group uni-wizard                            -                   -
    config /etc/uni-wizard/worker.yaml          1 (alpha)           -
    uni-wizard@worker.service restarted (...)   -                   2 (alpha, beta)
"""


def test_parse_proposed() -> None:
    assert parse_proposed(PROPOSED) == (1, 2, 1)
    with pytest.raises(DeployFailed, match="no proposed changes"):
        parse_proposed(RESULTS)


def test_run_deploy_drives_pyinfra(tmp_path: Path) -> None:
    wheels = tmp_path / "wh"
    wheels.mkdir()
    (wheels / "uni_wizard-0.1.0-py3-none-any.whl").write_bytes(b"w")
    inventory = write(tmp_path, {})
    calls: list[dict[str, Any]] = []

    def runner(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"argv": argv, **kwargs})
        return subprocess.CompletedProcess(argv, 0, RESULTS, "")

    report = run_deploy(inventory, wheels, runner=runner)
    assert (report.changed, report.unchanged, report.errors, report.ok) == (3, 55, 0, True)
    call = calls[0]
    assert call["argv"][1:3] == ["-m", "pyinfra"] and call["argv"][-1] == "-y"
    assert [Path(a).name for a in call["argv"][3:5]] == ["inventory.py", "deploy.py"]
    assert call["env"]["UNIWIZARD_INVENTORY"] == str(inventory.resolve())
    assert call["stdin"] == subprocess.DEVNULL and call["timeout"] > 0
    assert pyinfra_argv(dry=True)[-1] == "--dry" and "-y" not in pyinfra_argv(dry=True)

    def failing(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "--> pyinfra error: No hosts remaining!", "")

    with pytest.raises(DeployFailed, match="No hosts remaining"):
        run_deploy(inventory, wheels, runner=failing)


def test_the_cli_reports_a_bad_inventory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"settings": {"host": "x"}})
    assert main(["deploy", "--inventory", str(path), "--wheelhouse", str(tmp_path)]) == 2
    assert "settings.host" in capsys.readouterr().err
