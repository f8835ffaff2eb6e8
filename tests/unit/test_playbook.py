"""Playbooks: finding the block, the strict grammar (table-driven), and where a plan comes from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from uni_wizard.config import default_houses_dir
from uni_wizard.dispatch.types import IssueText
from uni_wizard.errors import PlaybookError
from uni_wizard.policy import load_houses
from uni_wizard.tools.builtin import builtin_registry
from uni_wizard.tools.registry import ToolRegistry
from uni_wizard.tools.spec import ToolSpec
from uni_wizard.work.planner import PLAYBOOK_HELP, NoPlanner, allowed_tools, make_plan, no_plan_message
from uni_wizard.work.playbook import find_playbook, parse_playbook
from uni_wizard.work.types import Expectation, ModelSetup, Plan, Step

REGISTRY = builtin_registry()
HOUSES = load_houses(default_houses_dir())


def parse_body(body: str, house: str = "bezalel") -> Plan:
    found = find_playbook(body)
    assert found is not None, "no uni-wizard block"
    text, first_line = found
    return parse_playbook(text, registry=REGISTRY, policy=HOUSES[house], first_line=first_line)


def block(yaml_text: str, before: str = "Please do this.\n\n") -> str:
    """An issue body: some prose, then the playbook (its content starts on line 4 with the default prose)."""
    return f"{before}```uni-wizard\n{yaml_text}```\n\nThanks.\n"


# -- find_playbook --------------------------------------------------------------------------------


def test_find_returns_content_and_its_first_line() -> None:
    body = "Title line\n\nSome text\n```uni-wizard\n- tool: git_status\n  args: {repo_path: x}\n```\nafter\n"
    assert find_playbook(body) == ("- tool: git_status\n  args: {repo_path: x}", 5)


@pytest.mark.parametrize(
    "body",
    [
        "no block at all",
        "```yaml\n- tool: git_status\n```\n",
        "```uni-wizard extra\n- tool: git_status\n```\n",
        "```Uni-Wizard\n- tool: git_status\n```\n",
        # a block shown inside another fenced block is an example, not a playbook
        "````markdown\n```uni-wizard\n- tool: git_status\n```\n````\n",
        "    ```uni-wizard\n    - tool: git_status\n    ```\n",  # four spaces: an indented code block
    ],
    ids=["none", "yaml-block", "info-with-more-words", "case", "nested-in-fence", "indented-code"],
)
def test_find_ignores_what_is_not_a_playbook(body: str) -> None:
    assert find_playbook(body) is None


def test_find_accepts_tildes_crlf_and_indented_fences() -> None:
    assert find_playbook("a\r\n~~~~uni-wizard\r\n- tool: x\r\n~~~~\r\n") == ("- tool: x", 3)
    assert find_playbook("  ```uni-wizard\n  - tool: x\n    args: {}\n  ```\n") == ("- tool: x\n  args: {}", 2)
    assert find_playbook("```uni-wizard\n```\n") == ("", 2)


def test_two_blocks_name_both_lines() -> None:
    body = "x\n```uni-wizard\n- tool: a\n```\n\ny\n~~~uni-wizard\n- tool: b\n~~~\n"
    with pytest.raises(PlaybookError) as caught:
        find_playbook(body)
    assert "lines 2 and 7" in str(caught.value)
    assert caught.value.line == 7


def test_unclosed_block_is_an_error() -> None:
    with pytest.raises(PlaybookError, match=r"^line 3: the ```uni-wizard block is not closed"):
        find_playbook("a\n\n```uni-wizard\n- tool: x\n")


# -- good playbooks -------------------------------------------------------------------------------

GOOD = """\
title: Document the backup job
steps:
  - name: write the page
    tool: file_write
    args:
      path: "{worktree}/docs/backup.md"
      content: "Issue {issue} on {branch} of {repo}; braces {kept}\\n"
    expect:
      - status: ok
      - ok: true
      - output.bytes_written: 41
      - {"output.path": "/w/docs/backup.md"}
  - tool: run_tests
    args: {workspace: "{worktree}", timeout: 120}
    expect:
      - {path: output.passed, op: ">=", value: 1}
      - {path: output.failed, op: "==", value: 0}
      - {path: output.command, op: contains, value: pytest}
      - {path: output.runner, op: "!=", value: unknown}
      - {path: output.errors, op: "<", value: 1}
      - {path: output.skipped, op: "<=", value: 3}
      - {path: duration, op: ">", value: 0.5}
      - {path: error, op: exists, value: false}
      - {path: output.exit_code, op: exists}
      - {path: output.stdout_tail, op: truthy}
      - {path: output.files.0.path, op: truthy, value: false}
  - tool: git_status
    args: {repo_path: "{worktree}"}
