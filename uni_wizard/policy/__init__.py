"""House policies: the model, the loader and the pure decision function.

Floor: above the base. May import: errors, configfile; never tools or the Harness (it is their input).
"""

from .decide import Decision, DecisionContext, PathArg, PolicyCall, decide
from .loader import load_houses, load_policy
from .model import House, HousePolicy, Mode, PathRules, Rules, ToolRules

__all__ = [
    "Decision",
    "DecisionContext",
    "House",
    "HousePolicy",
    "Mode",
    "PathArg",
    "PathRules",
    "PolicyCall",
    "Rules",
    "ToolRules",
    "decide",
    "load_houses",
    "load_policy",
]
