"""Fixtures for the devforge tests: one devforge per test module, served by uvicorn on a real loopback port.

Import the fixtures into a test module: ``from conftest_devforge import forge_fixture, gitea_schema_fixture``
(they are registered under the names ``forge`` and ``gitea_schema``).
The forge runs on a ``ManualClock``: time stands still unless a test advances it, so timestamps are
predictable (whole seconds, RFC 3339).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from uni_wizard.devforge import DevforgeServer, Faults

ADMIN = ("root", "root-password-1")
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
# Gitea's own OpenAPI document, vendored beside the contract tests
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "contract" / "gitea-swagger-v1.json"


class ManualClock:
    def __init__(self, start: float = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now


@dataclass
class Account:
    login: str
    password: str
    token: str
    client: httpx.Client

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.post(path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.put(path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.patch(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.request("DELETE", path, **kw)


@dataclass
class Forge:
    server: DevforgeServer
    clock: ManualClock
    faults: Faults
    root: Account
    alice: Account  # writer, the usual author
    bob: Account  # writer, the usual reviewer
    carol: Account  # reader only
    anon: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, login: str) -> str:
        """The API token of ``login`` (root, alice, bob or carol)."""
        account: Account = getattr(self, login)
        return account.token

    def new_repo(self, *, auto_init: bool = True, private: bool = False, owner: Account | None = None) -> str:
        """A fresh repository of alice's (bob a writer, carol a reader); returns "alice/<name>"."""
        owner = owner or self.alice
        name = f"r-{uuid.uuid4().hex[:8]}"
        r = owner.post("/user/repos", json={"name": name, "auto_init": auto_init, "private": private})
        assert r.status_code == 201, r.text
        full = f"{owner.login}/{name}"
        for who, perm in ((self.bob, "write"), (self.carol, "read")):
            if who.login != owner.login:
                r = owner.put(f"/repos/{full}/collaborators/{who.login}", json={"permission": perm})
                assert r.status_code == 204, r.text
        return full


def _account(api: str, root: httpx.Client | None, login: str, password: str) -> Account:
    if root is not None:
        r = root.post(
            "/admin/users",
            json={
                "username": login,
                "email": f"{login}@example.com",
                "password": password,
                "must_change_password": False,
            },
        )
        assert r.status_code == 201, r.text
    r = httpx.post(
        f"{api}/users/{login}/tokens",
        auth=(login, password),
        json={"name": "tests", "scopes": ["write:repository", "write:issue", "read:user", "write:admin",
                                          "write:organization"]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    token = r.json()["sha1"]
    client = httpx.Client(base_url=api, headers={"Authorization": f"token {token}"}, timeout=30)
    return Account(login, password, token, client)


@pytest.fixture(scope="module", name="forge")
def forge_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forge]:
    clock = ManualClock()
    faults = Faults()
    server = DevforgeServer(tmp_path_factory.mktemp("devforge"), ADMIN, clock=clock, faults=faults).start()
    api = server.api
    root = _account(api, None, *ADMIN)
    accounts = [_account(api, root.client, name, f"{name}-pw-123") for name in ("alice", "bob", "carol")]
    anon = httpx.Client(base_url=api, timeout=30)
    try:
        yield Forge(server, clock, faults, root, *accounts, anon)
    finally:
        for account in (root, *accounts):
            account.client.close()
        anon.close()
        server.stop()


# -- Gitea's own schemas (swagger 2.0 definitions), checked with every optional value allowed to be null --


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items() if k not in ("x-go-name", "x-go-package", "x-nullable")}
        if isinstance(out.get("type"), str) and out["type"] != "null":
            out["type"] = [out["type"], "null"]
        if "$ref" in out:
            return {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@pytest.fixture(scope="session", name="gitea_schema")
def gitea_schema_fixture() -> Any:
    """``check(name, value)``: validate a response object against Gitea's definition ``name``."""
    import jsonschema

    definitions = _nullable(json.loads(SCHEMA_FILE.read_text())["definitions"])

    def check(name: str, value: Any) -> None:
        schema = {"$ref": f"#/definitions/{name}", "definitions": definitions}
        jsonschema.validate(value, schema, cls=jsonschema.Draft7Validator)

    return check
