"""Where a house's plan for an issue comes from: the issue's playbook first, else a model's planner.

``make_plan`` returns ``None`` when neither has a plan; with no model either, the worker posts
``no_plan_message`` (through ``report.render_blocked``): why no model took the issue, which file and key give
it one (the cascade file in force and its ``providers``, the ``planner`` setting), and what a playbook looks
like. A playbook that is present but wrong raises ``PlaybookError``: a bad playbook is never silently
replaced by a model's guess.
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
from .types import ModelCheck, ModelSetup, Plan, Planner

__all__ = ["PLAYBOOK_HELP", "NoPlanner", "allowed_tools", "make_plan", "no_model_reason", "no_plan_message"]

PLAYBOOK_HELP = f"""\
**Or give the issue a playbook**: edit the issue body and add one fenced code block whose info string is \
exactly `{INFO_STRING}`, holding YAML: a list of steps, or a mapping with `steps:` and an optional `title:` \
(the pull request's title). Each step has `tool:` (see `uni-wizard tools`), and optionally `args:` \
(a mapping; `{{worktree}}`, `{{issue}}`, `{{repo}}` and `{{branch}}` are filled in), `expect:` (a list) \
and `name:`. An expectation is either one `path: value` pair meaning "equals" (`status: ok`, \
`output.failed: 0`) or `{{path: ..., op: ..., value: ...}}` with op one of \
`==`, `!=`, `>`, `>=`, `<`, `<=`, `contains`, `exists`, `truthy` (quote the op in YAML). \
`run_tests` runs the repository's `test_command` from `.uni-wizard.yaml`, or the runner it detects \
(docs/PLAYBOOKS.md).

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

PROVIDER_EXAMPLE = """\
```yaml
providers:
  - name: ollama
    kind: ollama                   # or openai-compatible: llama.cpp, vLLM, ... (a url ending in /v1)
    url: http://127.0.0.1:11434
    models: [{name: "llama3.2:3b", context: 8192}]
```"""


def no_model_reason(setup: ModelSetup, check: ModelCheck | None) -> str:
    """Why no model took the issue, as a clause ("the setting `planner` is `playbook`...")."""
    if setup.planner == "playbook":
        return f"this worker's setting `planner` is `playbook` ({_origin(setup)}), so it never asks a model"
    if check is not None:
        return f"no model provider of the cascade file `{setup.cascade_file}` can take it now"
    return "this worker has no model planner"


def _origin(setup: ModelSetup) -> str:
    return "its default" if setup.planner_from == "default" else f"set by {setup.planner_from}"


def no_plan_message(setup: ModelSetup, check: ModelCheck | None = None) -> str:
    """The comment on an issue with no playbook that no model can plan: why, what to set (the cascade file in
    force and ``providers``, the ``planner`` setting), and what a playbook looks like."""
    lines = [
        f"This issue needs a playbook or a configured model: it has no `{INFO_STRING}` block, and "
        f"{no_model_reason(setup, check)}, so nothing was run.",
        "",
    ]
    if check is not None and check.problems:
        lines += ["What the worker found when it asked the providers:", ""]
        lines += [f"- {problem}" for problem in check.problems]
        lines.append("")
    copy = (
        " (that file is the one shipped with uni-wizard: copy it, edit the copy, and point the setting "
        "`cascade_config` at the copy)"
        if setup.shipped
        else ""
    )
    lines += [
        "**To let a model plan issues like this one**, run a model server on a host this worker can reach "
        "(Ollama, or an OpenAI-compatible server such as llama.cpp or vLLM) and name it under the key "
        f"`providers` of the cascade file in force, `{setup.cascade_file}`{copy}:",
        "",
        PROVIDER_EXAMPLE,
        "",
        f"The setting `planner` (now `{setup.planner}`, {_origin(setup)}) must be `auto` (the default: "
        "the model plans when one of the providers answers) or `model` (always): `planner: auto` in the settings "
        "file, or `UNIWIZARD_PLANNER=auto`. `uni-wizard cascade status` shows what each provider answers. Then "
        "relabel this issue `status/routed`.",
        "",
        PLAYBOOK_HELP,
    ]
    return "\n".join(lines)


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
