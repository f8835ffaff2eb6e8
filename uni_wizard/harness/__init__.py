"""The Harness and what it is made of: results, provenance, approvals, breakers, the shared runtime.

Floor: above tools and policy, below the lanes. May import: the base, policy, tools, observe, intelligence,
store.
"""

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
