"""Fuzzing every configuration loader besides the settings file (tests/unit/test_config_fuzz.py has that one):
the house files, the triage, review, cascade and mesh files, a playbook and a repository's ``.uni-wizard.yaml``.

A shipped file is broken at a random place (a value replaced by a random one, an unknown key added, or the file
replaced by random text). The loader returns its model or raises its one error class (``ConfigError`` for the
configuration files, ``PlaybookError`` for a playbook, ``ToolCallError`` for ``.uni-wizard.yaml``) with a
one-line message naming the file (or the playbook's line); never another exception. The configuration files
also go through ``uni-wizard serve --config FILE`` (the port held busy, so that a file that loads ends the start
too): exit 2, one ``error:`` line naming the file when the loader refused it, no traceback, nothing written.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uni_wizard.cascade.config import load_cascade_config
from uni_wizard.cli import main
from uni_wizard.config import default_houses_dir
from uni_wizard.dispatch.config import default_triage_path, load_triage_config
from uni_wizard.errors import ConfigError, PlaybookError, ToolCallError
from uni_wizard.meshfile.schema import load_mesh_config
from uni_wizard.policy import load_houses, load_policy
from uni_wizard.review.config import default_review_path, load_review_config
from uni_wizard.tools.builtin import builtin_registry
from uni_wizard.tools.runners import CONFIG_FILE, find_suite
from uni_wizard.work.playbook import parse_playbook

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
REPO = Path(__file__).resolve().parents[2]
MESH = {"hosts": [{"name": "test-host", "url": "http://127.0.0.1:1", "houses": ["timmy"]}]}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """``doc`` with one place broken: a value replaced, or an unknown key added, somewhere down a random path."""
    if not isinstance(doc, dict | list) or not doc or data.draw(st.integers(0, 3)) == 0:
        if isinstance(doc, dict) and data.draw(st.booleans()):
            return {**doc, data.draw(st.text(min_size=1, max_size=8)): data.draw(values)}
        return data.draw(values)
    if isinstance(doc, dict):
        key = data.draw(st.sampled_from(sorted(doc, key=str)))
        return {**doc, key: _mutate(doc[key], data)}
    index = data.draw(st.integers(0, len(doc) - 1))
    return [*doc[:index], _mutate(doc[index], data), *doc[index + 1 :]]


def _broken_text(original: Any, data: st.DataObject) -> str:
    if data.draw(st.integers(0, 4)) == 0:
        return data.draw(st.text(max_size=120))
    return yaml.safe_dump(_mutate(original, data), allow_unicode=True)


def _one_line(message: str) -> None:
    assert "\n" not in message and "\r" not in message, message


def check_loader(load: Callable[[Path], Any], path: Path) -> bool:
    """True when ``path`` loads; False after checking the ``ConfigError`` names it in one line."""
    try:
        load(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        _one_line(str(exc))
        return False
    return True


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def private_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("STATE_DIRECTORY", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)


def check_serve(tmp: Path, port: int, extra: dict[str, Any], blamed: Path | None) -> None:
    """``serve --config`` exits 2 in one line (naming ``blamed`` when set) and writes nothing."""
    data = tmp / "data"
    config = tmp / "settings.yaml"
    values = {"data_dir": str(data), "workspace": str(tmp), "host": "test-host", "port": port, **extra}
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["serve", "--config", str(config)])
    lines = err.getvalue().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err.getvalue()
    assert "Traceback" not in err.getvalue()
    if blamed is not None:
        assert lines[0].startswith(f"error: {blamed}"), lines[0]
    assert not data.exists(), "a configuration error wrote into the data directory"


FORGE = {"gitea_url": "http://127.0.0.1:1", "gitea_token": "fuzz-token"}
CASES: dict[str, tuple[Path, Callable[[Path], Any], Callable[[Path], dict[str, Any]]]] = {
    "triage": (default_triage_path(), load_triage_config, lambda p: {"triage_config": str(p), "roles": ["dispatcher"], **FORGE}),
    "review": (
        default_review_path(),
        load_review_config,
        lambda p: {"review_config": str(p), "roles": ["reviewer"], "house": "timmy", **FORGE},
    ),
    "cascade": (REPO / "configs" / "cascade.yaml", load_cascade_config, lambda p: {"cascade_config": str(p)}),
    "mesh": (REPO / "configs" / "mesh.example.yaml", load_mesh_config, lambda p: {"mesh_config": str(p)}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_broken_configuration_file_fails_in_one_line(name: str, busy_port: int) -> None:
    shipped, load, settings_for = CASES[name]
    original = yaml.safe_load(shipped.read_text(encoding="utf-8"))

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(_broken_text(original, data), encoding="utf-8", errors="surrogatepass")
            loads = check_loader(load, path)
            check_serve(Path(tmp), busy_port, settings_for(path), None if loads else path)

    fuzz()


def test_a_broken_house_file_fails_in_one_line(busy_port: int) -> None:
    shipped = default_houses_dir()
    original = yaml.safe_load((shipped / "ezra.yaml").read_text(encoding="utf-8"))

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
            houses = Path(tmp) / "houses"
            shutil.copytree(shipped, houses)
            path = houses / "ezra.yaml"
            path.write_text(_broken_text(original, data), encoding="utf-8", errors="surrogatepass")
            loads = check_loader(load_policy, path)
            if loads:
                with contextlib.suppress(ConfigError):  # the file loads alone but may clash with the others
                    load_houses(houses)
            check_serve(Path(tmp), busy_port, {"houses_dir": str(houses)}, None if loads else path)

    fuzz()


REGISTRY = builtin_registry()
POLICY = load_houses(default_houses_dir())["bezalel"]
STEPS = [{"tool": "file_read", "args": {"path": "README.md"}, "expect": [{"path": "ok", "op": "==", "value": True}]}]


@FUZZ
@given(data=st.data())
def test_a_broken_playbook_fails_in_one_line(data: st.DataObject) -> None:
    text = _broken_text({"title": "fuzz", "steps": STEPS}, data)
    try:
        parse_playbook(text, registry=REGISTRY, policy=POLICY, first_line=3)
    except PlaybookError as exc:
        _one_line(str(exc))
        assert str(exc).startswith("line "), str(exc)


@FUZZ
@given(data=st.data())
def test_a_broken_repository_settings_file_fails_in_one_line(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory(prefix="uniwizard-fuzz-") as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / CONFIG_FILE).write_text(_broken_text({"test_command": ["pytest", "-q"]}, data), errors="surrogatepass")
        try:
            find_suite(root)
        except ToolCallError as exc:
            _one_line(str(exc))
            assert str(exc).startswith(str(root / CONFIG_FILE)), str(exc)
