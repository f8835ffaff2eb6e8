"""``Result`` and ``Call``: what goes into the Harness and what comes out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from .. import errors
from ..policy.model import Mode

__all__ = ["Call", "Result", "Status"]


class Status(StrEnum):
    OK = "ok"
    ERROR = "error"
    DENIED = "denied"
    TIMEOUT = "timeout"
    PENDING_APPROVAL = "pending_approval"


@dataclass(frozen=True)
class Call:
    """One tool call: the tool's name, its arguments, and an optional timeout override (seconds)."""

    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None


@dataclass(frozen=True)
class Result:
    """What a call through the Harness did.

    ``status`` is ok, error, denied, timeout or pending_approval; ``error_type``
    names the class in ``uni_wizard.errors`` when the status is not ok, and
    ``reason`` is the policy decision's sentence.
    """

    status: Status
    tool: str
    house: str
    mode: Mode
    output: Any = None
    error: str | None = None
    error_type: str | None = None
    duration: float = 0.0
    attempts: int = 0
    provenance_id: int | None = None
    approval_id: int | None = None
    reason: str | None = None
    rule: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def raise_for_status(self) -> Result:
        """Return self when ok; raise the matching ``uni_wizard.errors`` exception otherwise."""
        if self.status is Status.OK:
            return self
        message = self.error or self.reason or str(self.status)
        if self.status is Status.DENIED:
            raise errors.PolicyDenied(message, rule=self.rule or "policy")
        if self.status is Status.PENDING_APPROVAL:
            raise errors.ApprovalError(f"approval {self.approval_id} pending: {message}")
        if self.status is Status.TIMEOUT:
            raise errors.ToolTimeout(message)
        cls = getattr(errors, self.error_type or "", None)
        if not (isinstance(cls, type) and issubclass(cls, errors.UniWizardError)) or cls is errors.CircuitOpen:
            cls = errors.ToolExecutionError
        raise cls(message)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"], data["mode"] = str(self.status), str(self.mode)
        return data
