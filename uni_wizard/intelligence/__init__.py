"""Intelligence: per-house, per-tool evidence, calibrated predictions before a call, adaptation of timeouts and
retries (``patterns``), on a decayed Beta model (``model``).

Floor: above the base. May import: the store and errors.
"""

from .model import Estimate, Evidence
from .patterns import PatternDB, Prediction, shape_of

__all__ = ["Estimate", "Evidence", "PatternDB", "Prediction", "shape_of"]
