"""Glob patterns as Gitea uses them (gobwas/glob): ``*``, ``**``, ``?``, ``[...]``, ``{a,b}``.

With ``separator="/"`` a ``*`` stays inside one path segment and ``**`` crosses segments (branch
protection rule names, hook branch filters); without one, ``*`` matches anything (status check contexts).
"""

from __future__ import annotations

import functools
import re

__all__ = ["glob_match", "glob_regex", "is_glob"]


def is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[{")


@functools.lru_cache(maxsize=256)
def _compile(pattern: str, separator: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    depth = 0
    one = f"[^{re.escape(separator)}]" if separator else "."
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append(one + "*")
        elif ch == "?":
            out.append(one)
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif ch == "{":
            depth += 1
            out.append("(?:")
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
        elif ch == "," and depth:
            out.append("|")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_regex(pattern: str, *, separator: str = "") -> str:
    """The regular expression (for ``re.match``) equivalent to ``pattern``."""
    return _compile(pattern, separator).pattern


def glob_match(pattern: str, text: str, *, separator: str = "") -> bool:
    try:
        return _compile(pattern, separator).match(text) is not None
    except re.error:
        return pattern == text
