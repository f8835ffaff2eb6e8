"""``RepoRef``: a forge repository named ``owner/name``, parsed once instead of split by hand.

    >>> ref = RepoRef.parse("mesh/work")
    >>> ref.owner, ref.name, str(ref)
    ('mesh', 'work', 'mesh/work')
    >>> owner, name = ref                       # a NamedTuple: it unpacks
    >>> RepoRef.parse("mesh")                   # ConfigError: repo must be 'owner/name' ...
    >>> RepoRef.parse("a/b/c", error=ToolCallError)   # the caller's error class instead

``RepoName`` is the type of a configuration field holding one: a malformed value is a validation error
naming the file and the key, like any other bad value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, NamedTuple

from pydantic import AfterValidator

from .errors import ConfigError

__all__ = ["RepoName", "RepoRef"]

_PART = re.compile(r"[A-Za-z0-9_.-]+")


class RepoRef(NamedTuple):
    """A repository of the forge: its ``owner`` (a user or an organisation) and its ``name``."""

    owner: str
    name: str

    @classmethod
    def parse(cls, text: str, *, error: Callable[[str], Exception] = ConfigError) -> RepoRef:
        """``owner/name`` as a ``RepoRef``; anything else (no slash, two slashes, an empty, ``.`` or ``..``
        part, a character outside letters, digits, ``-``, ``_`` and ``.``) raises ``error(message)``."""
        owner, slash, name = text.partition("/")
        if not slash or not all(_PART.fullmatch(p) and p not in (".", "..") for p in (owner, name)):
            raise error(f"repo must be 'owner/name' (letters, digits, '-', '_', '.'), not {text!r}")
        return cls(owner, name)

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


def _checked(text: str) -> str:
    RepoRef.parse(text)  # a ConfigError is a ValueError: pydantic reports it with the file and the key
    return text


RepoName = Annotated[str, AfterValidator(_checked)]
"""A configuration value naming one repository, ``owner/name``, checked when the file is loaded."""
