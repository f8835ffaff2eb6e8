"""The reconciler: each host applies exactly the approved, merged upgrades of the mesh repository.

A merged pull request labelled ``upgrade`` and ``upgrade/approved`` (or ``upgrade/applying``) whose
approval is bound to its head is applied once per host: configuration and policies validated with the
real loaders and installed (houses reload without a restart), a pinned package installed into
``releases/<sha>/`` and switched to with the ``current`` symlink, the role daemons restarted and
health-gated, everything switched back on failure. Each host reports a commit status
``uni-wizard/deploy/<host>`` on the merged sha and an event. See docs/ARCHITECTURE.md.

The mesh file's ``reconcile`` section (``ReconcileSettings``) is in ``uni_wizard/meshfile``, below this lane.

Floor: the highest lane. May import: the base (meshfile), forge, observe, intake, harness, tools, dispatch,
review, upgrade, deployment.
"""
