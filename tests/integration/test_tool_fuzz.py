"""Every tool, any arguments: the Harness only ever answers with a Result, and every call is on record.

Hypothesis draws arguments for each registered tool from its own JSON schema, mixed with hostile
values: NUL bytes, lone surrogates, overlong names, paths outside the roots, a FIFO, a symlink out,
negative, huge and non-finite numbers, wrong types, unknown and missing keys. Each call runs through
a real Harness (INTELLIGENT mode, a real store, real git, the sandbox for run_tests) against a forge
and web server on loopback. Whatever comes in, the call returns ``ok``, ``error``, ``denied``,
``timeout`` or ``pending_approval`` — never an exception — and leaves exactly one provenance record.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback_http import LoopbackServer
from worlds import plain_runtime

from uni_wizard import Call, Harness, Mode, Status
from uni_wizard.harness.runtime import Runtime
from uni_wizard.testing import RecordingSleep
from uni_wizard.tools.builtin import builtin_registry

TOOLS = [spec.name for spec in builtin_registry()]
HOUSES = ["timmy", "bezalel", "ezra", "allegro"]
TOKEN = "fuzz-token-123456"
SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class World:
    """A runtime whose workspace holds a file, a git repository, a FIFO and a symlink out of the roots."""

    def __init__(self, runtime: Runtime, forge: LoopbackServer) -> None:
        self.forge = forge
        self.runtime = runtime
        ws = Path(runtime.settings.workspace).resolve()
        (ws / "sub").mkdir()
        (ws / "file.txt").write_text("hello\nworld\n")
        subprocess.run(["git", "init", "-q", "-b", "main", str(ws / "repo")], check=True)
        (ws / "repo" / "a.py").write_text("x = 1\n")
        os.mkfifo(ws / "fifo")
        (ws / "out").symlink_to("/etc", target_is_directory=True)
        self.workspace = ws

    def paths(self) -> list[str]:
        ws = self.workspace
        return [
            str(ws), str(ws / "file.txt"), str(ws / "sub"), str(ws / "repo"), str(ws / "repo" / ".git" / "config"),
            str(ws / "fifo"), str(ws / "out"), str(ws / "out" / "passwd"), str(ws / "new" / "deep.txt"),
            "/etc/passwd", "..", "~", "", ".", "/", "/proc/self/environ", "/dev/zero",
        ]  # fmt: skip

    def urls(self) -> list[str]:
        return [self.forge.url, f"{self.forge.url}/x?access_token=t0ken123456", "ftp://127.0.0.1/", "http://", ""]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("fuzz")
    with (
        LoopbackServer() as forge,
        plain_runtime(root, gitea_url=forge.url, gitea_token=TOKEN, sleep=RecordingSleep()) as runtime,
    ):
        yield World(runtime, forge)


HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\0", "a\0b", "\udcff", "\ud800", "-f", "--output=/tmp/x", "../" * 40, "x" * 5000, "é" * 300]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _for(schema: dict[str, Any], name: str, world: World) -> st.SearchStrategy[Any]:
    """Values for one parameter: what its schema says, hostile variants of it, and now and then anything."""
    if "anyOf" in schema:
        return st.one_of(*[_for(option, name, world) for option in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "string":
        known = world.paths() if "path" in name or name == "workspace" else world.urls() if name == "url" else []
        known += ["main", "origin", "owner/repo", "mesh/work", "a" * 40, "HEAD", "*", "(a+)+$", "utf-8", "start"]
        plausible = st.sampled_from(known)
        return st.one_of(plausible, plausible, plausible, HOSTILE_TEXT)
    if kind == "integer":
        plausible_int = st.integers(1, 20)
        return st.one_of(plausible_int, plausible_int, st.integers(min_value=-(2**63), max_value=2**63))
    if kind == "number":
        plausible_float = st.floats(0.01, 3.0)
        return st.one_of(plausible_float, plausible_float, st.floats(allow_nan=True, allow_infinity=True))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(_for(schema.get("items", {"type": "string"}), name, world), max_size=4)
    if kind == "object":
        return st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=3)
    if kind == "null":
        return st.none()
    return ANY_JSON


@st.composite
def arguments(draw: st.DrawFn, tool: str, world: World) -> dict[str, Any]:
    schema = world.runtime.registry.get(tool).parameters
    args: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        required = name in schema.get("required", [])
        if not required and draw(st.booleans()):
            continue
        if required and draw(st.integers(0, 30)) == 0:
            continue  # a missing required argument
        args[name] = draw(ANY_JSON) if draw(st.integers(0, 12)) == 0 else draw(_for(prop, name, world))
    if draw(st.integers(0, 15)) == 0:
        args[draw(st.text(min_size=1, max_size=8))] = draw(ANY_JSON)  # an unknown argument
    return args


ANSWERS = {Status.OK, Status.ERROR, Status.DENIED, Status.TIMEOUT, Status.PENDING_APPROVAL}


@pytest.mark.parametrize("tool", TOOLS)
def test_any_arguments_give_a_result_and_a_record(world: World, tool: str) -> None:
    @SETTINGS
    @given(house=st.sampled_from(HOUSES), args=arguments(tool, world))
    def one(house: str, args: dict[str, Any]) -> None:
        before = world.runtime.provenance.count()
        harness = Harness(house, Mode.INTELLIGENT, runtime=world.runtime)
        result = harness.execute_many([Call(tool, args, timeout=5)])[0]  # never raises
        assert result.status in ANSWERS
        assert result.tool == tool and result.house == house
        json.dumps(result.as_dict(), default=str)  # the API can always send it
        assert result.provenance_id is not None, result
        assert world.runtime.provenance.count() == before + 1
        assert world.runtime.provenance.get(result.provenance_id).tool == tool
        if result.status in (Status.ERROR, Status.TIMEOUT, Status.DENIED):
            assert result.error_type and result.error, result

    one()


def test_the_chain_still_verifies_after_the_fuzz(world: World) -> None:
    assert world.runtime.provenance.verify() == world.runtime.provenance.count()
