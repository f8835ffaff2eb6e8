"""Playbooks: parse the fenced ``uni-wizard`` YAML block of an issue into a ``Plan``, strictly.

The grammar (the block, the document, a step, an expectation) is ``docs/PLAYBOOKS.md``. Anything
outside it is a ``PlaybookError`` whose message says what is wrong and where ("line 14, step 2
(file_write): unknown argument 'contnt' ..."), with lines counted in the issue body.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import PlaybookError, ToolCallError
from ..harness.result import Status
from ..policy.decide import DecisionContext, PolicyCall, decide
from ..policy.model import HousePolicy
from ..tools.registry import ToolRegistry
from ..tools.spec import ToolSpec
from .checks import OPS, RESULT_PATHS, has_placeholder
from .fence import INFO_STRING, find_playbook
from .types import Expectation, Op, Plan, Step

__all__ = ["INFO_STRING", "find_playbook", "parse_playbook"]


_STR_TAG = "tag:yaml.org,2002:str"
_TOP_KEYS = ("title", "steps")
_STEP_KEYS = ("tool", "name", "args", "expect")
_LONG_KEYS = ("path", "op", "value")
_ORDERING = frozenset({">", ">=", "<", "<="})
_FLAGS = frozenset({"exists", "truthy"})
_STATUSES = tuple(str(s) for s in Status)
_LISTED = "`uni-wizard tools` lists the tools"

_UNQUOTED_OP = re.compile(r"\bop\s*:\s*[>!|]")


def parse_playbook(text: str, *, registry: ToolRegistry, policy: HousePolicy, first_line: int = 1) -> Plan:
    """Parse and check a playbook (the block's content); ``first_line`` is the body line of its first line.

    Every tool must be registered and allowed by ``policy``'s allow/deny patterns, every argument must
    fit the tool's schema, every expectation must follow the grammar above.
    """
    return _Parser(registry, policy, first_line).plan(text)


@dataclass(frozen=True)
class _At:
    """Where a problem is: the step's 1-based number and its tool, once known."""

    step: int | None = None
    tool: str | None = None


_TOP = _At()


class _Reader:
    """Reading YAML nodes with errors that say where: line, column, step and tool."""

    def __init__(self, registry: ToolRegistry, policy: HousePolicy, first_line: int) -> None:
        self.registry = registry
        self.policy = policy
        self.first_line = first_line

    # -- plumbing ---------------------------------------------------------------------------------

    def error(self, message: str, line: int, at: _At = _TOP, *, column: int | None = None) -> PlaybookError:
        where = f"line {line}" + (f", column {column}" if column is not None else "")
        if at.step is not None:
            where += f", step {at.step}" + (f" ({at.tool})" if at.tool else "")
        return PlaybookError(f"{where}: {message}", line=line, step=at.step)

    def line(self, node: Node) -> int:
        return self.first_line + int(node.start_mark.line)

    def yaml_error(self, exc: yaml.YAMLError, text: str, at: _At = _TOP) -> PlaybookError:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        context_mark = getattr(exc, "context_mark", None)
        if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
            context += f" started on line {self.first_line + int(context_mark.line)}"
        message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
        if mark is None:
            return self.error(message, self.first_line, at)
        row = int(mark.line)
        rows = text.splitlines()
        if row < len(rows) and _UNQUOTED_OP.search(rows[row]):
            message += '; quote the operator, as in op: ">="'
        elif "tag" in problem and "!" in problem:
            message += "; quote a value that starts with '!'"
        return self.error(message, self.first_line + row, at, column=int(mark.column) + 1)

    def value(self, node: Node, at: _At) -> Any:
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise self.yaml_error(exc, "", at) from None
        except (ValueError, TypeError, OverflowError) as exc:  # an explicit tag that does not fit: !!int x
            raise self.error(
                f"cannot read the value {node.value!r} as {node.tag}: {exc}", self.line(node), at
            ) from None
        finally:
            loader.dispose()

    def text(self, node: Node, what: str, at: _At) -> str:
        if not isinstance(node, ScalarNode) or node.tag != _STR_TAG:
            shown = _kind(node) if not isinstance(node, ScalarNode) else repr(self.value(node, at))
            raise self.error(f"{what} must be text, not {shown}", self.line(node), at)
        if not node.value.strip():
            raise self.error(f"{what} is empty", self.line(node), at)
        return cast(str, node.value)

    def pairs(self, node: MappingNode, what: str, at: _At) -> list[tuple[str, Node, Node]]:
        """The mapping's (key, key node, value node) pairs; keys must be text and unique."""
        pairs: list[tuple[str, Node, Node]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR_TAG:
                shown = _kind(key_node) if not isinstance(key_node, ScalarNode) else repr(self.value(key_node, at))
                raise self.error(f"the keys of {what} must be names, not {shown}", self.line(key_node), at)
            key = cast(str, key_node.value)
            if key in seen:
                raise self.error(f"{what} has the key {key!r} twice", self.line(key_node), at)
            seen.add(key)
            pairs.append((key, key_node, value_node))
        return pairs

    def no_duplicates(self, node: Node, at: _At) -> None:
        """Reject a key given twice in any mapping under ``node`` (YAML would keep the last silently)."""
        if isinstance(node, MappingNode):
            seen: set[tuple[str, str]] = set()
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode):
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise self.error(f"the key {key_node.value!r} is given twice", self.line(key_node), at)
                    seen.add(key)
                self.no_duplicates(value_node, at)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                self.no_duplicates(item, at)


class _ExpectationReader(_Reader):
    """A step's ``expect`` list: each an output path, an operator and a value, checked against the tool."""

    # -- expectations -----------------------------------------------------------------------------

    def expectations(self, node: Node, at: _At) -> tuple[Expectation, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(
                f"expect must be a list of expectations (each line starting with '- '), not {_kind(node)}",
                self.line(node),
                at,
            )
        return tuple(self.expectation(item, at) for item in node.value)

    def expectation(self, node: Node, at: _At) -> Expectation:
        line = self.line(node)
        if not isinstance(node, MappingNode):
            raise self.error(
                'an expectation is a mapping such as {status: ok} or {path: output.passed, op: ">=", value: 1}, '
                f"not {_kind(node)}",
                line,
                at,
            )
        pairs = self.pairs(node, "an expectation", at)
        if not pairs:
            raise self.error("an expectation is empty", line, at)
        keys = [key for key, _, _ in pairs]
        if any(key in _LONG_KEYS for key in keys):
            for key, key_node, _ in pairs:
                if key not in _LONG_KEYS:
                    raise self.error(
                        f"unknown key {key!r} in an expectation with path/op/value (it takes only those three; "
                        "write each check as its own entry)",
                        self.line(key_node),
                        at,
                    )
            fields = {key: value_node for key, _, value_node in pairs}
            if "path" not in fields or "op" not in fields:
                missing = " and ".join(k for k in ("path", "op") if k not in fields)
                raise self.error(f"an expectation with {', '.join(keys)} also needs {missing}", line, at)
            path = self.text(fields["path"], "path", at)
            op_node = fields["op"]
            op = self.value(op_node, at)
            if op not in OPS:
                raise self.error(
                    f"unknown op {op!r}{_suggest(str(op), OPS)}: ops are {', '.join(OPS)} "
                    '(quote them in YAML, as in op: ">=")',
                    self.line(op_node),
                    at,
                )
            has_value = "value" in fields
            value = self.value(fields["value"], at) if has_value else None
        elif len(pairs) > 1:
            raise self.error(
                f"an expectation checks one thing, and this one has {len(pairs)} keys ({', '.join(keys)}): "
                "write one entry per check, or use the form {path: ..., op: ..., value: ...}",
                line,
                at,
            )
        else:
            path, _, value_node = pairs[0]
            op, has_value, value = "==", True, self.value(value_node, at)
        self.check_path(path, line, at)
        value = self.check_value(path, cast(Op, op), value, has_value, line, at)
        return Expectation(path=path, op=cast(Op, op), value=value)

    def check_path(self, path: str, line: int, at: _At) -> None:
        parts = path.split(".")
        if any(not part or part != part.strip() for part in parts):
            raise self.error(f"bad path {path!r}: write dotted names, as in output.passed", line, at)
        if parts[0] not in RESULT_PATHS:
            raise self.error(
                f"unknown path {path!r}{_suggest(parts[0], RESULT_PATHS)}: a path starts with one of "
                f"{', '.join(RESULT_PATHS)}",
                line,
                at,
            )
        if len(parts) > 1 and parts[0] != "output":
            raise self.error(f"bad path {path!r}: only output has fields below it", line, at)

    def check_value(self, path: str, op: Op, value: Any, has_value: bool, line: int, at: _At) -> Any:
        if op in _FLAGS:
            if has_value and not isinstance(value, bool):
                raise self.error(f"op {op} takes the value true or false (or none), not {value!r}", line, at)
            return value if has_value else True
        if not has_value:
            raise self.error(f"op {op!r} needs a value:", line, at)
        if path in ("status", "ok") and op not in ("==", "!="):
            raise self.error(f"{path} is compared with == or !=, not {op!r}", line, at)
        if path == "status" and value not in _STATUSES:
            raise self.error(f"status is one of {', '.join(_STATUSES)}, not {value!r}", line, at)
        if path == "ok" and not isinstance(value, bool):
            raise self.error(f"ok is true or false, not {value!r}", line, at)
        if op in _ORDERING and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise self.error(f"op {op!r} compares numbers, and {value!r} is not a number", line, at)
        if op == "contains" and not isinstance(value, str | int | float | bool):
            raise self.error(f"op 'contains' takes text, a number or a boolean, not {value!r}", line, at)
        return value


class _Parser(_ExpectationReader):
    """The playbook document: its steps, each a registered tool the house may call with valid arguments."""

    # -- the document -----------------------------------------------------------------------------

    def plan(self, text: str) -> Plan:
        try:
            for event in yaml.parse(text, Loader=yaml.SafeLoader):
                if isinstance(event, yaml.AliasEvent):
                    line = self.first_line + (int(event.start_mark.line) if event.start_mark is not None else 0)
                    raise self.error("YAML aliases (*name) are not allowed in a playbook; write the value out", line)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            raise self.yaml_error(exc, text) from None
        except RecursionError:
            raise self.error("the playbook is nested too deeply", self.first_line) from None
        if root is None:
            raise self.error(
                f"the {INFO_STRING} block is empty: give a list of steps, or a mapping with steps:", self.first_line
            )
        title, steps_node = self.document(root)
        if not isinstance(steps_node, SequenceNode):
            raise self.error(f"steps must be a list of steps, not {_kind(steps_node)}", self.line(steps_node))
        if not steps_node.value:
            raise self.error("the playbook has no steps", self.line(steps_node))
        steps = tuple(self.step(number, node) for number, node in enumerate(steps_node.value, start=1))
        return Plan(steps=steps, source="playbook", title=title)

    def document(self, root: Node) -> tuple[str, Node]:
        if isinstance(root, SequenceNode):
            return "", root
        if not isinstance(root, MappingNode):
            raise self.error(
                f"a playbook is a mapping with steps: (and an optional title:) or a list of steps, not {_kind(root)}",
                self.line(root),
            )
        title, steps = "", None
        for key, key_node, value_node in self.pairs(root, "the playbook", _TOP):
            if key == "title":
                title = self.text(value_node, "title", _TOP).strip()
            elif key == "steps":
                steps = value_node
            else:
                raise self.error(
                    f"unknown key {key!r}{_suggest(key, _TOP_KEYS)}: a playbook mapping has steps: and title:",
                    self.line(key_node),
                )
        if steps is None:
            raise self.error("the playbook has no steps: key (a list of steps)", self.line(root))
        return title, steps

    # -- steps ------------------------------------------------------------------------------------

    def step(self, number: int, node: Node) -> Step:
        at = _At(number)
        line = self.line(node)
        if not isinstance(node, MappingNode):
            raise self.error(f"a step is a mapping with tool: (and args:, expect:, name:), not {_kind(node)}", line, at)
        fields: dict[str, tuple[Node, Node]] = {}
        for key, key_node, value_node in self.pairs(node, "a step", at):
            if key not in _STEP_KEYS:
                raise self.error(
                    f"unknown key {key!r}{_suggest(key, _STEP_KEYS)}: a step has tool, args, expect and name",
                    self.line(key_node),
                    at,
                )
            fields[key] = (key_node, value_node)
        if "tool" not in fields:
            raise self.error("the step has no tool: key", line, at)
        spec = self.tool(fields["tool"][1], at)
        at = _At(number, spec.name)
        self.no_duplicates(node, at)
        name = self.text(fields["name"][1], "name", at).strip() if "name" in fields else ""
        args = self.args(fields["args"][1], spec, at) if "args" in fields else {}
        if "args" not in fields:
            self.validate({}, {}, spec, line, at)
        expect = self.expectations(fields["expect"][1], at) if "expect" in fields else ()
        return Step(tool=spec.name, args=args, expect=expect, line=line, name=name)

    def tool(self, node: Node, at: _At) -> ToolSpec:
        name = self.text(node, "tool", at)
        if name not in self.registry:
            raise self.error(
                f"unknown tool {name!r}{_suggest(name, self.registry.names())}; {_LISTED}", self.line(node), at
            )
        spec = self.registry.get(name)
        decision = decide(self.policy, PolicyCall(spec.name, spec.group, spec.mutates), DecisionContext())
        if not decision.allowed:
            raise self.error(decision.reason, self.line(node), _At(at.step, spec.name))
        return spec

    def args(self, node: Node, spec: ToolSpec, at: _At) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise self.error(
                f"args must be a mapping of argument names to values, not {_kind(node)}", self.line(node), at
            )
        pairs = self.pairs(node, "args", at)
        known = list(spec.parameters.get("properties", {}))
        for key, key_node, _ in pairs:
            if key not in known:
                takes = ", ".join(known) or "no arguments"
                raise self.error(
                    f"unknown argument {key!r}{_suggest(key, known)} ({spec.name} takes {takes})",
                    self.line(key_node),
                    at,
                )
        args = {key: self.value(value_node, at) for key, _, value_node in pairs}
        lines = {key: self.line(key_node) for key, key_node, _ in pairs}
        self.validate(args, lines, spec, self.line(node), at)
        return args

    def validate(self, args: dict[str, Any], lines: dict[str, int], spec: ToolSpec, line: int, at: _At) -> None:
        """Check ``args`` against the tool's schema, placeholders left in as text."""
        try:
            spec.validate(args)
        except ToolCallError as exc:
            message = str(exc).removeprefix(f"{spec.name}: ")
            names = _failing_args(spec, args)
            if any(has_placeholder(args.get(name)) for name in names):
                message += "; a placeholder such as {issue} is replaced by text, so it only fits a text argument"
            where = next((lines[name] for name in names if name in lines), line)
            raise self.error(message, where, at) from None


def _failing_args(spec: ToolSpec, args: dict[str, Any]) -> list[str]:
    """The argument names pydantic complains about, in its order (to point at the right line)."""
    try:
        spec.args_model.model_validate(args)
    except ValidationError as exc:
        return [str(err["loc"][0]) for err in exc.errors() if err["loc"]]
    return []


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    return f"the value {node.value!r}"


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
