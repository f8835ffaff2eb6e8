"""Every ``uni-wizard …`` command that README.md and docs/*.md show still parses.

A command is a line of a fenced code block that starts with ``uni-wizard`` (after an optional ``$ ``; a line
ending in ``\\`` goes on with the next), or an inline code span that does (``uni-wizard houses --json``; a span
holding a backtick quotes text, it is not a command). ``#`` comments and shell redirections are dropped;
``a | b | c`` gives alternatives of one group (``uni-wizard approvals list | approve ID`` is ``approvals list``
and ``approvals approve ID``); ``[--flag]`` counts as ``--flag``. Each command runs in this process through
``uni_wizard.cli.main`` with ``--help`` appended: a command or option that does not exist fails to parse and is
reported with its file and line. Arguments are not checked (placeholders such as ID or FILE stay as written).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import typer.main

from uni_wizard.cli import app, main

PROG = "uni-wizard"
ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
SHELL_STOPS = {">", ">>", "2>", "&&", ";", "&", "||"}
PLACEHOLDER_COMMANDS = {"COMMAND", "SUBCOMMAND"}  # `uni-wizard --config FILE COMMAND`: any command goes there
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_INLINE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")


def _fenced(lines: list[str]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    fence: str | None = None
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        opener = _FENCE.match(text)
        if opener:
            fence = None if fence and text.startswith(fence) else (fence or opener.group(1))
            pending = None
            continue
        if fence is None:
            continue
        if pending is not None:  # the continuation of a line that ended in a backslash
            start, head = pending
            text = head + " " + text
            number = start
            pending = None
        else:
            text = re.sub(r"^\$\s+", "", text)
            if not (text.startswith(PROG + " ") or text == PROG):
                continue
        if text.endswith("\\"):
            pending = (number, text[:-1].rstrip())
            continue
        found.append((number, text))
    return found


def _inline(lines: list[str]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    fence: str | None = None
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        opener = _FENCE.match(text)
        if opener:
            fence = None if fence and text.startswith(fence) else (fence or opener.group(1))
            continue
        if fence is not None:
            continue
        for match in _INLINE.finditer(raw):
            span = match.group(2).strip()
            if "`" in span or not (span.startswith(PROG + " ") or span == PROG):
                continue
            found.append((number, span))
    return found


def command_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, command line)`` of every command ``path`` shows, in code blocks and inline code."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return sorted(_fenced(lines) + _inline(lines))


def _words(text: str) -> list[str] | None:
    try:
        return shlex.split(text)
    except ValueError:
        return None


def _until_shell(words: list[str]) -> list[str]:
    kept: list[str] = []
    for word in words:
        if word in SHELL_STOPS or word.startswith((">", "2>")):
            break
        if word in PLACEHOLDER_COMMANDS:
            break
        kept.append(word)
    return kept


def variants(line: str, top: set[str]) -> list[list[str]]:
    """The argument lists (without the program's name) that ``line`` stands for."""
    line = line.split(" #", 1)[0].strip()
    line = re.sub(r"\[(-[^\]]*)\]", r"\1", line)  # [--dry-run] -> --dry-run
    parts = [part.strip() for part in line.split(" | ")]
    first = _words(parts[0])
    if first is None:
        return []
    commands = [first[1:]]
    group = first[1:2]
    for alternative in parts[1:]:
        words = _words(alternative)
        if not words:
            continue
        if words[0] == PROG:
            commands.append(words[1:])
        elif words[0] in top:
            commands.append(words)
        elif not words[0].startswith("-"):
            commands.append(group + words)
    cleaned = [_until_shell(command) for command in commands]
    # prose that merely starts with the name (`uni-wizard CLI ...`) is not a command
    return [command for command in cleaned if not (command and command[0][:1].isupper())]


def _doc_commands() -> list[tuple[str, list[str]]]:
    top = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    found: list[tuple[str, list[str]]] = []
    for path in DOCS:
        for number, line in command_lines(path):
            for args in variants(line, top):
                found.append((f"{path.relative_to(ROOT)}:{number}: {PROG} {' '.join(args)}", args))
    return found


def _parses(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--help"])
    return code, (err.getvalue().strip().splitlines() or [""])[-1]


def test_the_docs_show_commands() -> None:
    """The finder itself: it sees the README's commands, in code blocks and inline, and the alternatives."""
    found = [where for where, _ in _doc_commands()]
    assert len(found) > 60, found
    assert any(where.startswith("README.md:") and "approvals approve ID" in where for where in found)
    assert any("docs/OPERATIONS.md:" in where for where in found)
    top = {"approvals", "provenance"}
    assert variants("uni-wizard approvals list | approve ID --by timmy   # comment", top) == [
        ["approvals", "list"],
        ["approvals", "approve", "ID", "--by", "timmy"],
    ]
    assert variants("uni-wizard --config FILE COMMAND", top) == [["--config", "FILE"]]
    assert variants("uni-wizard events tail [--since SEQ] > out.txt", top) == [["events", "tail", "--since", "SEQ"]]
    assert _inline(["see ``uni-wizard dispatcher on `vps-b` ``, and `uni-wizard houses --json`"]) == [
        (1, "uni-wizard houses --json")
    ]
    assert _fenced(["```sh", "$ uni-wizard forge bootstrap L \\", "    --url U", "```"]) == [
        (2, "uni-wizard forge bootstrap L --url U")
    ]


def test_every_documented_command_parses() -> None:
    failures = []
    for where, args in _doc_commands():
        code, last = _parses(args)
        if code != 0:
            failures.append(f"{where}  ->  {last}")
    assert not failures, "documented commands that do not parse:\n" + "\n".join(failures)


@pytest.mark.parametrize("args", [["no-such-command"], ["houses", "--no-such-option"]])
def test_a_command_that_does_not_exist_fails(args: list[str]) -> None:
    assert _parses(args)[0] == 2
