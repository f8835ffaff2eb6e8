"""Who is asking: the owner (the API token) or a read-only viewer (the viewer token), by bearer token or session.

    auth = Auth(api_token="...", viewer_token="...", owner="alex")
    install_auth(app, auth)                            # app.state.auth, read by the dependencies below

    @router.get("/api/v1/thing")
    def thing(who: Identity = Depends(viewer)) -> ...   # owner or viewer; 401 for anyone else
    @router.post("/api/v1/thing")
    def change(who: Identity = Depends(owner)) -> ...   # the owner only; a viewer gets 403

A request is identified by, in order: ``Authorization: Bearer <api token>`` (the owner) or ``Bearer <viewer
token>`` (a viewer), else the session cookie ``uw_session`` the login page issues. The cookie is
``<payload>.<mac>``: the payload (base64url JSON) holds the role, the expiry and a random session id; the mac is
HMAC-SHA256 under a key derived from the API token *and* the token the session was opened with, so changing
either token ends every session opened with it. The cookie is HttpOnly, SameSite=Strict (Secure over https)
and lasts ``SESSION_SECONDS``; logging out ends the session in the daemon too (``Auth.end``). Without an API
token nobody can log in (the dependencies answer 503).

``viewer`` and ``owner`` work on HTTP routes and WebSocket routes alike (their parameter is an
``HTTPConnection``): on a WebSocket a refusal is ``WebSocketException`` with close code 1008 (policy
violation) instead of the HTTP 401/403. ``identify(connection)`` answers ``None`` instead of raising.

CSRF: every form carries ``csrf_token(identity)`` in a hidden ``csrf`` field; ``check_csrf(identity, value)``
raises 403 unless it matches. The token is an HMAC of the session id, so it lives and dies with the session;
a bearer-token request (no cookie, so no ambient authority to forge) needs none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI, HTTPException, WebSocketException
from starlette.requests import HTTPConnection
from starlette.responses import Response

__all__ = [
    "COOKIE",
    "SESSION_SECONDS",
    "Auth",
    "Identity",
    "Role",
    "check_csrf",
    "csrf_token",
    "identify",
    "install_auth",
    "owner",
    "viewer",
]

COOKIE = "uw_session"
SESSION_SECONDS = 12 * 3600
POLICY_VIOLATION = 1008  # WebSocket close code for a refused connection
Role = Literal["owner", "viewer"]


@dataclass(frozen=True)
class Identity:
    """Who a request is: ``role`` ``owner`` or ``viewer``; ``name`` the owner's name (settings ``owner``) or
    ``viewer``; ``via`` ``bearer`` or ``session``; ``session`` the session id (empty for a bearer token)."""

    role: Role
    name: str
    via: Literal["bearer", "session"]
    session: str = ""

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


class Auth:
    """The tokens and the session keys derived from them; ``clock`` answers the time in seconds."""

    def __init__(
        self,
        *,
        api_token: str | None,
        viewer_token: str | None = None,
        owner: str = "owner",
        session_seconds: int = SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tokens: dict[Role, str] = {}
        if api_token:
            self._tokens["owner"] = api_token
            if viewer_token and viewer_token != api_token:
                self._tokens["viewer"] = viewer_token
        self.owner = owner
        self.session_seconds = session_seconds
        self.clock = clock
        self._ended: dict[str, float] = {}  # session id -> when its cookie would have expired anyway

    @property
    def enabled(self) -> bool:
        """Whether anyone can log in (an API token is configured)."""
        return "owner" in self._tokens

    def _key(self, role: Role) -> bytes:
        token = self._tokens[role]
        material = b"uni-wizard session\0" + role.encode() + b"\0" + hashlib.sha256(token.encode()).digest()
        return hmac.new(self._tokens["owner"].encode(), material, hashlib.sha256).digest()

    def _identity(self, role: Role, via: Literal["bearer", "session"], session: str = "") -> Identity:
        return Identity(role, self.owner if role == "owner" else "viewer", via, session)

    def by_token(self, token: str) -> Identity | None:
        """The identity a pasted or bearer token stands for, else ``None``."""
        for role, expected in self._tokens.items():
            if token and hmac.compare_digest(token.encode(), expected.encode()):
                return self._identity(role, "bearer")
        return None

    def issue(self, identity: Identity) -> str:
        """A new session cookie value for ``identity`` (a fresh session id)."""
        payload = {"r": identity.role, "x": int(self.clock()) + self.session_seconds, "s": secrets.token_urlsafe(16)}
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._mac(identity.role, body)}"

    def _mac(self, role: Role, body: str) -> str:
        return hmac.new(self._key(role), body.encode(), hashlib.sha256).hexdigest()

    def by_cookie(self, value: str) -> Identity | None:
        """The identity of a session cookie: ``None`` when forged, tampered with, expired or of a changed token."""
        body, _, mac = value.partition(".")
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            role, expiry, session = payload["r"], payload["x"], payload["s"]
        except (ValueError, KeyError, TypeError):
            return None
        if role not in self._tokens or not isinstance(expiry, int) or not isinstance(session, str):
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(role, body).encode()) or expiry <= self.clock():
            return None
        if session in self._ended:
            return None
        return self._identity(role, "session", session)

    def end(self, identity: Identity) -> None:
        """Log ``identity``'s session out: its cookie is refused from now on, even if a copy of it is replayed
        (held in this process until the cookie would have expired)."""
        now = self.clock()
        self._ended = {s: until for s, until in self._ended.items() if until > now}
        if identity.session:
            self._ended[identity.session] = now + self.session_seconds

    def csrf(self, identity: Identity) -> str:
        """The CSRF token of ``identity``'s session."""
        return hmac.new(self._key(identity.role), b"csrf\0" + identity.session.encode(), hashlib.sha256).hexdigest()

    def set_cookie(self, response: Response, value: str, *, secure: bool) -> None:
        response.set_cookie(
            COOKIE, value, max_age=self.session_seconds, httponly=True, samesite="strict", secure=secure, path="/"
        )

    @staticmethod
    def clear_cookie(response: Response) -> None:
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", path="/")


