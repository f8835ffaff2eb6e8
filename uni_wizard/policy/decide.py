"""``decide(policy, call, context) -> Decision``: one pure function in front of every tool call.

Everything that needs I/O (resolving symlinks, whether a file exists, which
branch a push targets) is found out by the Harness beforehand and handed in as
``PolicyCall`` fields, so this module reads no file and is tested from a table.

A tool that only some houses may use whatever their allow lists say (approving and merging pull
requests) declares it through its facts hook: ``{"requires_rule": "may_approve"}``. The named
boolean in the policy's ``rules`` must be true, or the call is denied with that rule's name, even
when a pattern in ``tools.allow`` (``*``, ``review:*``) matches the tool.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from functools import lru_cache

from ..tools.spec import PathAccess
from .model import HousePolicy, Mode, Rules

__all__ = ["Decision", "DecisionContext", "PathArg", "PolicyCall", "decide"]


@dataclass(frozen=True)
class PathArg:
    """A path argument as given and as resolved (``os.path.realpath``), with what is there."""

    name: str
    access: PathAccess
    given: str
    resolved: str
    is_file: bool = False


@dataclass(frozen=True)
class PolicyCall:
    tool: str
    group: str
    mutates: bool = False
    paths: tuple[PathArg, ...] = ()
    facts: Mapping[str, object] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.group}:{self.tool}"


@dataclass(frozen=True)
class DecisionContext:
    mode: Mode = Mode.INTELLIGENT
    read_paths: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    """``rule`` names what decided: allow, deny, paths, read_before_write, push_default_branch,
    needs_approval, sovereign_mode, or the ``rules`` flag a tool requires (may_approve, may_merge...).
    ``reason`` is a sentence a person can act on."""

    allowed: bool
    reason: str
    rule: str
    needs_approval: bool = False


@lru_cache(maxsize=4096)
def _first_match(patterns: tuple[str, ...], qualified: str, name: str) -> str | None:
    for pattern in patterns:
        regex = _compiled(pattern)
        if regex.match(qualified) or regex.match(name):
            return pattern
    return None


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _path_denial(policy: HousePolicy, arg: PathArg) -> str | None:
    write_roots = policy.paths.write
    roots = write_roots if arg.access is PathAccess.WRITE else policy.paths.read + write_roots
    if _under(arg.resolved, roots):
        return None
    kind = "write" if arg.access is PathAccess.WRITE else "read"
    shown = ", ".join(dict.fromkeys(roots)) or "none"
    via = (
        f"{arg.given!r} resolves (through a symlink or '..') to {arg.resolved!r}, which is"
        if os.path.abspath(arg.given) != arg.resolved
        else f"{arg.resolved!r} is"
    )
    return (
        f"{policy.name} may not {kind} there: {via} outside its {kind} roots ({shown}); "
        f"change paths.{kind} in houses/{policy.name}.yaml through an approved PR to allow it"
    )


_RULE_WORDS = {"may_approve": "approve pull requests", "may_merge": "merge pull requests"}


def _required_rules(call: PolicyCall) -> tuple[str, ...]:
    wanted = call.facts.get("requires_rule")
    if wanted is None:
        return ()
    if isinstance(wanted, str):
        return (wanted,)
    if isinstance(wanted, list | tuple | frozenset | set):
        return tuple(str(rule) for rule in wanted)
    return (str(wanted),)


def _rule_denial(policy: HousePolicy, call: PolicyCall) -> Decision | None:
    """A denial when the call requires a ``rules`` flag the policy does not set (an unknown flag denies)."""
    house = policy.name
    for rule in _required_rules(call):
        value = getattr(policy.rules, rule) if rule in Rules.model_fields else None
        if value is True:
            continue
        if not isinstance(value, bool):
            return Decision(
                False,
                f"{house} may not use {call.qualified_name}: it requires the rule {rule!r}, which house "
                "policies do not have",
                "requires_rule",
            )
        what = _RULE_WORDS.get(rule, f"use {call.qualified_name}")
        return Decision(
            False,
            f"{house} may not {what}: rules.{rule} is false in houses/{house}.yaml, and {call.qualified_name} "
            f"requires it (the Harness refuses before the forge is asked)",
            rule,
        )
    return None


def decide(policy: HousePolicy, call: PolicyCall, context: DecisionContext) -> Decision:
    """Decide whether ``policy`` lets its house make ``call`` now.

    >>> decide(ezra, PolicyCall("git_push", "git", mutates=True), DecisionContext()).reason
    "ezra may not use git:git_push: ..."
    """
    qualified, name, house = call.qualified_name, call.tool, policy.name
    denied_by = _first_match(policy.tools.deny, qualified, name)
    if denied_by is not None:
        return Decision(
            False,
            f"{house} may not use {qualified}: it matches the deny pattern {denied_by!r} in houses/{house}.yaml",
            "deny",
        )
    required = _rule_denial(policy, call)  # before the allow list: it holds even where `*` allows the tool
    if required is not None:
        return required
    allowed_by = _first_match(policy.tools.allow, qualified, name)
    if allowed_by is None:
        return Decision(
            False,
            f"{house} may not use {qualified}: no pattern in tools.allow of houses/{house}.yaml matches it",
            "allow",
        )
    for arg in call.paths:
        reason = _path_denial(policy, arg)
        if reason is not None:
            return Decision(False, reason, "paths")
    if policy.rules.read_before_write:
        for arg in call.paths:
            if arg.access is PathAccess.WRITE and arg.is_file and arg.resolved not in context.read_paths:
                return Decision(
                    False,
                    f"{house} must read {arg.resolved!r} before writing it (read_before_write): "
                    "call file_read on it earlier in the same task",
                    "read_before_write",
                )
    branch, default = call.facts.get("branch"), call.facts.get("default_branch")
    if branch is not None and branch == default and not policy.rules.may_push_default_branch:
        return Decision(
            False,
            f"{house} may not push the default branch {default!r}: push a branch such as "
            f"'{house}/<topic>' and open a pull request",
            "push_default_branch",
        )
    approval_by = _first_match(policy.tools.needs_approval, qualified, name)
    if approval_by is not None:
        return Decision(
            True,
            f"{qualified} needs a sovereign approval for {house} (tools.needs_approval {approval_by!r})",
            "needs_approval",
            needs_approval=True,
        )
    if context.mode is Mode.SOVEREIGN and call.mutates:
        return Decision(
            True,
            f"{qualified} changes things, and SOVEREIGN mode runs it only after approval",
            "sovereign_mode",
            needs_approval=True,
        )
    return Decision(True, f"allowed by {allowed_by!r}", "allow")
