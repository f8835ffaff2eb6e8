"""devforge: a Gitea-API-compatible development forge (SQLite + real bare git repositories).

The product talks to it exactly as to Gitea (API v1 under ``/api/v1``, git over smart HTTP), so it
copies Gitea's status codes, bodies, pagination, webhooks and quirks (see GITEA_FACTS §9).

    from uni_wizard.devforge import create_app, run, start_in_thread

Floor: beside the forge client (it is a forge, not a client of one). May import: the base (threaded_server,
errors); nothing of the mesh.
"""

from __future__ import annotations

from .app import create_app
from .core import VERSION, Faults, Forge
from .server import DevforgeServer, run, serve, start_in_thread

__all__ = ["VERSION", "DevforgeServer", "Faults", "Forge", "create_app", "run", "serve", "start_in_thread"]
