"""The owner's attention: what reaches the owner on the forge, where they already look.

- ``fingerprint.py``: an unexpected exception's fingerprint (its type and the package-relative frames at the top
  of its stack, line numbers left out, so a refactor does not open a new issue);
- ``capture.py``: ``ErrorCapture``, which stores each occurrence and keeps one forge issue per fingerprint in the
  mesh repository up to date (opened once, its count edited in place at most once a minute, reopened when a
  closed one recurs), secrets scrubbed.

Floor: a lane. May import: the Harness floor (its redaction) and below (forge, store, observe, errors).
"""

from .capture import ErrorCapture, ErrorForge
from .fingerprint import Fingerprint, fingerprint

__all__ = ["ErrorCapture", "ErrorForge", "Fingerprint", "fingerprint"]
