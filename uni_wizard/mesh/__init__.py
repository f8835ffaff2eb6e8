"""The mesh: peers, the view of the dispatcher lease, and the Syncthing folders (heartbeats, telemetry spool).

Its one forge call is ``forge_api.MeshForge``; ``assembly.mesh.build_mesh_node`` builds this host's node.

Floor: a lane, beside work, above dispatch. May import: the base (meshfile), forge, observe, harness, dispatch
(the lease record, the routing ledger).
"""
