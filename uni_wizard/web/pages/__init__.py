"""The dashboard: pages the daemon serves (Jinja2 templates, HTMX polling, no build step, no CDN).

    dashboard = Dashboard(runtime, owner="alex", forge_url="https://forge.example/", now=take_now_here, ...)
    mount_pages(app, dashboard)                   # create_app does it; auth.py must be installed on the app

Every page needs a login (``auth.py``): without one a page redirects to ``/login``. Each page reads well
without JavaScript; where it is live, a fragment of it is re-fetched by HTMX every 2 s. The pages:

==========================================  ======================================================
``GET /login``, ``POST /login``, ``/logout``  paste the API token (owner) or the viewer token; session cookie
``GET /`` (= ``/now``)                       the Now snapshot (``observe/now.py``) and the merge queue link
``GET /activity``                            the event log, filtered by house, kind and issue, live from the feed
``GET /issues/{owner}/{repo}/{number}``      one issue's path: its events and its provenance records
``GET /approvals``                           pending sovereign approvals and the upgrade queue; forms to decide
``GET /cascade``, ``/provenance``, ``/mesh``  providers and breakers; the provenance chain; the mesh
==========================================  ======================================================

What a page shows comes from ``Dashboard``: the runtime (store, approvals, provenance) and callables the
composition gives (the Now snapshot, the cascade's status, the mesh view, the upgrade queue and its
decisions); a part that is not given is said to be unavailable on its page.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .activity import router as activity_pages
from .approvals import router as approval_pages
from .common import STATIC_DIR, Dashboard, install_login_redirect
from .issue import router as issue_pages
from .login import router as login_pages
from .now import router as now_pages
from .system import router as system_pages

__all__ = ["Dashboard", "mount_pages"]


def mount_pages(app: FastAPI, dashboard: Dashboard) -> None:
    """Serve the dashboard's pages and its static assets (``/static/``) on ``app``."""
    app.state.dashboard = dashboard
    install_login_redirect(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (login_pages, now_pages, activity_pages, issue_pages, approval_pages, system_pages):
        app.include_router(router)
