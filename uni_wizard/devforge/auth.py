"""Who is calling: ``Authorization: token|bearer <T>``, Basic ``user:password`` or ``user:<token>`` (Gitea §2).

Bad credentials are refused at once (401 "invalid username, password or token"), even on endpoints
that anonymous callers may use. A token's scopes are checked loosely: ``all``, or ``write:<area>``
(which implies ``read:<area>``), or ``read:<area>`` for reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request

from .core import Forge, forge_of
from .db import Row
from .errors import ApiError, forbidden, unauthorized

__all__ = [
    "Caller",
    "caller_of",
    "hash_password",
    "hash_token",
    "new_salt",
    "new_token",
    "require_scope",
    "require_user",
]

BAD_CREDENTIALS = "invalid username, password or token"


@dataclass(frozen=True)
class Caller:
    user: Row | None
    scopes: frozenset[str] | None = None  # None: not limited (password, or anonymous)
    method: str = "anonymous"  # anonymous | password | token

    @property
    def id(self) -> int:
        return int(self.user["id"]) if self.user is not None else 0

    @property
    def is_admin(self) -> bool:
        return bool(self.user is not None and self.user["is_admin"])


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10_000).hex()


def new_token() -> str:
    """A 40-hex-digit token, the shape of Gitea's ``sha1`` field."""
    return secrets.token_hex(20)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user_by_token(forge: Forge, token: str) -> tuple[Row, frozenset[str]] | None:
    row = forge.db.one("SELECT * FROM tokens WHERE token_hash = ?", (hash_token(token),))
    if row is None:
        return None
    user = forge.db.one("SELECT * FROM users WHERE id = ?", (row["user_id"],))
    if user is None:
        return None
    forge.db.run("UPDATE tokens SET last_used = ? WHERE id = ?", (forge.now(), row["id"]))
    scopes = frozenset(s for s in row["scopes"].split(",") if s)
    return user, scopes


def _password_ok(user: Row, password: str) -> bool:
    if not user["password_hash"]:
        return False
    return hmac.compare_digest(user["password_hash"], hash_password(password, user["salt"]))


def authenticate(forge: Forge, authorization: str | None, query_token: str | None = None) -> Caller:
    """Resolve the credentials in a request (``ApiError`` 401 when they are wrong)."""
    if authorization:
        parts = authorization.split()
        if len(parts) == 2:
            scheme, value = parts[0].lower(), parts[1]
            if scheme in ("token", "bearer"):
                found = _user_by_token(forge, value)
                if found is None:
                    raise unauthorized(BAD_CREDENTIALS)
                return Caller(found[0], found[1], "token")
            if scheme == "basic":
                return _basic(forge, value)
    if query_token:
        found = _user_by_token(forge, query_token)
        if found is None:
            raise unauthorized(BAD_CREDENTIALS)
        return Caller(found[0], found[1], "token")
    return Caller(None)


def _basic(forge: Forge, value: str) -> Caller:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise unauthorized(BAD_CREDENTIALS) from exc
    name, _, password = decoded.partition(":")
    token = name if password in ("", "x-oauth-basic") else password
    found = _user_by_token(forge, token)
    if found is not None:
        return Caller(found[0], found[1], "token")
    user = forge.db.one("SELECT * FROM users WHERE lower_login = ? AND is_org = 0", (name.lower(),))
    if user is None or not _password_ok(user, password):
        raise unauthorized(BAD_CREDENTIALS)
    return Caller(user, None, "password")


def caller_of(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller (anonymous allowed), cached on the request."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    forge = forge_of(request)
    query_token = request.query_params.get("token") or request.query_params.get("access_token")
    caller = authenticate(forge, request.headers.get("authorization"), query_token)
    request.state.caller = caller
    return caller


def require_user(caller: Caller) -> Row:
    if caller.user is None:
        raise unauthorized("token is required")
    return caller.user


def require_scope(caller: Caller, area: str, *, write: bool) -> None:
    """403 when a token lacks the scope for ``area`` (repository, issue, user, admin, organization...)."""
    if caller.scopes is None or "all" in caller.scopes:
        return
    wanted = f"write:{area}" if write else f"read:{area}"
    if f"write:{area}" in caller.scopes or wanted in caller.scopes:
        return
    raise ApiError(
        403,
        f"token does not have at least one of required scope(s), required=[{wanted}], "
        f"token scope={','.join(sorted(caller.scopes))}",
    )


def require_admin(caller: Caller) -> Row:
    user = require_user(caller)
    if not user["is_admin"]:
        raise forbidden("user should be the site admin")
    return user
