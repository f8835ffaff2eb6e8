"""The parts of the deploy's Syncthing setup that need no Syncthing: which hosts get it, the folder path rule,
and the SSH port forwarding command."""

from __future__ import annotations

import pytest
import yaml

from uni_wizard.deployment.inventory import HostPlan
from uni_wizard.deployment.syncthing_setup import host_syncthing
from uni_wizard.deployment.syncthing_tunnel import ssh_forward_argv
from uni_wizard.errors import ConfigError

MESH = "/etc/uni-wizard/configs/mesh.yaml"
HOSTS = [{"name": "a", "url": "http://10.0.0.1:8643", "roles": ["worker"], "houses": ["h"]}]


def _files(syncthing: dict[str, object] | None) -> dict[str, str]:
    mesh: dict[str, object] = {"hosts": HOSTS}
    if syncthing is not None:
        mesh["syncthing"] = syncthing
    return {MESH: yaml.safe_dump(mesh)}


def test_without_a_syncthing_section_nothing_happens() -> None:
    assert host_syncthing(_files(None), {}) is None


def test_with_a_section_the_settings_and_the_key_file() -> None:
    found = host_syncthing(_files({"folder_path": "/var/lib/uni-wizard/mesh"}), {"syncthing_api_key": "/k"})
    assert found is not None
    settings, key_file = found
    assert (settings.folder_id, str(settings.folder_path), key_file) == ("uni-wizard", "/var/lib/uni-wizard/mesh", "/k")


def test_the_api_key_secret_is_required() -> None:
    with pytest.raises(ConfigError, match="syncthing_api_key"):
        host_syncthing(_files({"folder_path": "/var/lib/uni-wizard/mesh"}), {})


@pytest.mark.parametrize("path", ["/srv/mesh", "/var/lib/uni-wizard", "/var/lib/uni-wizard/syncthing"])
def test_the_folder_lives_where_the_daemons_may_write(path: str) -> None:
    with pytest.raises(ConfigError, match="syncthing.folder_path"):
        host_syncthing(_files({"folder_path": path}), {"syncthing_api_key": "/k"})


def test_the_tunnel_reaches_only_the_loopback_api_with_the_inventory_ssh_settings() -> None:
    plan = HostPlan(
        name="a",
        address="10.0.0.1",
        roles=("worker",),
        config_files={},
        secrets={},
        ssh={
            "ssh_user": "root",
            "ssh_port": 2222,
            "ssh_key": "/keys/id",
            "ssh_known_hosts_file": "/keys/kh",
            "ssh_strict_host_key_checking": "yes",
        },
    )
    argv = ssh_forward_argv(plan, 40001)
    assert argv[:2] == ["ssh", "-N"] and argv[-1] == "root@10.0.0.1"
    assert argv[argv.index("-L") + 1] == "127.0.0.1:40001:127.0.0.1:8384"
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-i") + 1] == "/keys/id"
    assert "UserKnownHostsFile=/keys/kh" in argv and "BatchMode=yes" in argv and "ExitOnForwardFailure=yes" in argv
