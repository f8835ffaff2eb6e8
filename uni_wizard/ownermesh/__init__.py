"""The owner's mesh in one directory: ``uni-wizard init DIR`` prepares it, ``uni-wizard up DIR`` runs it.

``init`` (``init.py``) bootstraps the forge (an embedded devforge whose data lives in ``DIR/forge``, or a
real Gitea through ``forge.bootstrap``): the house users, the owner, the mesh repository and the owner's work
repository seeded from the shipped template, protected with timmy and the owner as approvers and hooks pointed
at the dispatcher's daemon. It writes one settings file per daemon process (a daemon acts as one forge user,
so each house that works, reviews or dispatches runs its own), the mesh file, the configuration files and the
secrets, each first under a temporary name. ``up`` (``up.py``) runs the devforge and every daemon as child
processes of its own (``child.py``), prints one line per meaningful action read from their event logs and
the reviewer's log (``lines.py``, ``watch.py``), and stops them all on Ctrl-C or SIGTERM.

- ``paths.py``: ``MeshDir`` (where each file of DIR lives) and ``forge.yaml`` (``ForgeFile``);
- ``plan.py``: the daemon processes from the houses, and what each one's settings file holds;
- ``render.py``: the configuration files init writes (triage, review, cascade, the mesh file);
- ``layout.py``: the forge layout (the shipped one, made the owner's) and the work repository's template;
- ``staging.py``: writing files under temporary names, then renaming; the outcome of each;
- ``probe.py``: ports, the local model server;
- ``init.py``: ``init_mesh``; ``lock.py``: the lock a running ``up`` holds;
- ``children.py``, ``watch.py``, ``lines.py``, ``up.py``: ``up``; ``child.py``: a child's entry point.

Floor: the composition (beside the CLI, the daemon and the demo). May import: anything below the composition,
and ``daemon``; nothing below imports it.
"""
