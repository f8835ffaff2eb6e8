"""``uni-wizard mesh prometheus-config``: the scrape configuration made from a mesh file (mesh/prometheus_config.py);
the committed configs/prometheus/prometheus.example.yml is exactly what the command makes of
configs/mesh.example.yaml, and ``promtool check config`` accepts it with its rule files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from uni_wizard.cli import main
from uni_wizard.errors import ConfigError
from uni_wizard.mesh.prometheus_config import prometheus_config, render_prometheus_config
from uni_wizard.meshfile.schema import HostEntry, MeshConfig, load_mesh_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_MESH = ROOT / "configs" / "mesh.example.yaml"
EXAMPLE = ROOT / "configs" / "prometheus" / "prometheus.example.yml"
PROMTOOL = shutil.which("promtool")


def test_the_committed_example_is_what_the_generator_makes() -> None:
    made = render_prometheus_config(load_mesh_config(EXAMPLE_MESH), source=EXAMPLE_MESH.name)
    assert EXAMPLE.read_text(encoding="utf-8") == made, (
        "run: uni-wizard mesh prometheus-config --mesh "
        "configs/mesh.example.yaml --out configs/prometheus/prometheus.example.yml (from configs/prometheus)"
    )


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)")
def test_promtool_accepts_the_example_and_finds_the_rule_files() -> None:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "config", EXAMPLE.name], cwd=EXAMPLE.parent, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(list((ROOT / 'configs' / 'alerts').glob('*.yml')))} rule files found" in done.stdout


def test_every_host_is_a_target_labelled_with_its_name_roles_and_houses() -> None:
    config = prometheus_config(load_mesh_config(EXAMPLE_MESH))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "uni-wizard" and job["metrics_path"] == "/metrics"
    assert job["static_configs"][0] == {
        "targets": ["10.0.0.1:8643"],
        "labels": {"host": "sovereign", "roles": "reviewer,dispatcher,reconciler", "houses": "timmy"},
    }
    assert [c["labels"]["host"] for c in job["static_configs"]] == ["sovereign", "vps-a", "vps-b"]
    assert config["rule_files"] == ["../alerts/*.yml"]


def test_https_default_ports_and_path_prefixes_become_target_labels() -> None:
    mesh = MeshConfig(
        hosts=(
            HostEntry(name="tls", url="https://mesh.example/uw/"),
            HostEntry(name="v6", url="http://[::1]:8643", roles=("worker",), houses=("ezra",)),
        )
    )
    tls, v6 = prometheus_config(mesh, rule_files=("rules/*.yml",))["scrape_configs"][0]["static_configs"]
    assert tls == {
        "targets": ["mesh.example:443"],
        "labels": {"host": "tls", "roles": "", "houses": "", "__scheme__": "https", "__metrics_path__": "/uw/metrics"},
    }
    assert v6["targets"] == ["[::1]:8643"]


@pytest.mark.parametrize("url", ["ftp://h:21", "http://:8643", "http://h:99999"])
def test_an_unusable_host_url_is_a_config_error_naming_the_host(url: str) -> None:
    with pytest.raises(ConfigError, match=r"hosts\.h\.url"):
        prometheus_config(MeshConfig(hosts=(HostEntry(name="h", url=url),)))


def test_a_mesh_without_hosts_is_refused() -> None:
    with pytest.raises(ConfigError, match="no hosts"):
        prometheus_config(MeshConfig())


def test_the_command_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prometheus.yml"
    code = main(["mesh", "prometheus-config", "--mesh", str(EXAMPLE_MESH), "--out", str(out), "--rules", "a.yml"])
    assert code == 0
    assert "3 hosts" in capsys.readouterr().out
    assert yaml.safe_load(out.read_text())["rule_files"] == ["a.yml"]


def test_the_command_prints_without_out_and_needs_a_mesh_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["mesh", "prometheus-config", "--mesh", str(EXAMPLE_MESH)]) == 0
    assert capsys.readouterr().out == EXAMPLE.read_text(encoding="utf-8")
    monkeypatch.delenv("UNIWIZARD_MESH_CONFIG", raising=False)
    assert main(["mesh", "prometheus-config"]) == 2
    assert "no mesh file" in capsys.readouterr().err
