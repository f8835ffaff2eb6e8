"""Gitea's error answers: ``{"message": ..., "url": ROOT_URL + "api/swagger"}``, a few without a body.

Handlers raise ``ApiError``; the app's exception handler renders it. ``bodiless`` copies the few
``ctx.Status(403)`` answers that have no JSON at all; ``raw`` carries a body that is not
``{message, url}`` (the 409 merge-conflict answer).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

__all__ = [
    "ApiError",
    "bad_request",
    "conflict",
    "forbidden",
    "locked",
    "not_allowed",
    "not_found",
    "precondition",
    "render_error",
    "required",
    "server_error",
    "unauthorized",
    "unprocessable",
]


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        bodiless: bool = False,
        raw: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.bodiless = bodiless
        self.raw = raw
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unauthorized(message: str = "token is required") -> ApiError:
    return ApiError(401, message)


def forbidden(message: str = "", *, bodiless: bool = False) -> ApiError:
    return ApiError(403, message, bodiless=bodiless)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, message)


def not_allowed(message: str) -> ApiError:
    return ApiError(405, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def precondition(message: str) -> ApiError:
    return ApiError(412, message)


def unprocessable(message: str) -> ApiError:
    return ApiError(422, message)


def required(field: str) -> ApiError:
    """A binding error the way Gitea words it: ``[Title]: Required``."""
    return ApiError(422, f"[{field}]: Required")


def locked() -> ApiError:
    return ApiError(423, "repo is archived")


def server_error(message: str = "") -> ApiError:
    """500; Gitea hides the message from non-admins in production, so the default is empty."""
    return ApiError(500, message)


def render_error(request: Request, exc: ApiError) -> Response:
    if exc.bodiless:
        return Response(status_code=exc.status, headers=exc.headers)
    if exc.raw is not None:
        return JSONResponse(exc.raw, status_code=exc.status, headers=exc.headers)
    root_url: str = request.app.state.forge.root_url
    body = {"message": exc.message, "url": root_url + "api/swagger"}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)
