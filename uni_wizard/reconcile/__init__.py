"""The reconciler: each host applies exactly the approved, merged upgrades of the mesh repository.

A merged pull request labelled ``upgrade`` and ``upgrade/approved`` (or ``upgrade/applying``) whose
approval is bound to its head is applied once per host: configuration and policies validated with the
real loaders and installed (houses reload without a restart), a pinned package installed into
``releases/<sha>/`` and switched to with the ``current`` symlink, the role daemons restarted and
health-gated, everything switched back on failure. Each host reports a commit status
``uni-wizard/deploy/<host>`` on the merged sha and an event. See docs/ARCHITECTURE.md.

This module imports nothing heavy: ``mesh/config.py`` reads ``ReconcileSettings`` from it.
"""

from __future__ import annotations

from .settings import ReconcileSettings

__all__ = ["ReconcileSettings"]
