"""``Result`` and ``Call``: what goes into the Harness and what comes out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from .. import errors
from ..policy.model import Mode

__all__ = ["Call", "Result", "Status", "error_class_named", "restored"]


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

    ``status`` is ok, error, denied, timeout or pending_approval; ``reason`` is the policy decision's
    sentence. When the status is not ok, ``error_class`` is the class of the error (a ``UniWizardError``) and
    ``error_type`` its name, which is what the JSON, the API and provenance carry. Give either: the other is
    derived (a name comes back to its class through ``errors.BY_NAME``, and a name the tree does not hold is
    ``ToolExecutionError``). ``prediction`` is what the pattern database expected of the call (INTELLIGENT and
    SOVEREIGN calls that ran; ``Prediction.as_dict()``) and ``likely_failure`` whether it predicted, with high
    confidence, that the call would fail.
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
    prediction: dict[str, Any] | None = None
    likely_failure: bool = False
    error_class: type[errors.UniWizardError] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.error_class is not None:
            if self.error_type is None:
                object.__setattr__(self, "error_type", self.error_class.__name__)
            elif self.error_type != self.error_class.__name__:
                raise ValueError(f"error_type {self.error_type!r} does not name {self.error_class.__name__}")
        elif self.error_type is not None:
            object.__setattr__(self, "error_class", error_class_named(self.error_type))

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
        raise restored(self.error_class or errors.ToolExecutionError, message)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (the API's and the CLI's): every field but ``error_class``, which ``error_type`` names."""
        data = asdict(self)
        del data["error_class"]
        data["status"], data["mode"] = str(self.status), str(self.mode)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """The Result of ``as_dict()``'s JSON (keys it does not know are ignored)."""
        known = {f.name for f in fields(cls) if f.name != "error_class"}
        values = {key: value for key, value in data.items() if key in known}
        values["status"], values["mode"] = Status(data["status"]), Mode(data["mode"])
        return cls(**values)


def error_class_named(name: str) -> type[errors.UniWizardError]:
    """The class of the error tree named ``name``; ``ToolExecutionError`` for a name the tree does not hold
    (a class defined outside ``errors.py``, or one from another version)."""
    return errors.BY_NAME.get(name, errors.ToolExecutionError)


# Classes whose text is made from their data: made blank, then given the text that came with the Result.
_MADE_FROM_DATA: dict[type[errors.UniWizardError], Callable[[], errors.UniWizardError]] = {
    errors.DuplicateToolError: lambda: errors.DuplicateToolError(""),
    errors.CircuitOpen: lambda: errors.CircuitOpen("", 0.0),
    errors.ProvenanceBroken: lambda: errors.ProvenanceBroken(0, ""),
    errors.BudgetExhausted: lambda: errors.BudgetExhausted("", budget=""),
}


def restored(cls: type[errors.UniWizardError], message: str) -> errors.UniWizardError:
    """An instance of ``cls`` whose text is ``message``: what a Result keeps of an error (its class and text).
    The data fields of the classes that build their text from data (``CircuitOpen.group``...) stay empty."""
    make = _MADE_FROM_DATA.get(cls)
    if make is None:
        return cls(message)
    error = make()
    error.args = (message,)
    return error
