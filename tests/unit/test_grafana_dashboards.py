"""The Grafana dashboards of configs/grafana: valid against Grafana's own dashboard JSON Schema (10.1, from
grafana/grafana-foundation-sdk, kept in tests/fixtures/grafana), the five the observatory names, every panel
with a PromQL target on metrics the package really exports, and provisioning files Grafana can load.

That each expression returns data from real daemons is tests/integration/test_observatory.py's to show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from exported_metrics import exported_names, unknown_names, used_names

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "configs" / "grafana"
SCHEMA = ROOT / "tests" / "fixtures" / "grafana" / "dashboard.v10.1.jsonschema.json"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
TITLES = {"Mesh overview", "Harness and tools", "Cascade", "Forge and webhooks", "Upgrades and deploys"}


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_the_five_dashboards_are_there_with_unique_uids() -> None:
    boards = [load(path) for path in DASHBOARDS]
    assert {b["title"] for b in boards} == TITLES
    assert len({b["uid"] for b in boards}) == len(boards)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_a_dashboard_is_valid_against_grafanas_schema(path: Path, validator: jsonschema.Draft7Validator) -> None:
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(load(path))]
    assert errors == []


def test_the_schema_catches_what_grafana_would_refuse(validator: jsonschema.Draft7Validator) -> None:
    board = load(DASHBOARDS[0])
    board["refresh"] = 5  # a number where Grafana wants a duration string
    board["panels"][0]["gridPos"]["h"] = "8"
    del board["editable"]
    assert len(list(validator.iter_errors(board))) == 3


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_queries_metrics_the_package_exports(path: Path) -> None:
    exported = exported_names()
    board = load(path)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert used_names(expr), f"{panel['title']}: no metric in {expr!r}"
            assert unknown_names(expr, exported) == set(), f"{panel['title']}: {expr}"
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_the_provisioning_files_load_the_dashboards_and_the_datasource() -> None:
    (provider,) = yaml.safe_load((GRAFANA / "provisioning/dashboards/uni-wizard.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "${UNIWIZARD_GRAFANA_DASHBOARDS}"
    (source,) = yaml.safe_load((GRAFANA / "provisioning/datasources/uni-wizard.yaml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    for path in DASHBOARDS:  # the `datasource` variable picks a Prometheus source: the provisioned default
        (variable,) = load(path)["templating"]["list"]
        assert variable["type"] == "datasource" and variable["query"] == "prometheus"
