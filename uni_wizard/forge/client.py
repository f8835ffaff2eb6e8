"""``GiteaClient``: the thin typed async client uni-wizard talks to its forge with.

One style: async methods on one object, used in ``async with``::

    async with GiteaClient("https://forge.example", token) as forge:
        issue = await forge.get_issue("mesh", "coordination", 12)
        await forge.add_labels("mesh", "coordination", 12, ["status/doing"])

It works the same against real Gitea (1.23 and later) and against the devforge,
over the network or in-process (``transport=httpx.ASGITransport(app)``; tests use
``httpx.MockTransport``). The operations live in ``issues.py``, ``pulls.py`` and
``repos.py``; the request path (auth, errors, retries, breaker, metrics) in
``http.py``. Lists return lists, every page followed (``paginate`` is there for
streaming). Errors: ``ForgeError`` subclasses by status, ``ForgeUnavailable``
when the forge cannot be reached or its breaker is open (see ``uni_wizard.errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ..errors import ConfigError
from .issues import IssuesAPI
from .models import AccessToken, User
from .pulls import PullsAPI
from .repos import ReposAPI

__all__ = ["MESH_SCOPES", "GiteaClient"]

MESH_SCOPES = ("write:repository", "write:issue", "read:user")
"""The token scopes a house needs on the mesh's forge."""


class GiteaClient(IssuesAPI, PullsAPI, ReposAPI):
    """An async Gitea API v1 client.

    Args:
        base_url: the forge's root URL (``https://forge.example/``); ``/api/v1`` is added
            unless it is already there.
        token: the API token, sent as ``Authorization: token <T>``; never in messages.
        username, password: HTTP basic auth, needed by ``create_token`` (and used for
            every call when there is no token).
        transport: an httpx transport (``MockTransport``, ``ASGITransport``); None: the network.
        timeout: seconds for connecting and for each read.
        registry: the Prometheus registry of the ``uniwizard_forge_*`` metrics (default: prometheus_client's
            ``REGISTRY``, as prometheus-client's own ``registry=`` arguments).
        breaker: the forge's pybreaker breaker (None: a new ``forge_breaker()``); share one
            between clients of one forge.
        retries: extra attempts for GET and HEAD on connection failures, timeouts and
            502/503/504 (writes are never retried).
        sleep: what waits between retries (tests pass a recorder).
    """

    async def me(self) -> User:
        """The account the client acts as."""
        return User.model_validate(await self._json("GET", "/user"))

    async def get_user(self, username: str) -> User:
        return User.model_validate(await self._json("GET", "/users/{username}", path={"username": username}))

    async def create_user(
        self,
        username: str,
        email: str,
        password: str,
        *,
        must_change_password: bool = False,
        visibility: Literal["public", "limited", "private"] | None = None,
    ) -> User:
        """Create an account (site admins only: ``POST /admin/users``)."""
        payload: dict[str, object] = {
            "username": username,
            "email": email,
            "password": password,
            "must_change_password": must_change_password,
        }
        if visibility is not None:
            payload["visibility"] = visibility
        return User.model_validate(await self._json("POST", "/admin/users", json=payload))

    async def create_token(self, username: str, name: str, scopes: Sequence[str] = MESH_SCOPES) -> AccessToken:
        """Create an API token for ``username``; ``AccessToken.sha1`` is the token (shown once).

        Gitea accepts only HTTP basic auth here, so the client needs ``username`` and ``password``.
        """
        if self._basic is None:
            raise ConfigError("create_token needs the client's username and password (basic auth)")
        data = await self._json(
            "POST",
            "/users/{username}/tokens",
            path={"username": username},
            json={"name": name, "scopes": list(scopes)},
            basic_auth=True,
        )
        return AccessToken.model_validate(data)
