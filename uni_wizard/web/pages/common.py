"""What every page shares: ``Dashboard`` (what the pages show), the login check, the templates and ``render``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ...harness.runtime import Runtime
from ...observe.now import NowSnapshot
from ...review.types import QueueLine
from ...upgrade.records import Upgrade, UpgradeStore
from ..auth import Identity, csrf_token, identify

__all__ = [
    "STATIC_DIR",
    "TEMPLATES",
    "Dashboard",
    "LoginRequired",
    "dashboard_of",
    "forge_link",
    "install_login_redirect",
    "page_identity",
    "read_form",
    "render",
]

WEB_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES = Jinja2Templates(directory=WEB_DIR / "templates")

NAV = (
    ("now", "/now", "Now"),
    ("activity", "/activity", "Activity"),
    ("approvals", "/approvals", "Approvals and upgrades"),
    ("cascade", "/cascade", "Cascade"),
    ("provenance", "/provenance", "Provenance"),
    ("mesh", "/mesh", "Mesh"),
)


@dataclass(frozen=True)
class Dashboard:
    """What the pages show. ``owner`` is the name the owner's decisions are recorded under (settings ``owner``);
    ``forge_url`` the forge the Activity and Issue pages link to. The callables are the composition's:
    ``now`` takes the Now snapshot (``assembly/now.py``), ``cascade`` answers ``Cascade.status()``, ``mesh`` the
    mesh view's snapshot, ``upgrades`` is the upgrade queue's records and ``decide_upgrade(number, approve,
    reason)`` approves or rejects one as the sovereign does (``uni-wizard upgrades approve|reject``);
    ``merge_queue`` answers the merge queue as this host's reviewer last found it (``review/merge_pass.py``);
    ``escalations`` each escalation category's threshold and why (``uni-wizard escalations``)."""

    runtime: Runtime
    owner: str = "owner"
    forge_url: str | None = None
    now: Callable[[], Awaitable[NowSnapshot]] | None = None
    cascade: Callable[[], Mapping[str, Any]] | None = None
    mesh: Callable[[], Awaitable[Mapping[str, Any]]] | None = None
    upgrades: UpgradeStore | None = None
    decide_upgrade: Callable[[int, bool, str], Awaitable[Upgrade]] | None = None
    merge_queue: Callable[[], Sequence[QueueLine]] | None = None
    escalations: Callable[[], Sequence[Mapping[str, Any]]] | None = None


class LoginRequired(Exception):
    """A page asked for without a login: answered with a redirect to ``/login``."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def install_login_redirect(app: FastAPI) -> None:
    """Answer ``LoginRequired`` with 303 to ``/login?next=...`` (for an HTMX fragment: ``HX-Redirect``)."""

    async def redirect(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        where = f"/login?next={quote(exc.target, safe='')}"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": where})
        return RedirectResponse(where, status_code=303)

    app.add_exception_handler(LoginRequired, redirect)


def page_identity(request: Request) -> Identity:
    """FastAPI dependency of every page: who is logged in, else ``LoginRequired`` (a redirect to the login)."""
    who = identify(request)
    if who is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return who


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (the first value of each field); any other body
    has no field (so no CSRF token: 403 where one is needed). The body guard (``guard.py``) bounds its size."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    try:
        fields = parse_qs((await request.body()).decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form cannot be read") from None
    return {name: values[0] for name, values in fields.items()}


def dashboard_of(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def forge_link(forge_url: str | None, repository: str | None, number: int | None) -> str | None:
    """The issue's (or pull request's: Gitea redirects) page on the forge, when the forge is known."""
    if not forge_url or not repository or number is None:
        return None
    return f"{forge_url.rstrip('/')}/{repository}/issues/{int(number)}"


def render(request: Request, template: str, who: Identity, page: str, **context: Any) -> Response:
    """The page ``template`` for ``who``: the navigation, the CSRF token of its forms and ``context``."""
    dashboard = dashboard_of(request)
    context |= {
        "who": who,
        "nav": NAV,
        "page": page,
        "csrf": csrf_token(request, who) if who.via == "session" else "",
        "forge_url": dashboard.forge_url,
        "forge_link": lambda repository, number: forge_link(dashboard.forge_url, repository, number),
        "host": dashboard.runtime.host,
    }
    return TEMPLATES.TemplateResponse(request, template, context)
