"""Where a house's plan for an issue comes from: the issue's playbook first, else a model's planner.

``make_plan`` returns ``None`` when neither has a plan; the worker then posts ``NO_PLAN_MESSAGE``
(through ``report.render_blocked``). A playbook that is present but wrong raises ``PlaybookError``:
a bad playbook is never silently replaced by a model's guess.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..dispatch.types import IssueText
from ..policy.decide import DecisionContext, PolicyCall, decide
from ..policy.model import HousePolicy
from ..tools.registry import ToolRegistry
from ..tools.spec import ToolSpec
from .playbook import INFO_STRING, find_playbook, parse_playbook
from .types import Plan, Planner

__all__ = ["NO_PLAN_MESSAGE", "NoPlanner", "allowed_tools", "make_plan"]

NO_PLAN_MESSAGE = f"""\
This issue needs a playbook or a configured model: it has no `{INFO_STRING}` block, and this house has \
no model configured to plan the work, so nothing was run.

To have it done, edit the issue body and add one fenced code block whose info string is exactly \
`{INFO_STRING}`, holding YAML: a list of steps, or a mapping with `steps:` and an optional `title:` \
(the pull request's title). Each step has `tool:` (see `uni-wizard tools`), and optionally `args:` \
(a mapping; `{{worktree}}`, `{{issue}}`, `{{repo}}` and `{{branch}}` are filled in), `expect:` (a list) \
and `name:`. An expectation is either one `path: value` pair meaning "equals" (`status: ok`, \
`output.failed: 0`) or `{{path: ..., op: ..., value: ...}}` with op one of \
`==`, `!=`, `>`, `>=`, `<`, `<=`, `contains`, `exists`, `truthy` (quote the op in YAML).

````text
```{INFO_STRING}
title: Document the backup job
steps:
  - name: write the page
    tool: file_write
    args:
      path: "{{worktree}}/docs/backup.md"
      content: "# Backups\\n"
    expect:
      - status: ok
  - tool: run_tests
    args: {{workspace: "{{worktree}}"}}
    expect:
      - {{path: output.passed, op: ">=", value: 1}}
      - output.failed: 0
```
````
"""


class NoPlanner:
    """The planner of a house without a model: it never has a plan."""

    async def plan(self, issue: IssueText, house: str, tools: Sequence[ToolSpec]) -> Plan | None:
        return None


def allowed_tools(registry: ToolRegistry, policy: HousePolicy) -> tuple[ToolSpec, ...]:
    """The registered tools that ``policy``'s allow/deny patterns let its house use (what a model is shown)."""
    return tuple(
        spec
        for spec in registry
        if decide(policy, PolicyCall(spec.name, spec.group, spec.mutates), DecisionContext()).allowed
    )


async def make_plan(
    issue_body: str,
    *,
    registry: ToolRegistry,
    policy: HousePolicy,
    planner: Planner | None,
    issue: IssueText,
    house: str,
) -> Plan | None:
    """The issue's playbook, parsed and checked; else the planner's plan; else ``None``.

    ``PlaybookError`` (a playbook is there but is wrong) propagates. A planner's plan is marked
    ``source="model"``; its calls are checked by the Harness when they run, like any other.
    """
    found = find_playbook(issue_body)
    if found is not None:
        text, first_line = found
        return parse_playbook(text, registry=registry, policy=policy, first_line=first_line)
    if planner is None:
        return None
    plan = await planner.plan(issue, house, allowed_tools(registry, policy))
    if plan is None or not plan.steps:
        return None
    return plan if plan.source == "model" else dataclasses.replace(plan, source="model")
