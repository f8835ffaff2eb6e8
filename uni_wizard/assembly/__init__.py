"""The composition root: every role built from the settings in one place, each part given only what it uses.

The lanes (dispatch, work, mesh, review, upgrade, reconcile) take their dependencies as constructor
arguments (a narrow forge Protocol, the event log, the store-backed ledgers, a Harness factory, the values
they read); this package reads the settings and the configuration files (each once, ``Configs``), builds
the forge clients, and hands each lane what it needs. The daemon, the CLI, the demo and the benchmarks build
their roles here, so they all run the same thing.

- ``configs.py``: ``Configs``, every configuration file of a process, loaded once when first needed;
- ``shared.py``: what every role needs the same way: its house, forge token and client, repositories, poll
  interval, the house's Harness factory;
- ``dispatcher.py``: ``build_dispatch_loop`` and the dispatcher's lease (``build_lease``, ``build_forge_lease``);
- ``worker.py``: ``build_worker`` (settings), ``worker_on`` (a runtime and a client in hand);
- ``reviewer.py``: ``build_reviewer``, ``reviewer_on``, ``reviewer_poll_seconds``;
- ``upgrades.py``: the upgrade queue as the reviewer's extension (``upgrade_extension``), its records;
- ``reconciler.py``: ``build_reconciler``, ``serve_reconciler`` (the daemon role);
- ``mesh.py``: ``build_mesh_node``, this host's part of the mesh; ``looked_at``, the CLI's one read-only look;
- ``now.py``: ``take_now``, the Now view of this host (``houses --now``); ``telemetry.py``: ``telemetry_status``,
  its telemetry pipeline (``telemetry --status``); ``local_daemon.py``: this host's daemon asked over HTTP;
- ``roles.py``: the daemon's roles, checked (``check_roles``) then started (``start_roles``).

Nothing below the composition floor imports this package.

Floor: the composition. May import: anything; nothing below imports it.
"""
