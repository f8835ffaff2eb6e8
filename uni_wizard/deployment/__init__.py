"""Deployment: install the mesh on its hosts over SSH with pyinfra, from the mesh file (the inventory, the
layout of releases and units, the wheelhouse, Syncthing pairing).

Floor: a lane. Imports: the base (config, configfile, errors, meshfile).
"""