def install_auth(app: FastAPI, auth: Auth) -> None:
    """Make ``auth`` the one the dependencies of ``app`` use."""
    app.state.auth = auth


def _auth(connection: HTTPConnection) -> Auth:
    auth: Auth | None = getattr(connection.app.state, "auth", None)
    if auth is None or not auth.enabled:
        raise _refusal(connection, 503, "logins are off: set api_token (or api_token_file) in the settings")
    return auth


def identify(connection: HTTPConnection) -> Identity | None:
    """The identity of a request or WebSocket (bearer token first, then the session cookie), else ``None``."""
    auth: Auth | None = getattr(connection.app.state, "auth", None)
    if auth is None or not auth.enabled:
        return None
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return auth.by_token(given.strip())
    cookie = connection.cookies.get(COOKIE)
    return auth.by_cookie(cookie) if cookie else None


def _refusal(connection: HTTPConnection, status: int, reason: str) -> Exception:
    if connection.scope["type"] == "websocket":
        return WebSocketException(POLICY_VIOLATION, reason)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status, reason, headers=headers)


def viewer(connection: HTTPConnection) -> Identity:
    """FastAPI dependency: the owner or a viewer; 401 otherwise (503 when logins are off)."""
    _auth(connection)
    who = identify(connection)
    if who is None:
        raise _refusal(connection, 401, "log in, or send a valid bearer token")
    return who


def owner(connection: HTTPConnection) -> Identity:
    """FastAPI dependency: the owner only; 401 for nobody, 403 for a viewer."""
    who = viewer(connection)
    if not who.is_owner:
        raise _refusal(connection, 403, "viewers may look, not act: log in with the API token")
    return who


def csrf_token(connection: HTTPConnection, identity: Identity) -> str:
    """The value of the hidden ``csrf`` field of every form ``identity`` is shown."""
    return _auth(connection).csrf(identity)


def check_csrf(connection: HTTPConnection, identity: Identity, given: str | None) -> None:
    """403 unless ``given`` is the CSRF token of ``identity``'s session (a bearer-token request needs none)."""
    if identity.via == "bearer":
        return
    if not given or not hmac.compare_digest(given.encode(), _auth(connection).csrf(identity).encode()):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
