"""Tools: ``@tool`` functions, their registry, and the built-in tool set.

Floor: above policy and the forge client, below the Harness. May import: the base, policy (PathAccess), forge
(the gitea tools' client).
"""
