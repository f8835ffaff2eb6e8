"""@tool: schemas from signatures and docstrings, definition errors at import, argument validation."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from uni_wizard.errors import DuplicateToolError, ToolCallError, ToolDefinitionError
from uni_wizard.policy.paths import PathAccess
from uni_wizard.tools.builtin import BUILTIN_TOOLS, builtin_registry
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.registry import ToolRegistry
from uni_wizard.tools.spec import ReadPath, Risk, WritePath, tool


@tool(group="demo", mutates=True, risk=Risk.HIGH, timeout=5)
async def copy(
    env: ToolEnv, source: ReadPath, target: WritePath, times: int = 1, mode: Literal["a", "b"] = "a"
) -> dict[str, Any]:
    """Copy a file.

    Args:
        source: File to read.
        target: File to write; the description
            continues on a second line.
        times: How many copies.
        mode: Which mode.
    """
    return {"source": source, "target": target, "times": times, "env": env is not None}


def test_schema_comes_from_signature_and_docstring() -> None:
    assert copy.description == "Copy a file."
    props = copy.parameters["properties"]
    assert set(props) == {"source", "target", "times", "mode"}  # env is injected, not an argument
    assert props["source"] == {"type": "string", "description": "File to read."}
    assert props["target"]["description"] == "File to write; the description continues on a second line."
    assert props["times"] == {"type": "integer", "default": 1, "description": "How many copies."}
    assert props["mode"]["enum"] == ["a", "b"]
    assert copy.parameters["required"] == ["source", "target"]
    assert copy.parameters["additionalProperties"] is False


def test_metadata_and_path_roles() -> None:
    assert (copy.group, copy.mutates, copy.idempotent, copy.risk, copy.timeout) == ("demo", True, False, Risk.HIGH, 5)
    assert copy.qualified_name == "demo:copy"
    assert copy.path_args == {"source": PathAccess.READ, "target": PathAccess.WRITE}
    assert copy.env_param == "env" and copy.is_async
    assert copy.describe()["risk"] == "high"


def test_validate_fills_defaults_and_names_every_problem() -> None:
    assert copy.validate({"source": "a", "target": "b"}) == {"source": "a", "target": "b", "times": 1, "mode": "a"}
    with pytest.raises(ToolCallError) as err:
        copy.validate({"source": "a", "times": "many", "colour": "red"})
    message = str(err.value)
    assert "missing argument 'target'" in message
    assert "argument 'times'" in message and "'many'" in message
    assert "unknown argument 'colour'" in message


def _define(fn: Any) -> None:
    tool(group="x")(fn)


def test_missing_type_hint_fails_at_definition() -> None:
    def no_hint(a) -> str:  # type: ignore[no-untyped-def]
        """Do.

        Args:
            a: thing.
        """
        return "x"

    with pytest.raises(ToolDefinitionError, match="'a' has no type hint"):
        _define(no_hint)


def test_undescribed_argument_fails_at_definition() -> None:
    def undocumented(a: int, b: int) -> int:
        """Add.

        Args:
            a: first.
        """
        return a + b

    with pytest.raises(ToolDefinitionError, match="'b' is not described"):
        _define(undocumented)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("def f(a: int):\n    '''Do.\n\n    Args:\n        a: x.\n    '''\n", "no return type hint"),
        ("def f(a: int) -> int:\n    return a\n", "no docstring summary"),
        ("def f(*a: int) -> int:\n    '''Do.\n\n    Args:\n        a: x.\n    '''\n", r"\*args/\*\*kwargs"),
        ("def f(name: str) -> int:\n    '''Do.\n\n    Args:\n        name: x.\n    '''\n", "reserved"),
        (
            "def f(a: int) -> int:\n    '''Do.\n\n    Args:\n        a: x.\n        z: y.\n    '''\n",
            "unknown parameters",
        ),
        ("def F(a: int) -> int:\n    '''Do.\n\n    Args:\n        a: x.\n    '''\n", "lower_snake_case"),
    ],
)
def test_definition_errors(source: str, match: str) -> None:
    scope: dict[str, Any] = {}
    exec(source, scope)
    fn = next(v for k, v in scope.items() if callable(v) and k != "__builtins__")
    with pytest.raises(ToolDefinitionError, match=match):
        _define(fn)


def test_registry_refuses_duplicates_and_names_unknown_tools() -> None:
    registry = ToolRegistry([copy])
    with pytest.raises(DuplicateToolError) as err:
        registry.register(copy)
    assert err.value.name == "copy" and isinstance(err.value, ValueError)
    with pytest.raises(ToolCallError, match="unknown tool 'nope'"):
        registry.get("nope")
    assert "copy" in registry and registry.names() == ["copy"] and len(registry) == 1


def test_builtin_set() -> None:
    registry = builtin_registry()
    assert len(registry) == len(BUILTIN_TOOLS) >= 24
    assert registry.groups() == ["file", "git", "gitea", "memory", "network", "proof", "review", "system"]
    for spec in registry:
        assert spec.description
        for name, prop in spec.parameters.get("properties", {}).items():
            assert prop.get("description"), f"{spec.name}.{name} has no description"
    mutating = {s.name for s in registry if s.mutates}
    assert {"file_write", "git_commit", "git_push", "service_control", "http_post", "run_tests"} <= mutating
    assert not {"git_status", "file_read", "file_search"} & mutating
