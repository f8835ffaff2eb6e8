"""The settings table of docs/OPERATIONS.md is generated from ``Settings`` and kept up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from uni_wizard.config import Settings
from uni_wizard.config_docs import BEGIN, END, FACTORY_DEFAULTS, embed, main, render_table
from uni_wizard.errors import ConfigError

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"


def test_the_operations_table_is_up_to_date() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert embed(text) == text, "docs/OPERATIONS.md's settings table is out of date: run `make settings-docs`"


def test_every_setting_has_a_row_and_a_useful_description() -> None:
    table = render_table()
    for name, field in Settings.model_fields.items():
        assert f"| `{name}` |" in table and f"`UNIWIZARD_{name.upper()}`" in table
        assert field.description and len(field.description) >= 25, f"{name}: describe it (Field description=...)"


def test_a_default_computed_on_the_host_is_described_not_printed() -> None:
    computed = {name for name, field in Settings.model_fields.items() if field.default_factory is not None}
    assert computed == set(FACTORY_DEFAULTS)
    assert "| `host` | string | this machine's hostname |" in render_table()


def test_types_show_bounds_lists_and_choices() -> None:
    table = render_table()
    assert "| `port` | integer 0..65535 | `8643` |" in table
    assert "| `roles` | list of strings (`a,b` or JSON in the variable) | `[]` |" in table
    assert "| `gitea_token` | secret (optional) | unset |" in table
    assert "one of `auto`, `playbook`, `model`" in table


def test_embedding_needs_the_markers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="markers"):
        embed("no table here", source="x.md")
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{BEGIN}\nstale\n{END}\nafter\n", encoding="utf-8")
    assert main(["--write", str(doc)]) == 0
    written = doc.read_text(encoding="utf-8")
    assert "stale" not in written and written.startswith("before\n") and written.endswith(f"{END}\nafter\n")
    assert render_table() in written
