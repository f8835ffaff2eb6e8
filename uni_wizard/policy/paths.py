"""How a tool uses a path argument: the policy's vocabulary, which tools declare and the Harness checks."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PathAccess"]


class PathAccess(StrEnum):
    """How a tool uses a path argument; the policy confines it to the matching roots."""

    READ = "read"
    WRITE = "write"
