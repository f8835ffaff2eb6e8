"""What the policy decides a call on: its path arguments (checked as text, resolved, anchored) and the
facts its tool's hook finds; and the descriptors the tool then acts through (``tools/anchor.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ToolCallError, ToolExecutionError
from ..policy.decide import PathArg, PolicyCall
from ..policy.paths import PathAccess
from ..tools.anchor import AnchoredPath, PathChanged, anchor, check_path_text, git_metadata
from ..tools.env import ToolEnv
from ..tools.spec import ToolSpec

__all__ = ["anchor_all", "policy_call"]


async def policy_call(spec: ToolSpec, values: Mapping[str, Any], env: ToolEnv) -> PolicyCall:
    """The paths as given and resolved, and the facts the tool's hook finds. ``ToolCallError`` for a path
    no file can have; ``ToolExecutionError`` when a path changes while resolved or the facts cannot be found."""
    if not spec.path_args and spec.facts is None and spec.requires_rule is None:
        return PolicyCall(spec.name, spec.group, spec.mutates)
    for name in spec.path_args:
        given = values.get(name)
        if isinstance(given, str) and given:
            check_path_text(name, given)
    paths = tuple(
        _path_arg(name, access, str(values[name]))
        for name, access in spec.path_args.items()
        if values.get(name) not in (None, "")
    )
    facts: dict[str, Any] = {"requires_rule": spec.requires_rule} if spec.requires_rule else {}
    if spec.facts is not None:  # what the policy needs beyond the arguments (git: the pushed branch)
        try:
            facts |= await spec.facts(values, env)
        except (ToolCallError, ToolExecutionError):
            raise
        except Exception as exc:  # a facts probe that broke: the call cannot be decided, so it does not run
            raise ToolExecutionError(
                f"{spec.name}: what the policy needs to know could not be found: {type(exc).__name__}: {exc}"
            ) from exc
    return PolicyCall(spec.name, spec.group, spec.mutates, paths, facts)


def _path_arg(name: str, access: PathAccess, given: str) -> PathArg:
    try:
        resolved = os.path.realpath(os.path.expanduser(given))
    except OSError as exc:  # a component changed while it was being resolved
        raise PathChanged(f"argument {name!r}: {given} changed while it was being resolved ({exc.strerror})") from None
    metadata = git_metadata(resolved) if access is PathAccess.WRITE else None
    return PathArg(name, access, given, resolved, os.path.isfile(resolved), metadata)


def anchor_all(paths: Iterable[PathArg]) -> dict[str, AnchoredPath]:
    """Open each checked path without following symlinks (``tools/anchor.py``); all or none."""
    opened: dict[str, AnchoredPath] = {}
    try:
        for arg in paths:
            opened[arg.name] = anchor(arg.resolved)
    except BaseException:
        for value in opened.values():
            value.release()
        raise
    return opened
