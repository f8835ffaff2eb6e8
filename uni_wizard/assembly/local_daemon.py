"""This host's daemon, asked over HTTP for what only its process knows (live breakers, the cascade's state).

    data, url = ask_daemon(settings, "/api/v1/cascade")   # (None, url) when no daemon answers there

The daemon listens on the settings' ``bind`` and ``port``; a wildcard bind is asked on loopback. The CLI starts a
fresh process per command, whose breakers are all closed: the daemon's are the ones that mean something.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..config import Settings

__all__ = ["ask_daemon", "daemon_url"]


def daemon_url(settings: Settings) -> str:
    """The base URL of this host's daemon as its settings place it (loopback for a wildcard bind)."""
    address = "127.0.0.1" if settings.bind in ("0.0.0.0", "::", "") else settings.bind  # noqa: S104
    return f"http://{f'[{address}]' if ':' in address else address}:{settings.port}"


def ask_daemon(settings: Settings, path: str, *, timeout: float = 1.0) -> tuple[dict[str, Any] | None, str]:
    """The JSON object the daemon answers to ``GET path`` (any status: ``/ready`` answers 503 with its components)
    and the URL asked; None when there is no port, nothing answers, or the answer is not a JSON object."""
    url = daemon_url(settings) + path
    if not settings.port:
        return None, url
    try:
        response = httpx.get(url, timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return None, url
    if response.status_code not in (200, 503):
        return None, url
    try:
        data = response.json()
    except ValueError:
        return None, url
    return (data, url) if isinstance(data, dict) else (None, url)