"""


def test_good_playbook_with_every_expect_form() -> None:
    plan = parse_body(block(GOOD))
    assert plan.title == "Document the backup job"
    assert plan.source == "playbook"
    assert [(s.tool, s.name, s.line) for s in plan.steps] == [
        ("file_write", "write the page", 6),
        ("run_tests", "", 16),
        ("git_status", "", 30),
    ]
    write, tests, status = plan.steps
    assert write.args == {
        "path": "{worktree}/docs/backup.md",
        "content": "Issue {issue} on {branch} of {repo}; braces {kept}\n",
    }
    assert write.expect == (
        Expectation("status", "==", "ok"),
        Expectation("ok", "==", True),
        Expectation("output.bytes_written", "==", 41),
        Expectation("output.path", "==", "/w/docs/backup.md"),
    )
    assert tests.args == {"workspace": "{worktree}", "timeout": 120}
    assert tests.expect == (
        Expectation("output.passed", ">=", 1),
        Expectation("output.failed", "==", 0),
        Expectation("output.command", "contains", "pytest"),
        Expectation("output.runner", "!=", "unknown"),
        Expectation("output.errors", "<", 1),
        Expectation("output.skipped", "<=", 3),
        Expectation("duration", ">", 0.5),
        Expectation("error", "exists", False),
        Expectation("output.exit_code", "exists", True),
        Expectation("output.stdout_tail", "truthy", True),
        Expectation("output.files.0.path", "truthy", False),
    )
    assert status == Step("git_status", {"repo_path": "{worktree}"}, (), 30, "")


def test_a_bare_list_of_steps_is_a_playbook() -> None:
    plan = parse_body(block("- tool: system_info\n- tool: git_log\n  args: {repo_path: /r, max_count: 5}\n"))
    assert [s.tool for s in plan.steps] == ["system_info", "git_log"]
    assert plan.title == ""
    assert plan.steps[0].args == {}


def test_a_tool_that_needs_approval_is_allowed_by_the_parser() -> None:
    # allegro's policy lets it use http_post only after approval: the Harness waits, the parser accepts
    plan = parse_body(block("- tool: http_post\n  args: {url: 'http://x/{issue}'}\n"), house="allegro")
    assert plan.steps[0].tool == "http_post"


def test_the_example_in_the_no_plan_message_is_a_valid_playbook() -> None:
    inner = no_plan_message(ModelSetup()).split("````text\n", 1)[1].split("````", 1)[0]
    plan = parse_body(inner)
    assert [s.tool for s in plan.steps] == ["file_write", "run_tests"]
    assert plan.title == "Document the backup job"


# -- bad playbooks: every case in playbook_cases.yaml -------------------------------------------

BAD: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "playbook_cases.yaml").read_text())


@pytest.mark.parametrize("case", BAD, ids=[c["id"] for c in BAD])
def test_bad_playbook(case: dict[str, Any]) -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_body(block(case["playbook"]), house=case["house"])
    error = caught.value
    assert case["error"] in str(error)
    assert str(error).startswith(f"line {case['line']}")
    assert (error.line, error.step) == (case["line"], case["step"])
    assert isinstance(error, ValueError)


def test_the_cases_cover_the_brief() -> None:
    ids = {c["id"] for c in BAD}
    assert len(ids) == len(BAD)
    assert {"yaml-syntax", "scalar", "unknown-step-key", "missing-tool", "unknown-tool"} <= ids
    assert {"denied-ezra-http-post", "denied-allegro-file-write"} <= ids
    assert {"unknown-arg", "wrong-type", "placeholder-in-int", "expect-unknown-op", "expect-two-keys"} <= ids


def test_first_line_defaults_to_one() -> None:
    with pytest.raises(PlaybookError, match=r"^line 2, step 2: unknown tool 'nope'"):
        parse_playbook("- tool: system_info\n- tool: nope\n", registry=REGISTRY, policy=HOUSES["bezalel"])


# -- make_plan ------------------------------------------------------------------------------------


class FixedPlanner:
    """A planner that records the tools it was shown and answers with a fixed plan."""

    def __init__(self, plan: Plan | None) -> None:
        self.answer = plan
        self.seen: list[tuple[int, str, tuple[str, ...]]] = []

    async def plan(self, issue: IssueText, house: str, tools: Sequence[ToolSpec]) -> Plan | None:
        self.seen.append((issue.number, house, tuple(t.name for t in tools)))
        return self.answer


ISSUE = IssueText(number=7, title="Do a thing")


async def _make(body: str, planner: Any, house: str = "ezra", registry: ToolRegistry = REGISTRY) -> Plan | None:
    return await make_plan(body, registry=registry, policy=HOUSES[house], planner=planner, issue=ISSUE, house=house)


async def test_make_plan_prefers_the_playbook() -> None:
    planner = FixedPlanner(Plan((Step("git_status"),), source="model"))
    plan = await _make(block("- tool: system_info\n"), planner)
    assert plan is not None and plan.source == "playbook" and plan.steps[0].tool == "system_info"
    assert planner.seen == []


async def test_make_plan_asks_the_planner_with_the_allowed_tools_only() -> None:
    planner = FixedPlanner(Plan((Step("git_status", {"repo_path": "{worktree}"}),), source="playbook"))
    plan = await _make("no playbook here", planner)
    assert plan is not None and plan.source == "model"
    ((number, house, shown),) = planner.seen
    assert (number, house) == (7, "ezra")
    assert "file_read" in shown and "http_get" in shown
    assert "http_post" not in shown and "gitea_create_issue" not in shown and "service_control" not in shown
    assert set(shown) == {t.name for t in allowed_tools(REGISTRY, HOUSES["ezra"])}


async def test_make_plan_without_a_plan_is_none() -> None:
    assert await _make("no playbook", None) is None
    assert await _make("no playbook", NoPlanner()) is None
    assert await _make("no playbook", FixedPlanner(Plan(()))) is None


async def test_a_bad_playbook_propagates_and_the_planner_is_not_asked() -> None:
    planner = FixedPlanner(Plan((Step("git_status"),)))
    with pytest.raises(PlaybookError, match="ezra may not use network:http_post"):
        await _make(block("- tool: http_post\n  args: {url: 'http://x'}\n"), planner)
    assert planner.seen == []


def test_no_plan_message_explains_the_block() -> None:
    message = no_plan_message(ModelSetup())
    assert "needs a playbook or a configured model" in message
    assert "```uni-wizard" in message and PLAYBOOK_HELP in message
    assert find_playbook(message) is None  # the example is shown, not run
