"""The Harness and what it is made of: results, provenance, approvals, breakers, the shared runtime."""

from .approvals import Approval, ApprovalQueue, ApprovalState
from .core import Harness
from .provenance import ProvenanceLog, ProvenanceRecord
from .result import Call, Result, Status
from .runtime import Runtime

__all__ = [
    "Approval",
    "ApprovalQueue",
    "ApprovalState",
    "Call",
    "Harness",
    "ProvenanceLog",
    "ProvenanceRecord",
    "Result",
    "Runtime",
    "Status",
]
