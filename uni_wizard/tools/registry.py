"""``ToolRegistry``: an explicit, small map from tool name to ``ToolSpec``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..errors import DuplicateToolError, ToolCallError
from .spec import ToolSpec

__all__ = ["ToolRegistry"]


class ToolRegistry:
    """Holds tools by name; refuses duplicates.

    >>> registry = ToolRegistry([git_status, file_read])
    >>> registry.get("git_status").group
    'git'
    """

    def __init__(self, tools: Iterable[ToolSpec] = ()) -> None:
        self._tools: dict[str, ToolSpec] = {}
        for spec in tools:
            self.register(spec)

    def register(self, spec: ToolSpec) -> ToolSpec:
        if spec.name in self._tools:
            raise DuplicateToolError(spec.name)
        self._tools[spec.name] = spec
        return spec

    def get(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolCallError(f"unknown tool {name!r}; `uni-wizard tools` lists the tools") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def groups(self) -> list[str]:
        return sorted({spec.group for spec in self._tools.values()})

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(sorted(self._tools.values(), key=lambda s: (s.group, s.name)))

    def __len__(self) -> int:
        return len(self._tools)
