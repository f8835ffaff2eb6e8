"""The mesh file (``configs/mesh.yaml``): hosts and their roles, peer probes, the dispatcher's forge lease,
the Syncthing folder and the reconciler's waves, as one typed schema.

Floor: the base, beside ``config``: the mesh, the dispatcher's lease, the reconciler and the deploy all read
the same file, so its schema sits below all of them. Imports: config, configfile, errors.
"""
