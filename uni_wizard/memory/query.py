"""Free text to an FTS5 query: its words, each quoted (no FTS5 syntax from a caller ever runs), OR-ed.

Words are runs of letters and digits, lower-cased; stop words and one-letter words are left out, each word
once, the title's words first, then the body's most frequent, at most ``MAX_TERMS``: the cost of a query is
bounded whatever the text.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["MAX_TERMS", "match_query", "terms"]

MAX_TERMS = 48
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP_WORDS = (
    "a an and are as at be but by can do does for from has have how i if in into is it its me my no not of on "
    "or our so than that the their then there these this to was we were what when where which while who why "
    "will with you your"
)
_STOP = frozenset(_STOP_WORDS.split())


def terms(text: str, *, first: str = "") -> list[str]:
    """The distinct words of ``first`` in order, then of ``text`` most frequent first (at most ``MAX_TERMS``)."""
    out: list[str] = []
    for word in _words(first):
        if word not in out:
            out.append(word)
    counts = Counter(_words(text))
    for word, _ in counts.most_common():
        if len(out) >= MAX_TERMS:
            break
        if word not in out:
            out.append(word)
    return out[:MAX_TERMS]


def match_query(text: str, *, first: str = "") -> str | None:
    """The FTS5 ``MATCH`` expression for ``text`` (None when it has no word to search for)."""
    found = terms(text, first=first)
    return " OR ".join(f'"{word}"' for word in found) if found else None


def _words(text: str) -> list[str]:
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if len(w) > 1 and w not in _STOP]
