"""``GET /api/v1/predict``: what ``uni-wizard predict`` shows, over HTTP, behind the API token.

    app = create_app(runtime, api_token="...")   # mounts predict_router(runtime, api_token=...)

``?tool=T&house=H`` (and any other query parameter as an argument of the call, ``repo_path=...``) gives the
prediction of a tool call; ``?issue=TEXT`` which house routing would choose, with each house's predicted
success on the issue's kind. 503 when no token is configured, 401 without it; 404 for an unknown house or
tool, 422 for a request that names neither a tool call nor an issue, or both.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query, Request

from ..dispatch.predictions import issue_prediction, tool_prediction
from ..errors import ConfigError, ToolCallError
from ..harness.runtime import Runtime

__all__ = ["predict_router"]

_OWN = {"tool", "house", "issue"}


def predict_router(runtime: Runtime, *, api_token: str | None) -> APIRouter:
    router = APIRouter()

    def authorize(authorization: str | None) -> None:
        if not api_token:
            raise HTTPException(503, "the predict API is off: set api_token (or api_token_file) in the settings")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), api_token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @router.get("/api/v1/predict")
    def predict(
        request: Request,
        tool: str | None = Query(None, max_length=200, description="The tool a call would run."),
        house: str | None = Query(None, max_length=200, description="The house that would run it."),
        issue: str | None = Query(None, max_length=20_000, description="An issue's text (first line the title)."),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        """A tool call's predicted success, uncertainty, samples and duration, or an issue's routing."""
        authorize(authorization)
        if (issue is not None and (tool is not None or house is not None)) or (
            issue is None and (tool is None or house is None)
        ):
            raise HTTPException(422, "give ?tool=T&house=H (a tool call) or ?issue=TEXT (an issue), not both")
        if tool is not None and tool not in runtime.registry:
            raise HTTPException(404, f"unknown tool {tool!r}")
        try:
            if issue is not None:
                return issue_prediction(runtime, issue)
            assert tool is not None and house is not None
            args = {k: v for k, v in request.query_params.items() if k not in _OWN}
            return tool_prediction(runtime, house, tool, args)
        except ConfigError as exc:
            raise HTTPException(404, str(exc).splitlines()[0]) from None
        except ToolCallError as exc:
            raise HTTPException(422, str(exc)) from None

    return router
