"""``create_app``: /health, /ready, /metrics, POST /api/v1/execute and GET /api/v1/events (bearer token), and
POST /hooks/gitea.

    app = create_app(runtime, api_token="...", webhook_secret="...")
    uvicorn.run(app, host="127.0.0.1", port=8643)

``POST /api/v1/execute`` answers 200 with the ``Result`` whatever its status
(a denial is an answer, not a transport failure); 401 without the right
bearer token, 503 when no token is configured (the endpoint is off), 404 for
an unknown house, 422 for a malformed body.

``GET /api/v1/events?since=SEQ&limit=N&kind=K`` answers ``{"events": [...], "last_seq": N}``: the events
with ``seq > since``, oldest first, at most ``limit`` (default 100, capped at 1000), of the given kinds
(``kind`` may repeat); the API token, the viewer token or a dashboard session (``auth.py``: events carry
issue titles); 422 for a malformed parameter (``observe/events.py``).

``POST /hooks/gitea`` takes Gitea webhook deliveries (``intake/queue.py``):
200 ``{"status": "accepted", "delivery": ...}`` once the event is durably
queued, ``{"status": "duplicate"}`` for a delivery id seen before,
``{"status": "ignored"}`` for an event type not acted on; 401 for a missing or
wrong signature, 400 for missing headers or a malformed body, 413 for a body
over 5 MiB, 503 when no webhook secret is configured.

Every request body passes ``BodyGuard`` (``guard.py``) before FastAPI sees it: under ``/api/v1/`` a
request with a body must bear the token before a byte of it is read (401; 503 when no token is
configured), and bodies are limited to ``max_api_body`` (1 MiB) there, to the intake's limit (5 MiB)
on ``/hooks/gitea`` and to 64 KiB anywhere else (413, also for a chunked body that grows past it);
a body that does not arrive within 30 s is 408. The server's warnings about malformed requests are
rate-limited (``quiet.py``).
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import ASGIApp

from .._version import __version__
from ..errors import ConfigError, StoreError
from ..harness.core import Harness
from ..harness.result import Call
from ..harness.runtime import Runtime
from ..intake.queue import MAX_BODY_BYTES, WebhookIntake
from ..observe.events import KIND_PATTERN, MAX_KIND_CHARS, MAX_KINDS, MAX_PAGE, EventLog
from ..policy.model import Mode
from .auth import Auth, install_auth, viewer
from .broadcast import Broadcaster
from .feed import feed_router
from .guard import BODY_TIMEOUT, BodyGuard, BodyRule
from .memory_routes import memory_probe, memory_router
from .pages import Dashboard, mount_pages
from .predict_routes import predict_router
from .quiet import install_rate_limits

__all__ = ["MAX_API_BODY", "ExecuteRequest", "GuardedApp", "create_app"]

MAX_TASKS = 1024
MAX_API_BODY = 1024 * 1024  # bytes of a request body under /api/v1/
Kind = Annotated[str, StringConstraints(pattern=KIND_PATTERN, max_length=MAX_KIND_CHARS)]


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    house: str = Field(description="House to act as.")
    tool: str = Field(description="Tool name.")
    args: dict[str, Any] = Field(default_factory=dict, description="Tool arguments.")
    mode: Mode | None = Field(None, description="Mode; the house's default_mode when absent.")
    task: str | None = Field(None, description="Task the call belongs to.")
    timeout: float | None = Field(None, gt=0, description="Seconds before the call is cancelled.")


class GuardedApp(FastAPI):
    """FastAPI with ``guard`` wrapped around its whole middleware stack, error handling included: the guard
    sees each request before anything reads its body, and a client that hangs up is its business."""

    guard: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return self.guard(stack) if self.guard is not None else stack


def _body_rules(api_token: str | None, intake: WebhookIntake | None, max_api_body: int) -> list[BodyRule]:
    hooks_off = None if intake is not None else "webhook intake is off: set webhook_secret"
    api_off = None if api_token else "the API is off: set api_token (or api_token_file) in the settings"
    return [
        BodyRule("hooks", "/hooks/gitea", intake.max_body if intake is not None else MAX_BODY_BYTES, off=hooks_off),
        BodyRule("api", "/api/v1/", max_api_body, bearer=api_token or None, off=api_off),
    ]


def create_app(
    runtime: Runtime,
    *,
    api_token: str | None = None,
    webhook_secret: str | None = None,
    routers: Sequence[APIRouter] = (),
    readiness: Mapping[str, Callable[[], Mapping[str, Any]]] | None = None,
    max_api_body: int = MAX_API_BODY,
    body_timeout: float = BODY_TIMEOUT,
    viewer_token: str | None = None,
    dashboard: Dashboard | None = None,
) -> FastAPI:
    """Build the daemon's app on ``runtime``; ``api_token`` guards the execute and events endpoints and
    ``webhook_secret`` verifies the forge's webhook deliveries.

    ``routers`` add the APIs of the daemon's components (cascade, mesh, upgrades); ``readiness`` maps a
    component's name to a probe answering ``{"ready": bool, ...}`` for ``/ready`` (a probe that raises
    counts as not ready). ``max_api_body`` bounds request bodies under ``/api/v1/`` and ``body_timeout`` the
    seconds a body may take to arrive (see the module docstring). ``viewer_token`` lets read-only viewers log
    in (``auth.py``); ``dashboard`` gives the pages what they show (``pages/``; without it, only the login).
    """
    app = GuardedApp(title="uni-wizard", version=__version__, docs_url=None, redoc_url=None)
    owner_name = dashboard.owner if dashboard is not None else "owner"
    install_auth(app, Auth(api_token=api_token, viewer_token=viewer_token, owner=owner_name))
    mount_pages(app, dashboard or Dashboard(runtime))
    for router in routers:
        app.include_router(router)
    intake = WebhookIntake(runtime.store, webhook_secret, runtime.metrics.registry) if webhook_secret else None
    rules = _body_rules(api_token, intake, max_api_body)
    app.guard = lambda inner: BodyGuard(inner, rules, registry=runtime.metrics.registry, body_timeout=body_timeout)
    install_rate_limits()
    app.state.intake = intake  # the dispatcher consumes the queue it fills
    # the store opens with the first subscriber: a broken data directory is /health's 503, not a failed start
    app.state.feed = Broadcaster(lambda: EventLog(runtime.store, runtime.host), registry=runtime.metrics.registry)
    app.include_router(feed_router(app.state.feed))  # GET /ws/events and /api/v1/events/stream (feed.py)
    _add_probes(app, runtime, {"memory": memory_probe(runtime), **dict(readiness or {})})
    _add_api(app, runtime, api_token)
    app.include_router(predict_router(runtime, api_token=api_token))  # GET /api/v1/predict (predict_routes.py)
    app.include_router(memory_router(runtime, api_token=api_token))  # GET /api/v1/memory/search (memory_routes.py)
    _add_hooks(app, intake)
    return app


def _add_probes(app: FastAPI, runtime: Runtime, probes: Mapping[str, Callable[[], Mapping[str, Any]]]) -> None:
    """``/metrics``, ``/health`` and ``/ready``."""

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus exposition of the runtime's registry."""
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    def health() -> JSONResponse:
        """Alive, and the store can take a write."""
        try:
            writable = runtime.store.writable()
        except StoreError:
            writable = False
        body = {
            "status": "ok" if writable else "fail",
            "host": runtime.host,
            "version": __version__,
            "store_writable": writable,
        }
        return JSONResponse(body, status_code=200 if writable else 503)

    @app.get("/ready")
    def ready() -> JSONResponse:
        """Each component and its state; 503 unless every one is ready."""
        components = _components(runtime, probes)
        ok = all(c["ready"] for c in components.values())
        return JSONResponse({"ready": ok, "components": components}, status_code=200 if ok else 503)


