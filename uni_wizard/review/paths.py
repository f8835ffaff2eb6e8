"""Pure helpers: path globs with ``**``, and the issues a pull request closes.

>>> matches("uni_wizard/x.py", ("**/*.py",)), matches("calc.py", ("**/*.py",))
(True, True)
>>> matches("houses/ezra.yaml", ("houses/**",)), matches("housesx/a", ("houses/**",))
(True, False)
>>> linked_issues("Closes #3, fixes #4 and resolves: #3")
(3, 4)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["glob_regex", "linked_issues", "matches", "matching"]

# Gitea's closing keywords (the devforge closes the same ones on merge)
_CLOSING = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b", re.IGNORECASE)


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay inside one path segment; ``**/`` is any number of directories (none too);
    a trailing ``/**`` is everything below the directory; any other ``**`` is anything."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, patterns: Iterable[str]) -> bool:
    return any(glob_regex(pattern).match(path) for pattern in patterns)


def matching(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The paths any of ``patterns`` matches, in their order."""
    wanted = tuple(patterns)
    return [path for path in paths if matches(path, wanted)]


def linked_issues(text: str) -> tuple[int, ...]:
    """The issue numbers ``text`` closes ("Closes #3", "fixes: #4"...), each once, in order."""
    return tuple(dict.fromkeys(int(n) for n in _CLOSING.findall(text)))
