"""Words, not substrings: the tokenizer and the matching that triage and routing score with.

The seed scored houses with ``keyword in description``, so "prefix" matched *fix*, "latest" *test*,
"decide" *ci* and "already" *read*. Here a text is cut into whole tokens and a term (a word or a
phrase) matches only a contiguous run of whole tokens.

- ``tokenize`` lower-cases (casefold, accents folded: "café" → "cafe") and keeps runs of letters and
  digits. An apostrophe or hyphen *inside* a word keeps it one token ("doesn't", "non-blocking",
  "read-only"), so "non-blocking" is not *blocking* and "read-only" is not *read*; a trailing
  possessive "'s" is dropped ("bezalel's" → "bezalel"). Underscores, dots and slashes separate
  ("ci/cd" → "ci", "cd").
- ``stem`` is the one tiny, explicit stemmer, applied to both sides of every comparison so that a
  vocabulary needs one form per word: it strips one inflection (``-ies/-ied`` → ``y``, ``-es`` after a
  sibilant, ``-s``, ``-ed``, ``-ing``), undoubles a final consonant left by it ("stopped" → "stop"),
  and drops a final ``e`` ("release", "released", "releasing" → "releas"). Nothing is stripped when
  fewer than three letters would remain ("ci", "cis", "need", "used" stay as they are). It works on
  whole tokens only, so it can never turn "prefix" into *fix*.
- ``similarity`` is the cosine between the bags of content-word stems of two texts (see there).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache

__all__ = ["STOP_WORDS", "phrase_hits", "similarity", "stem", "tokenize", "weighted_score"]

_TOKEN = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
_SIBILANT = ("s", "x", "z", "ch", "sh")
_KEEP_DOUBLE = set("lsz")
_MIN_STEM = 3

# Words that carry no topic: left out of ``similarity`` (never out of matching, where "does not work"
# needs its "not").
_STOP_TEXT = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just let me more
    most my no nor not now of off on once only or other our ours out over own same she should so some
    such than that the their theirs them then there these they this those through to too under until
    up very was we were what when where which while who whom why will with would you your yours
    please need needs want wants get gets got make makes made use used using via etc e g ie eg
    issue issues one two new also maybe still yet
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_TEXT.split())


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """The lower-case word tokens of ``text``, in order.

    >>> tokenize("Doesn't work: the non-blocking CI/CD job crashed (Bezalel's branch)")
    ["doesn't", 'work', 'the', 'non-blocking', 'ci', 'cd', 'job', 'crashed', 'bezalel', 'branch']
    """
    tokens = []
    for match in _TOKEN.finditer(_fold(text)):
        token = match.group()
        if token.endswith("'s") and len(token) > 2:
            token = token[:-2]
        tokens.append(token)
    return tokens


@lru_cache(maxsize=16384)
def stem(token: str) -> str:
    """The token with one inflection stripped (see the module docstring); compare stems, not tokens."""
    base, undouble = token, False
    if token.endswith(("ies", "ied")) and len(token) - 3 >= _MIN_STEM - 1:
        base = token[:-3] + "y"
    elif token.endswith("es") and token[:-2].endswith(_SIBILANT) and len(token) - 2 >= _MIN_STEM:
        base = token[:-2]
    elif token.endswith("s") and not token.endswith(("ss", "us", "is", "'s")) and len(token) - 1 >= _MIN_STEM:
        base = token[:-1]
    elif token.endswith("ed") and not token.endswith("eed") and len(token) - 2 >= _MIN_STEM:
        base, undouble = token[:-2], True
    elif token.endswith("ing") and len(token) - 3 >= _MIN_STEM:
        base, undouble = token[:-3], True
    if (
        undouble
        and len(base) > _MIN_STEM
        and base[-1] == base[-2]
        and base[-1].isalpha()
        and base[-1] not in "aeiou"
        and base[-1] not in _KEEP_DOUBLE
    ):
        base = base[:-1]
    if base.endswith("e") and len(base) - 1 >= _MIN_STEM:
        base = base[:-1]
    return base


@lru_cache(maxsize=4096)
def _term_key(term: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in tokenize(term))


def _positions(stems: Sequence[str]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, s in enumerate(stems):
        index.setdefault(s, []).append(i)
    return index


def _occurrences(stems: Sequence[str], index: Mapping[str, list[int]], key: tuple[str, ...]) -> list[int]:
    """Start positions of ``key`` as a contiguous run in ``stems`` (overlapping runs included)."""
    n = len(key)
    return [i for i in index.get(key[0], ()) if tuple(stems[i : i + n]) == key]


def phrase_hits(tokens: Sequence[str], phrase: str) -> int:
    """How many times ``phrase`` (a word or several) occurs as a contiguous run of whole tokens.

    Occurrences do not overlap; comparison is stem to stem, never substring.

    >>> phrase_hits(tokenize("the latest prefix"), "fix"), phrase_hits(tokenize("It does not work"), "does not work")
    (0, 1)
    """
    key = _term_key(phrase)
    if not key:
        return 0
    stems = [stem(t) for t in tokens]
    hits, free_from = 0, 0
    for i in _occurrences(stems, _positions(stems), key):
        if i >= free_from:
            hits += 1
            free_from = i + len(key)
    return hits


def weighted_score(tokens: Sequence[str], weights: Mapping[str, float]) -> tuple[float, list[str]]:
    """The sum of the weights of the terms of ``weights`` that occur in ``tokens``, and those terms.

    Each term counts once however often it occurs (a long body repeating "error" is not more of a bug).
    Terms with the same stems are one term (the larger weight). A token counts for one term only:
    longer phrases claim their tokens first, so "unit test" scores as the phrase, not also as "test".
    The matched terms are returned as written in ``weights``, in the order they first occur.
    """
    keyed: dict[tuple[str, ...], tuple[float, str]] = {}
    for term, weight in weights.items():
        key = _term_key(term)
        if key and (key not in keyed or weight > keyed[key][0]):
            keyed[key] = (weight, term)
    stems = [stem(t) for t in tokens]
    index = _positions(stems)
    claimed = [False] * len(stems)
    score, found = 0.0, []
    for key in sorted(keyed, key=lambda k: (-len(k), k)):
        first = None
        for i in _occurrences(stems, index, key):
            if not any(claimed[i : i + len(key)]):
                claimed[i : i + len(key)] = [True] * len(key)
                first = i if first is None else first
        if first is not None:
            weight, term = keyed[key]
            score += weight
            found.append((first, term))
    return score, [term for _, term in sorted(found)]


Bag = tuple[Counter[str], float]


@lru_cache(maxsize=4096)
def _bag(text: str) -> Bag:
    return bag_of(text)


def bag_of(text: str) -> Bag:
    """The stems of ``text``'s content words with their counts, and the bag's norm (for ``cosine``)."""
    stems = [stem(t) for t in tokenize(text) if t not in STOP_WORDS and len(t) > 1]
    bag = Counter(stems)
    return bag, math.sqrt(sum(n * n for n in bag.values()))


def cosine(a: Bag, b: Bag) -> float:
    """The cosine of two bags from ``bag_of`` (what ``similarity`` computes on texts)."""
    (bag_a, norm_a), (bag_b, norm_b) = a, b
    if not norm_a or not norm_b:
        return 0.0
    if len(bag_a) > len(bag_b):
        bag_a, bag_b = bag_b, bag_a
    dot = sum(n * bag_b.get(word, 0) for word, n in bag_a.items())
    return min(1.0, dot / (norm_a * norm_b))


def similarity(a: str, b: str) -> float:
    """How alike two texts are, 0..1: the cosine of their bags of content-word stems.

    Stop words and one-letter tokens are left out; words are compared as stems, so "crashes on
    startup" and "crash at startup" are the same text. Cosine (not Jaccard) because it is normalised
    by the length of each text separately: a short issue that restates a longer one still scores
    high. Word counts (not sets) so that a caller can weight a part by repeating it (triage repeats the
    title). Not character shingles: those bring back the sub-word matches this module exists to avoid.

    >>> round(similarity("App crashes on startup", "Crash at startup of the app"), 2)
    1.0
    """
    return cosine(_bag(a), _bag(b))
