"""Users, organisations, access tokens and the server version.

``POST /users/{u}/tokens`` needs Basic auth with the password: a token (header, or as the Basic
password) gets 401 "auth required". The token itself (``sha1``) is shown once and stored hashed.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .access import user_by_name
from .auth import Caller, caller_of, hash_password, hash_token, new_salt, new_token, require_admin, require_scope
from .auth import require_user as _require_user
from .core import VERSION, Forge, forge_of
from .db import Row, fmt_time
from .errors import bad_request, forbidden, not_found, required, unauthorized, unprocessable
from .objects import org_json, user_json
from .web import Body, created, json_body, no_content, ok

__all__ = ["create_user", "ensure_admin", "router"]

router = APIRouter()

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
RESERVED = {
    ".",
    "..",
    "admin",
    "api",
    "assets",
    "avatars",
    "explore",
    "login",
    "notifications",
    "org",
    "orgs",
    "repo",
    "repos",
    "user",
    "users",
}
SCOPE_AREAS = ("activitypub", "admin", "issue", "misc", "notification", "organization", "package", "repository", "user")
SCOPES = {"all", "public-only"} | {f"{rw}:{area}" for rw in ("read", "write") for area in SCOPE_AREAS}


def check_name(field: str, name: str) -> None:
    if not name:
        raise required(field)
    if not NAME_RE.match(name) or name.endswith((".git", ".wiki")):
        raise unprocessable(f"[{field}]: AlphaDashDot")
    if name.lower() in RESERVED:
        raise unprocessable(f"name is reserved [name: {name}]")


def create_user(
    forge: Forge,
    login: str,
    *,
    email: str = "",
    password: str = "",
    is_admin: bool = False,
    is_org: bool = False,
    full_name: str = "",
    visibility: str = "public",
    description: str = "",
) -> Row:
    check_name("Username", login)
    with forge.db.tx():
        if user_by_name(forge, login) is not None:
            raise unprocessable(f"user already exists [name: {login}]")
        if email and forge.db.one("SELECT 1 FROM users WHERE lower(email) = lower(?)", (email,)):
            raise unprocessable(f"e-mail already in use [email: {email}]")
        salt = new_salt() if password else ""
        user_id = forge.db.run(
            "INSERT INTO users (login, lower_login, full_name, email, password_hash, salt, is_admin, is_org, "
            "visibility, description, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                login,
                login.lower(),
                full_name,
                email,
                hash_password(password, salt) if password else "",
                salt,
                int(is_admin),
                int(is_org),
                visibility,
                description,
                forge.now(),
            ),
        )
        row = forge.db.one("SELECT * FROM users WHERE id = ?", (user_id,))
    assert row is not None
    return row


def ensure_admin(forge: Forge, login: str, password: str) -> Row:
    """The site admin from ``admin=(user, password)``: created on first start, password kept in step."""
    existing = user_by_name(forge, login)
    if existing is None:
        return create_user(forge, login, email=f"{login.lower()}@devforge.local", password=password, is_admin=True)
    salt = new_salt()
    forge.db.run(
        "UPDATE users SET password_hash = ?, salt = ?, is_admin = 1 WHERE id = ?",
        (hash_password(password, salt), salt, existing["id"]),
    )
    row = forge.db.one("SELECT * FROM users WHERE id = ?", (existing["id"],))
    assert row is not None
    return row


@router.get("/version")
def version() -> Response:
    return ok({"version": VERSION})


@router.get("/user")
def me(request: Request, caller: Caller = Depends(caller_of)) -> Response:
    user = _require_user(caller)
    require_scope(caller, "user", write=False)
    return ok(user_json(forge_of(request), user))


@router.get("/users/{username}")
def get_user(username: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    require_scope(caller, "user", write=False)
    user = user_by_name(forge, username)
    if user is None:
        raise not_found(f"user redirect does not exist [name: {username}]")
    return ok(user_json(forge, user))


@router.post("/admin/users")
def admin_create_user(
    request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    require_admin(caller)
    require_scope(caller, "admin", write=True)
    login = body.str("username")
    if not login:
        raise required("Username")
    email = body.str("email")
    if not email:
        raise required("Email")
    if "@" not in email:
        raise unprocessable("[Email]: Email")
    user = create_user(
        forge,
        login,
        email=email,
        password=body.str("password"),
        full_name=body.str("full_name"),
        visibility=body.str("visibility") or "public",
    )
    return created(user_json(forge, user))


def _token_owner(forge: Forge, caller: Caller, username: str) -> Row:
    if caller.user is None:
        raise unauthorized("auth required")
    if caller.method != "password":
        raise unauthorized("auth required")
    target = user_by_name(forge, username, orgs=False)
    if target is None:
        raise not_found()
    if target["id"] != caller.user["id"] and not caller.user["is_admin"]:
        raise forbidden("doer should be the site admin or be same as the contextUser")
    return target


def _token_json(row: Row, token: str = "") -> dict[str, object]:
    return {
        "id": row["id"],
        "name": row["name"],
        "sha1": token,
        "token_last_eight": row["last_eight"],
        "scopes": [s for s in row["scopes"].split(",") if s],
        "created_at": fmt_time(row["created"]),
        "last_used_at": fmt_time(row["last_used"] or row["created"]),
    }


@router.post("/users/{username}/tokens")
def create_token(
    username: str, request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)
) -> Response:
    forge = forge_of(request)
    user = _token_owner(forge, caller, username)
    name = body.str("name")
    if not name:
        raise required("Name")
    scopes = [part.strip() for item in (body.str_list("scopes") or []) for part in item.split(",") if part.strip()]
    if any(s not in SCOPES for s in scopes):
        raise bad_request("invalid access token scope provided")
    if not scopes:
        raise bad_request("access token must have a scope")
    if "all" in scopes:
        scopes = ["all"]
    token = new_token()
    with forge.db.tx():
        if forge.db.one("SELECT 1 FROM tokens WHERE user_id = ? AND name = ?", (user["id"], name)):
            raise bad_request("access token name has been used already")
        token_id = forge.db.run(
            "INSERT INTO tokens (user_id, name, token_hash, last_eight, scopes, created) VALUES (?,?,?,?,?,?)",
            (user["id"], name, hash_token(token), token[-8:], ",".join(scopes), forge.now()),
        )
        row = forge.db.one("SELECT * FROM tokens WHERE id = ?", (token_id,))
    assert row is not None
    return created(_token_json(row, token))


@router.get("/users/{username}/tokens")
def list_tokens(username: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    user = _token_owner(forge, caller, username)
    rows = forge.db.all("SELECT * FROM tokens WHERE user_id = ? ORDER BY id", (user["id"],))
    return ok([_token_json(r) for r in rows], headers={"X-Total-Count": str(len(rows))})


@router.delete("/users/{username}/tokens/{token}")
def delete_token(username: str, token: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    user = _token_owner(forge, caller, username)
    where = "id = ?" if token.isdigit() else "name = ?"
    if not forge.db.run(f"DELETE FROM tokens WHERE user_id = ? AND {where}", (user["id"], token)):  # noqa: S608
        raise not_found()
    return no_content()


@router.post("/orgs")
def create_org(request: Request, caller: Caller = Depends(caller_of), body: Body = Depends(json_body)) -> Response:
    forge = forge_of(request)
    user = _require_user(caller)
    require_scope(caller, "organization", write=True)
    name = body.str("username")
    if not name:
        raise required("UserName")
    visibility = body.str("visibility") or "public"
    if visibility not in ("public", "limited", "private"):
        raise unprocessable("[Visibility]: In")
    with forge.db.tx():
        org = create_user(
            forge,
            name,
            is_org=True,
            full_name=body.str("full_name"),
            email=body.str("email"),
            visibility=visibility,
            description=body.str("description"),
        )
        forge.db.run("INSERT INTO org_owners (org_id, user_id) VALUES (?, ?)", (org["id"], user["id"]))
    return created(org_json(forge, org))


@router.get("/orgs/{org}")
def get_org(org: str, request: Request, caller: Caller = Depends(caller_of)) -> Response:
    forge = forge_of(request)
    row = user_by_name(forge, org)
    if row is None or not row["is_org"]:
        raise not_found()
    if row["visibility"] == "private" and not _is_owner(forge, caller, row):
        raise not_found()
    return ok(org_json(forge, row))


def _is_owner(forge: Forge, caller: Caller, org: Row) -> bool:
    if caller.user is None:
        return False
    if caller.user["is_admin"]:
        return True
    return bool(forge.db.one("SELECT 1 FROM org_owners WHERE org_id = ? AND user_id = ?", (org["id"], caller.id)))


def is_org_owner(forge: Forge, caller: Caller, org: Row) -> bool:
    return _is_owner(forge, caller, org)
