"""Intelligence: per-house, per-tool history, predictions before a call, adaptation of timeouts and retries.

Floor: above the base. May import: the store and errors.
"""

from .patterns import PatternDB, Prediction, ToolStats

__all__ = ["PatternDB", "Prediction", "ToolStats"]
