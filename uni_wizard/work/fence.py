"""Finding the playbook in an issue body: the one fenced code block whose info string is ``uni-wizard``.

CommonMark fences: three or more backticks or tildes, indented at most three spaces, closed by a
fence of the same character at least as long; a fence shown inside another fenced block is not one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import PlaybookError

__all__ = ["INFO_STRING", "find_playbook"]

INFO_STRING = "uni-wizard"
_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def find_playbook(body: str) -> tuple[str, int] | None:
    """The content of the body's ``uni-wizard`` block and the body line (1-based) its content starts on.

    ``None`` when there is no such block; ``PlaybookError`` when there are several or it is not closed.

    >>> find_playbook("Do it.\\n\\n```uni-wizard\\n- tool: git_status\\n```\\n")
    ('- tool: git_status', 4)
    """
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: list[tuple[int, str]] = []  # (line of the opening fence, content)
    index = 0
    while index < len(lines):
        opening = _OPEN.match(lines[index])
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        close = _closing(lines, index + 1, fence)
        if opening["info"].strip() == INFO_STRING:
            if close is None:
                raise PlaybookError(
                    f"line {index + 1}: the {fence}{INFO_STRING} block is not closed: end it with a line of {fence}",
                    line=index + 1,
                )
            found.append((index + 1, "\n".join(_dedent(line, indent) for line in lines[index + 1 : close])))
        index = len(lines) if close is None else close + 1
    if not found:
        return None
    if len(found) > 1:
        where = ", ".join(str(line) for line, _ in found[:-1]) + f" and {found[-1][0]}"
        raise PlaybookError(
            f"line {found[1][0]}: the issue body has {len(found)} {INFO_STRING} blocks (at lines {where}); "
            "put every step in one block",
            line=found[1][0],
        )
    line, content = found[0]
    return content, line + 1


def _closing(lines: Sequence[str], start: int, fence: str) -> int | None:
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    for index in range(start, len(lines)):
        if closing.match(lines[index]):
            return index
    return None


def _dedent(line: str, indent: int) -> str:
    stripped = line.lstrip(" ")
    return line[min(indent, len(line) - len(stripped)) :]
