"""``GET /login`` (the form), ``POST /login`` (a pasted token opens a session), ``POST /logout``.

The login form has its own CSRF defence before any session exists (a double submit): ``GET /login`` sets the
HttpOnly, SameSite=Strict cookie ``uw_login`` to a random value that the form repeats in its hidden
``csrf`` field; ``POST /login`` without both, equal, is 403. A wrong token is 401 and the form again, saying so.
``next`` is followed only when it is a path of this site (no open redirect).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from ..auth import Auth, Identity, check_csrf
from .common import TEMPLATES, page_identity, read_form

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "uw_login"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/now"


def _login_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    auth: Auth = request.app.state.auth
    nonce = secrets.token_urlsafe(24)
    context = {
        "enabled": auth.enabled,
        "error": error,
        "csrf": nonce,
        "next": _safe_next(request.query_params.get("next")),
    }
    response = TEMPLATES.TemplateResponse(request, "login.html", context, status_code=status)
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict", path="/login")
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    """The login form: paste the API token (the owner) or the viewer token (read-only)."""
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Open a session for the pasted token; 403 without the form's CSRF value, 401 for a wrong token."""
    form = await read_form(request)
    given, expected = form.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")
    if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "the login form's CSRF token is missing or wrong: reload the page")
    auth: Auth = request.app.state.auth
    if not auth.enabled:
        raise HTTPException(503, "logins are off: set api_token (or api_token_file) in the settings")
    who = auth.by_token(form.get("token", "").strip())
    if who is None:
        return _login_page(request, error="That token is neither the API token nor the viewer token.", status=401)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    auth.set_cookie(response, auth.issue(who), secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, who: Identity = Depends(page_identity)) -> Response:
    """End the session (the cookie is cleared); 403 without the form's CSRF token."""
    form = await read_form(request)
    check_csrf(request, who, form.get("csrf"))
    auth: Auth = request.app.state.auth
    auth.end(who)
    response = RedirectResponse("/login", status_code=303)
    Auth.clear_cookie(response)
    return response