def _components(runtime: Runtime, probes: Mapping[str, Callable[[], Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    components: dict[str, dict[str, Any]] = {}
    try:
        components["store"] = {"ready": runtime.store.writable(), "schema_version": runtime.store.schema_version()}
    except Exception as exc:  # report, do not crash the probe
        components["store"] = {"ready": False, "error": str(exc)}
    try:
        components["houses"] = {"ready": True, "houses": sorted(runtime.houses)}
    except ConfigError as exc:
        components["houses"] = {"ready": False, "error": str(exc)}
    components["tools"] = {"ready": len(runtime.registry) > 0, "count": len(runtime.registry)}
    states = runtime.breakers.states()
    components["breakers"] = {"ready": all(s != "open" for s in states.values()), "groups": states}
    for name, probe in probes.items():
        try:
            components[name] = dict(probe())
        except Exception as exc:  # report, do not crash the probe
            components[name] = {"ready": False, "error": str(exc)}
    return components


def _add_api(app: FastAPI, runtime: Runtime, api_token: str | None) -> None:
    """``POST /api/v1/execute`` and ``GET /api/v1/events``, behind the bearer token."""
    # One Harness per (house, mode, task), so read-before-write spans a task's calls; the oldest are dropped.
    # A call without a task is a task of its own.
    harnesses: OrderedDict[tuple[str, Mode | None, str | None], Harness] = OrderedDict()

    def authorize(authorization: str | None, api: str) -> None:
        """503 when no token is configured (``api`` is off), 401 unless ``authorization`` bears it."""
        if not api_token:
            raise HTTPException(503, f"the {api} API is off: set api_token (or api_token_file) in the settings")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), api_token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.post("/api/v1/execute")
    async def execute(request: ExecuteRequest, authorization: str | None = Header(None)) -> dict[str, Any]:
        """Run one tool call as a house; the answer is the Result."""
        authorize(authorization, "execute")
        key = (request.house, request.mode, request.task)
        harness = harnesses.get(key)
        if harness is None:
            try:
                harness = Harness(request.house, request.mode, runtime=runtime, task=request.task)
            except ConfigError:
                raise HTTPException(404, f"unknown house {request.house!r}") from None
            if request.task is not None:  # a call without a task is a task of its own
                harnesses[key] = harness
                if len(harnesses) > MAX_TASKS:
                    harnesses.popitem(last=False)
        if request.task is not None:
            harnesses.move_to_end(key)
        result = await harness.run(Call(request.tool, request.args, request.timeout))
        return result.as_dict()

    @app.get("/api/v1/events")
    def list_events(
        request: Request,
        since: int = Query(0, ge=0, description="Only events with a greater seq (a cursor)."),
        limit: int = Query(100, ge=1, description=f"At most this many (capped at {MAX_PAGE})."),
        kind: list[Kind] | None = Query(None, max_length=MAX_KINDS, description="Only these kinds (repeatable)."),
    ) -> dict[str, Any]:
        """Events after a cursor, oldest first, and the log's last seq (the owner or a viewer: ``auth.py``)."""
        if not api_token:
            authorize(None, "events")  # 503: the API is off
        viewer(request)
        return EventLog(runtime.store, runtime.host).page(since, min(limit, MAX_PAGE), kind).as_dict()


def _add_hooks(app: FastAPI, intake: WebhookIntake | None) -> None:
    """``POST /hooks/gitea``."""

    @app.post("/hooks/gitea")
    async def gitea_hook(request: Request) -> JSONResponse:
        """A Gitea webhook delivery: verified, de-duplicated and queued; answered once it is durable."""
        if intake is None:
            raise HTTPException(503, "webhook intake is off: set webhook_secret")
        status, body = await intake.handle(request.headers, request.stream())
        return JSONResponse(body, status_code=status)
