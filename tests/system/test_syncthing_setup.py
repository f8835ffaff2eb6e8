"""The deploy's Syncthing pairing (uni_wizard/deployment/syncthing_setup.py) against two real, unpaired
Syncthing 1.19 instances on loopback: they end up connected and syncing the folder, a second run and a dry run
report "no change", and a drifted setting is put back. Waits are bounded, never timed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from syncthing_pair import SyncthingNode, SyncthingPair, syncthing_binary, wait_until

from uni_wizard.deployment.syncthing_setup import SyncthingHost, pair_mesh, seed_config
from uni_wizard.deployment.syncthing_tunnel import wait_connected

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(syncthing_binary() is None, reason="needs the syncthing binary (Debian package syncthing)"),
]

FOLDER_ID = "uni-wizard"


class UnpairedPair(SyncthingPair):
    """Two started instances that know nothing of each other: the deploy's pairing does the rest."""

    def _pair(self) -> None:
        return None


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[UnpairedPair]:
    with UnpairedPair(tmp_path, folder_id=FOLDER_ID) as started:
        yield started


def _hosts(pair: UnpairedPair) -> list[SyncthingHost]:
    return [
        SyncthingHost(n.name, n.url, n.api_key, f"tcp://127.0.0.1:{n.bep}", str(n.data))
        for n in (pair.alpha, pair.beta)
    ]


def test_pairing_connects_syncs_and_is_idempotent(pair: UnpairedPair) -> None:
    hosts = _hosts(pair)
    first = pair_mesh(hosts, FOLDER_ID)
    assert [r.device_id for r in first] == [pair.alpha.device_id, pair.beta.device_id]
    assert all(r.changes for r in first), [r.summary() for r in first]
    assert any("device beta added (tcp://127.0.0.1:" in c for c in first[0].changes)
    assert "device alpha added (dynamic)" in first[1].changes  # only alpha dials
    assert wait_connected(hosts, first, timeout=60)

    (pair.alpha.data / "hello.txt").write_text("from alpha")
    pair.alpha.api("POST", f"/rest/db/scan?folder={FOLDER_ID}")
    wait_until(lambda: (pair.beta.data / "hello.txt").is_file(), "hello.txt on beta")
    assert (pair.beta.data / "hello.txt").read_text() == "from alpha"

    again = pair_mesh(hosts, FOLDER_ID)
    assert [r.summary() for r in again] == ["alpha: no change", "beta: no change"]
    dry = pair_mesh(hosts, FOLDER_ID, dry=True)
    assert [r.changes for r in dry] == [[], []]


def test_drift_is_reported_and_put_back_dry_run_writes_nothing(pair: UnpairedPair) -> None:
    hosts = _hosts(pair)
    pair_mesh(hosts, FOLDER_ID)
    beta: SyncthingNode = pair.beta
    beta.api("PATCH", "/rest/config/options", {"relaysEnabled": True})
    beta.api("PATCH", f"/rest/config/folders/{FOLDER_ID}", {"devices": [{"deviceID": beta.device_id}]})

    dry = pair_mesh(hosts, FOLDER_ID, dry=True)
    assert dry[0].changes == []
    assert dry[1].changes == ["options relaysEnabled", f"folder {FOLDER_ID} updated (devices)"]
    assert beta.api("GET", "/rest/config/options")["relaysEnabled"] is True

    fixed = pair_mesh(hosts, FOLDER_ID)
    assert fixed[1].changes == dry[1].changes
    assert beta.api("GET", "/rest/config/options")["relaysEnabled"] is False
    assert [r.summary() for r in pair_mesh(hosts, FOLDER_ID)] == ["alpha: no change", "beta: no change"]


def test_seed_config_is_what_syncthing_reads(tmp_path: Path) -> None:
    root = ET.fromstring(seed_config("k<&>ey", "alpha"))
    gui = root.find("gui")
    assert gui is not None and gui.findtext("address") == "127.0.0.1:8384" and gui.findtext("apikey") == "k<&>ey"
    options = root.find("options")
    assert options is not None
    assert options.findtext("globalAnnounceEnabled") == "false"
    assert options.findtext("relaysEnabled") == "false"
    assert options.findtext("listenAddress") == "tcp://:22000"
