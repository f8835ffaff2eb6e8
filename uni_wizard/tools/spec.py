"""``@tool``: a typed function whose docstring describes every argument becomes a ``ToolSpec``.

    @tool(group="git", risk=Risk.LOW)
    async def git_status(repo_path: ReadPath) -> dict[str, Any]:
        '''Show the working tree status of a repository.

        Args:
            repo_path: Path of the repository's working tree.
        '''

The JSON schema comes from the signature (pydantic builds it), the descriptions
from the docstring's ``Args:`` section. A parameter without a type hint or
without a description, a missing return hint, or a parameter named like one of
the Harness's own keywords fails at import with ``ToolDefinitionError``.

A parameter annotated ``ToolEnv`` is not an argument: the Harness injects the
environment (HTTP transport, forge settings, /proc root...) there. Nor is one annotated
``DecidedFacts | None``: the Harness injects the facts the policy decided on (a direct caller passes
nothing and the tool works them out itself), so the tool acts on exactly what was allowed.

``requires_rule`` names a boolean of the house policy's ``rules`` the tool needs whatever the allow
lists say (approving needs ``may_approve``). ``facts`` is an async hook the Harness awaits before
the policy decision, for what the policy must know beyond the arguments (which branch a push
targets, the forge's default branch); the facts are recorded with the call's provenance, so a
later check replays the decision on what was decided, never on a re-derivation.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..errors import ToolCallError, ToolDefinitionError
from ..policy.paths import PathAccess
from .env import ToolEnv

__all__ = ["DecidedFacts", "ReadPath", "Risk", "ToolSpec", "WritePath", "tool"]


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DecidedFacts(dict[str, Any]):
    """The facts (``ToolSpec.facts``) the policy decided a call on, handed to the tool by the Harness."""


ReadPath = Annotated[str, PathAccess.READ]
WritePath = Annotated[str, PathAccess.WRITE]

RESERVED_NAMES = frozenset({"name", "self"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")

# Facts: optional async hook computing what the policy needs to know about a call beyond its
# arguments (for example which branch a push targets), given the validated arguments and the ToolEnv.
FactsHook = Callable[[Mapping[str, Any], ToolEnv], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, eq=False)
class ToolSpec:
    """A registered tool: its function, its metadata and its argument schema."""

    name: str
    group: str
    description: str
    fn: Callable[..., Any]
    parameters: dict[str, Any]
    args_model: type[BaseModel]
    mutates: bool = False
    idempotent: bool = True
    risk: Risk = Risk.LOW
    timeout: float = 30.0
    path_args: Mapping[str, PathAccess] = field(default_factory=dict)
    env_param: str | None = None
    facts_param: str | None = None
    facts: FactsHook | None = None
    requires_rule: str | None = None
    is_async: bool = False

    @property
    def qualified_name(self) -> str:
        """``group:name``, what policy globs match against."""
        return f"{self.group}:{self.name}"

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``args`` against the schema; return them with defaults filled in.

        Raises ``ToolCallError`` naming every unknown, missing or mistyped argument.
        """
        try:
            model = self.args_model.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(_describe(err) for err in exc.errors())
            raise ToolCallError(f"{self.name}: {problems}") from None
        return dict(model.__dict__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def describe(self) -> dict[str, Any]:
        """The tool as data: what ``uni-wizard tools --json`` and a model see."""
        return {
            "name": self.name,
            "group": self.group,
            "description": self.description,
            "parameters": self.parameters,
            "mutates": self.mutates,
            "idempotent": self.idempotent,
            "risk": str(self.risk),
            "timeout": self.timeout,
        }


def _describe(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "arguments"
    if err["type"] == "extra_forbidden":
        return f"unknown argument {where!r}"
    if err["type"] == "missing":
        return f"missing argument {where!r}"
    return f"argument {where!r}: {err['msg']} (got {err['input']!r})"


def tool(
    *,
    group: str,
    mutates: bool = False,
    idempotent: bool | None = None,
    risk: Risk = Risk.LOW,
    timeout: float = 30.0,
    facts: FactsHook | None = None,
    requires_rule: str | None = None,
) -> Callable[[Callable[..., Any]], ToolSpec]:
    """Turn a typed, documented function into a ``ToolSpec``.

    ``idempotent`` defaults to ``not mutates``; only idempotent tools are retried. ``requires_rule``
    names the ``rules`` flag of the house policy the tool needs (``may_approve``).
    """

    def wrap(fn: Callable[..., Any]) -> ToolSpec:
        return build_spec(
            fn,
            group=group,
            mutates=mutates,
            idempotent=(not mutates) if idempotent is None else idempotent,
            risk=risk,
            timeout=timeout,
            facts=facts,
            requires_rule=requires_rule,
        )

    return wrap


@dataclass
class _Signature:
    """What a tool function's signature says: its argument fields, path arguments and injected parameters."""

    fields: dict[str, Any] = field(default_factory=dict)
    path_args: dict[str, PathAccess] = field(default_factory=dict)
    env_param: str | None = None
    facts_param: str | None = None


def build_spec(
    fn: Callable[..., Any],
    *,
    group: str,
    mutates: bool,
    idempotent: bool,
    risk: Risk,
    timeout: float,
    facts: FactsHook | None,
    requires_rule: str | None = None,
) -> ToolSpec:
    name = fn.__name__
    if not _NAME_RE.match(name):
        raise ToolDefinitionError(f"tool name {name!r} must be lower_snake_case")
    description, arg_docs = parse_docstring(fn)
    if not description:
        raise ToolDefinitionError(f"tool {name!r} has no docstring summary")
    signature = _read_signature(fn, name, arg_docs)
    model = create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **signature.fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return ToolSpec(
        name=name,
        group=group,
        description=description,
        fn=fn,
        parameters=schema,
        args_model=model,
        mutates=mutates,
        idempotent=idempotent,
        risk=risk,
        timeout=timeout,
        path_args=signature.path_args,
        env_param=signature.env_param,
        facts_param=signature.facts_param,
        facts=facts,
        requires_rule=requires_rule,
        is_async=inspect.iscoroutinefunction(fn),
    )


def _read_signature(fn: Callable[..., Any], name: str, arg_docs: Mapping[str, str]) -> _Signature:
    """The fields of the tool's argument model; ``ToolDefinitionError`` for what a tool may not declare."""
    try:
        hints = get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot resolve a type hint: {exc}") from exc
    if "return" not in hints:
        raise ToolDefinitionError(f"tool {name!r} has no return type hint")
    signature = _Signature()
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {name!r}: *args/**kwargs are not allowed ({pname})")
        if pname not in hints:
            raise ToolDefinitionError(f"tool {name!r}: parameter {pname!r} has no type hint")
        hint = hints[pname]
        if hint is ToolEnv:
            signature.env_param = pname
            continue
        if hint == DecidedFacts | None:
            signature.facts_param = pname
            continue
        if pname in RESERVED_NAMES:
            raise ToolDefinitionError(f"tool {name!r}: parameter name {pname!r} is reserved")
        if pname not in arg_docs:
            raise ToolDefinitionError(f"tool {name!r}: parameter {pname!r} is not described under Args:")
        access = _path_access(hint)
        if access is not None:
            signature.path_args[pname] = access
        default = ... if param.default is param.empty else param.default
        signature.fields[pname] = (hint, Field(default, description=arg_docs[pname]))
    extra = set(arg_docs) - set(signature.fields)
    if extra:
        raise ToolDefinitionError(f"tool {name!r}: Args: describes unknown parameters {sorted(extra)}")
    return signature


def _path_access(hint: Any) -> PathAccess | None:
    if get_origin(hint) is Annotated:
        for meta in get_args(hint)[1:]:
            if isinstance(meta, PathAccess):
                return meta
    return None


def parse_docstring(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and the ``Args:`` descriptions."""
    doc = inspect.getdoc(fn) or ""
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for raw in doc.splitlines():
        line = raw.strip()
        header = line.rstrip(":").lower()
        if line.endswith(":") and header in {"args", "arguments", "parameters", "returns", "raises", "example"}:
            section, current = header, None
            continue
        if section is None:
            if line or summary_lines:
                summary_lines.append(line)
            continue
        if section not in {"args", "arguments", "parameters"} or not line:
            continue
        match = _ARG_LINE.match(line) if not raw.startswith(" " * 8) else None
        if match:
            current = match.group(1).lstrip("*")
            args[current] = match.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line}".strip()
    summary = " ".join(" ".join(summary_lines).split())
    return summary, {k: v for k, v in args.items() if v}
