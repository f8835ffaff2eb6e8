"""``create_app``: the devforge as a FastAPI application (Gitea's API v1 under ``/api/v1`` + git smart HTTP)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import (
    branches,
    comments,
    commits,
    contents,
    hooks,
    issues,
    labels,
    merge,
    protection,
    pulls,
    repos,
    reviews,
    smart_http,
    statuses,
    users,
)
from .core import Faults, Forge
from .db import Clock, Database
from .delivery import Deliverer
from .errors import ApiError, render_error

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _root(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def create_app(
    data_dir: Path,
    admin: tuple[str, str],
    root_url: str = "http://localhost:3000/",
    clock: Clock = time.time,
    *,
    faults: Faults | None = None,
) -> FastAPI:
    """A devforge keeping its SQLite file and bare repositories under ``data_dir``.

    ``admin`` is the site administrator (created on first start; its password follows ``admin``).
    ``root_url`` is Gitea's ROOT_URL: the base of every URL the API returns (``clone_url``, ``Link``...).
    ``clock`` gives Unix seconds for every timestamp.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(data_dir / "devforge.db")
    forge = Forge(data_dir=data_dir, db=db, root_url=_root(root_url), clock=clock, faults=faults or Faults())
    forge.repos_root.mkdir(parents=True, exist_ok=True)
    forge.deliverer = Deliverer(db, clock)
    users.ensure_admin(forge, *admin)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if forge.deliverer is not None:
                forge.deliverer.close()
            db.close()

    app = FastAPI(title="devforge", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.forge = forge
    _mount_routes(app)
    _handle_errors(app)
    return app


_ROUTERS = (
    users.router,
    comments.router,  # /issues/comments before /issues/{index}
    issues.router,  # /repos/issues/search before /repos/{owner}/{repo}
    labels.router,
    reviews.router,
    merge.router,
    pulls.router,
    contents.router,
    statuses.router,
    commits.router,
    branches.router,
    protection.router,
    hooks.router,
    repos.router,
    pulls.tail_router,  # /pulls/{base}/{head} last: it would swallow /pulls/{n}/files etc.
)


def _mount_routes(app: FastAPI) -> None:
    """API v1 (in ``_ROUTERS``' order: the first matching route wins), the health probe, git over HTTP."""
    api = APIRouter(prefix="/api/v1")
    for module_router in _ROUTERS:
        api.include_router(module_router)
    app.include_router(api)

    @app.get("/api/healthz")
    def healthz() -> Response:
        return JSONResponse({"status": "pass", "description": "devforge"})

    app.include_router(smart_http.router)


def _handle_errors(app: FastAPI) -> None:
    """Every error answered as Gitea answers it (``{"message": ...}``), never a bare traceback."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return render_error(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return render_error(request, ApiError(exc.status_code, message))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return render_error(request, ApiError(422, str(exc.errors()[:1])))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("devforge: unhandled error on %s %s", request.method, request.url.path)
        return render_error(request, ApiError(500, ""))
