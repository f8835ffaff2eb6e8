"""Intelligence: per-house, per-tool history, predictions before a call, adaptation of timeouts and retries."""

from .patterns import PatternDB, Prediction, ToolStats

__all__ = ["PatternDB", "Prediction", "ToolStats"]
