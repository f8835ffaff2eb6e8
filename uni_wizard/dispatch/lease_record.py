"""The lease record, as it sits in the JSON file on the ``mesh-state`` branch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import MeshError

__all__ = ["LeaseRecord"]


@dataclass(frozen=True)
class LeaseRecord:
    """Who holds a lease, since when and until when (UNIX seconds, the holder's clock), under which epoch."""

    holder: str  # host name
    house: str
    epoch: int
    acquired: float
    renewed: float
    expires: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LeaseRecord:
        """The record in ``text``; ``MeshError`` when it is not one (the file was damaged by hand)."""
        try:
            data: Any = json.loads(text)
            return cls(
                holder=str(data["holder"]),
                house=str(data["house"]),
                epoch=int(data["epoch"]),
                acquired=float(data["acquired"]),
                renewed=float(data["renewed"]),
                expires=float(data["expires"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise MeshError(f"the lease file is not a lease record: {exc}") from exc
