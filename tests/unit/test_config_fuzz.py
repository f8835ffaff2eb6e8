"""Fuzzing the settings loader and the CLI with broken settings files: random bytes, wrong types, unknown keys.

The contract for any file: ``load_settings`` returns ``Settings`` or raises ``ConfigError`` (never another
exception) whose message is one line naming the file; the CLI (``main``, in this process) exits 0 or 2 and,
on 2, prints exactly one ``error:`` line on stderr and writes nothing into the data directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uni_wizard.cli import main
from uni_wizard.config import Settings, load_settings
from uni_wizard.errors import ConfigError

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
FIELDS = sorted(Settings.model_fields)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
not_a_setting = st.text(min_size=1, max_size=20).filter(lambda key: key not in Settings.model_fields)
a_mapping = st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), min_size=1, max_size=3)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("STATE_DIRECTORY", "XDG_")):  # UNIWIZARD_*: tests/conftest.py
            monkeypatch.delenv(name)
    with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-home-") as home:
        monkeypatch.setenv("HOME", home)  # a file that loads uses the default data_dir: under this HOME
        yield


def check_load(path: Path) -> Settings | None:
    """``load_settings(path)``: settings, or ``None`` after checking the ``ConfigError`` keeps the contract."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert "\n" not in message and "\r" not in message, message
        return None


def check_cli(path: Path, data: Path) -> None:
    """``uni-wizard --config PATH provenance verify`` exits 0, or 2 with one line and nothing written."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["--config", str(path), "provenance", "verify"])
    if code == 0:
        return
    assert code == 2, err.getvalue()
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert not data.exists(), "a configuration error wrote into the data directory"


@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes_load_or_fail_in_one_line(raw: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
        path = Path(tmp) / "settings.yaml"
        path.write_bytes(raw)
        check_load(path)


@FUZZ
@given(text=st.text(max_size=200))
def test_random_text_loads_or_fails_in_one_line(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
        path = Path(tmp) / "settings.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        check_load(path)


def _write(tmp: str, mapping: dict[str, Any]) -> tuple[Path, Path]:
    data = Path(tmp) / "data"
    path = Path(tmp) / "settings.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(data), "workspace": tmp, **mapping}), encoding="utf-8")
    return path, data


@FUZZ
@given(extra=st.dictionaries(not_a_setting, values, min_size=1, max_size=3))
def test_unknown_keys_are_refused_naming_the_key(extra: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
        path, data = _write(tmp, extra)
        with pytest.raises(ConfigError) as caught:
            load_settings(path)
        named = {k if k.isprintable() else repr(k) for k in extra}  # a key that would break the line is quoted
        assert caught.value.source == str(path) and caught.value.key in named
        assert "\n" not in str(caught.value)
        check_cli(path, data)


@FUZZ
@given(key=st.sampled_from(FIELDS), value=a_mapping | st.lists(a_mapping, min_size=1, max_size=2))
def test_wrong_types_are_refused_naming_the_key(key: str, value: Any) -> None:
    """No setting takes a mapping, nor a list of mappings."""
    with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
        path, data = _write(tmp, {key: value})
        with pytest.raises(ConfigError) as caught:
            load_settings(path)
        assert caught.value.source == str(path) and str(caught.value.key).split(".")[0] == key
        assert "\n" not in str(caught.value)
        check_cli(path, data)


@FUZZ
@given(mapping=st.dictionaries(st.sampled_from(FIELDS), values, max_size=4))
def test_any_values_of_known_keys_load_or_fail_in_one_line(mapping: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
        path, data = _write(tmp, {k: v for k, v in mapping.items() if k not in ("data_dir", "workspace")})
        if check_load(path) is None:
            check_cli(path, data)
