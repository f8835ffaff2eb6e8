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

from .model import HousePolicy, Mode, Rules, highest
from .paths import PathAccess

__all__ = ["Decision", "DecisionContext", "PathArg", "PolicyCall", "decide", "mode_for"]


@dataclass(frozen=True)
class PathArg:
    """A path argument as given and as resolved (``os.path.realpath``), with what is there."""

    name: str
    access: PathAccess
    given: str
    resolved: str
    is_file: bool = False
    git_metadata: str | None = None  # the .git directory or git directory the path is inside, if any


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
        f"set workspace (UNIWIZARD_WORKSPACE) to a folder that holds it, or change paths.{kind} in "
        f"houses/{policy.name}.yaml through an approved PR"
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
    """Decide whether ``policy`` lets its house make ``call`` now: the first rule that fires decides, in
    the order deny, a required ``rules`` flag, allow, paths and git metadata, read-before-write, the
    default branch, then the rules that allow with an approval.

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
    denial = _paths_denial(policy, call) or _read_before_write(policy, call, context) or _default_branch(policy, call)
    if denial is not None:
        return denial
    return _approval(policy, call, context) or Decision(True, f"allowed by {allowed_by!r}", "allow")


def _paths_denial(policy: HousePolicy, call: PolicyCall) -> Decision | None:
    """A path outside the house's roots, or a write inside git's own metadata."""
    for arg in call.paths:
        reason = _path_denial(policy, arg)
        if reason is not None:
            return Decision(False, reason, "paths")
        if arg.access is PathAccess.WRITE and arg.git_metadata is not None:
            return Decision(
                False,
                f"{policy.name} may not write {arg.resolved!r}: it is inside git's own metadata ({arg.git_metadata}), "
                "where a file could make git run commands; work in the working tree (git tools change the repository)",
                "git_metadata",
            )
    return None


def _read_before_write(policy: HousePolicy, call: PolicyCall, context: DecisionContext) -> Decision | None:
    if not policy.rules.read_before_write:
        return None
    for arg in call.paths:
        if arg.access is PathAccess.WRITE and arg.is_file and arg.resolved not in context.read_paths:
            return Decision(
                False,
                f"{policy.name} must read {arg.resolved!r} before writing it (read_before_write): "
                "call file_read on it earlier in the same task",
                "read_before_write",
            )
    return None


def _default_branch(policy: HousePolicy, call: PolicyCall) -> Decision | None:
    branch, default = call.facts.get("branch"), call.facts.get("default_branch")
    if branch is not None and branch == default and not policy.rules.may_push_default_branch:
        return Decision(
            False,
            f"{policy.name} may not push the default branch {default!r}: push a branch such as "
            f"'{policy.name}/<topic>' and open a pull request",
            "push_default_branch",
        )
    return None


def _approval(policy: HousePolicy, call: PolicyCall, context: DecisionContext) -> Decision | None:
    """An allowed call that runs only after a sovereign approval (the tool's glob, or SOVEREIGN mode)."""
    qualified = call.qualified_name
    approval_by = _first_match(policy.tools.needs_approval, qualified, call.tool)
    if approval_by is not None:
        return Decision(
            True,
            f"{qualified} needs a sovereign approval for {policy.name} (tools.needs_approval {approval_by!r})",
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
    return None


def mode_for(policy: HousePolicy, call: PolicyCall, asked: Mode) -> Mode:
    """The mode the call runs in: ``asked``, raised to the policy's floor for the tool (never lowered)."""
    floor = policy.mode_floor
    modes = [asked, floor.all]
    if call.mutates:
        modes.append(floor.mutating)
    for pattern, mode in floor.tools.items():
        if _compiled(pattern).match(call.qualified_name) or _compiled(pattern).match(call.tool):
            modes.append(mode)
    return highest(*modes)
