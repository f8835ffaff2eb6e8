"""The owner's attention: what reaches the owner on the forge, where they already look.

- ``fingerprint.py``: an unexpected exception's fingerprint (its type and the package-relative frames at the top
  of its stack, line numbers left out, so a refactor does not open a new issue);
- ``capture.py``: ``ErrorCapture``, which stores each occurrence and keeps one forge issue per fingerprint in the
  mesh repository up to date (opened once, its count edited in place at most once a minute, reopened when a
  closed one recurs), secrets scrubbed;
- ``briefing_facts.py`` and ``briefing.py``: the daily briefing, one issue per day written at the owner's hour
  by the dispatcher's lease holder, rule-based facts from the forge and the event log (a model's summary above
  them when one is configured);
- ``calibration.py`` and ``escalations.py``: escalations with a category and urgency; urgent ones mention the
  owner at once, the rest go into one digest comment per window on the owner's inbox issue, and each category's
  threshold learns from what the owner acts on;
- ``metrics.py``: briefings written, escalations sent immediate vs batched, engagement per category.

Floor: a lane. May import: the cascade (the briefing's summary), the Harness floor (its redaction) and below
(forge, store, observe, errors).
"""

from .briefing import Briefing, BriefingRunner
from .calibration import Calibration, Thresholds
from .capture import ErrorCapture, ErrorForge
from .escalations import Escalations
from .fingerprint import Fingerprint, fingerprint

__all__ = [
    "Briefing",
    "BriefingRunner",
    "Calibration",
    "ErrorCapture",
    "ErrorForge",
    "Escalations",
    "Fingerprint",
    "Thresholds",
    "fingerprint",
]
