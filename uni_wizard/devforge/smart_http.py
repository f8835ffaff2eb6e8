"""Git over smart HTTP by running the real ``git http-backend`` CGI (argv list, CGI environment).

Routes: ``GET /{owner}/{repo}.git/info/refs?service=...``, ``POST .../git-upload-pack`` and
``POST .../git-receive-pack`` (the ``.git`` suffix is optional, as on Gitea). Basic auth with
``user:password`` or ``user:token``. Reading a public repository needs no credentials; a private
one, or any push, without credentials gets 401 ``WWW-Authenticate: Basic realm="Gitea"`` so git
asks for them and retries. Pushing needs write access; protected branches are enforced by the
repository's pre-receive hook from the rules passed in ``DEVFORGE_PUSH_RULES``. After a
receive-pack the refs are diffed (``refsync.sync_refs``): PR heads move, reviews go stale, and
``push`` / ``pull_request_sync`` webhooks fire before the push's answer goes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from .access import READ, WRITE, RepoCtx, access_mode, user_by_name
from .auth import Caller, authenticate
from .core import Faults, Forge, forge_of
from .errors import ApiError
from .protection import push_rules
from .refsync import sync_refs

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter()
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Gitea"'}
BACKEND_TIMEOUT = 600.0


class _Refused(Exception):
    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.response = Response(text + "\n", status_code=status, headers=headers, media_type="text/plain")


def _authorize(forge: Forge, authorization: str | None, owner: str, name: str, write: bool) -> RepoCtx:
    try:
        caller = authenticate(forge, authorization)
    except ApiError as exc:
        raise _Refused(401, exc.message, CHALLENGE) from exc
    owner_row = user_by_name(forge, owner)
    repo = None
    if owner_row is not None:
        repo = forge.db.one(
            "SELECT * FROM repos WHERE owner_id = ? AND lower_name = ?", (owner_row["id"], name.lower())
        )
    mode = access_mode(forge, caller.user, repo) if repo is not None else 0
    if repo is None or owner_row is None or mode < READ:
        if caller.user is None:
            raise _Refused(401, "Unauthorized", CHALLENGE)
        raise _Refused(404, "Repository not found")
    if write:
        if caller.user is None:
            raise _Refused(401, "Unauthorized", CHALLENGE)
        if mode < WRITE:
            raise _Refused(403, "User permission denied")
        if repo["archived"]:
            raise _Refused(403, "repo is archived")
    return RepoCtx(forge, caller, repo, owner_row, mode)


def _environment(rc: RepoCtx, request: Request, suffix: str, caller: Caller) -> dict[str, str]:
    if suffix == "/git-receive-pack":
        rc.git.ensure_hooks()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROJECT_ROOT": str(rc.forge.repos_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
        "PATH_INFO": f"/{rc.owner['login'].lower()}/{rc.repo['name'].lower()}.git{suffix}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": caller.user["login"] if caller.user is not None else "",
        "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
        "DEVFORGE_PUSH_RULES": json.dumps(push_rules(rc)),
    }
    for header, name in (
        ("content-length", "CONTENT_LENGTH"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ):
        if header in request.headers:
            env[name] = request.headers[header]
    return env


async def _feed(request: Request, proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    try:
        async for chunk in request.stream():
            if chunk:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        log.info("git http-backend closed its input early")
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.close()


async def _read_headers(proc: asyncio.subprocess.Process) -> tuple[int, dict[str, str]]:
    assert proc.stdout is not None
    status, headers = 200, dict[str, str]()
    while True:
        line = (await proc.stdout.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers[key.strip()] = value.strip()


async def _serve(request: Request, owner: str, repo: str, suffix: str, write: bool) -> Response:
    forge = forge_of(request)
    name = repo.removesuffix(".git")
    try:
        rc = await asyncio.to_thread(_authorize, forge, request.headers.get("authorization"), owner, name, write)
    except _Refused as refused:
        return refused.response
    env = await asyncio.to_thread(_environment, rc, request, suffix, rc.caller)
    if suffix == "/git-receive-pack":
        await _held(forge.faults)
    proc = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    feeder = asyncio.create_task(_feed(request, proc))
    assert proc.stdout is not None and proc.stderr is not None
    errors = asyncio.create_task(proc.stderr.read())
    try:
        status, headers = await asyncio.wait_for(_read_headers(proc), BACKEND_TIMEOUT)
    except (TimeoutError, ValueError):
        proc.kill()
        await proc.wait()
        return Response("git http-backend failed\n", status_code=500, media_type="text/plain")
    media = headers.pop("Content-Type", None)
    headers.pop("Content-Length", None)
    if suffix == "/git-receive-pack":
        body = await asyncio.wait_for(proc.stdout.read(), BACKEND_TIMEOUT)
        await feeder
        await proc.wait()
        stderr = await errors
        if stderr.strip():
            log.info("git http-backend: %s", stderr.decode(errors="replace").strip())
        if rc.caller.user is not None:
            await asyncio.to_thread(sync_refs, forge, rc.repo, rc.caller.user)
        return Response(body, status_code=status, headers=headers, media_type=media)
    return StreamingResponse(_stream(proc, feeder, errors), status_code=status, headers=headers, media_type=media)


async def _held(faults: Faults) -> None:
    """Wait while ``faults.pushes_held`` (a stalled forge), saying a push arrived."""
    if faults.pushes_held:
        faults.push_arrived.set()
    while faults.pushes_held:
        await asyncio.sleep(0.02)


async def _stream(
    proc: asyncio.subprocess.Process, feeder: asyncio.Task[None], errors: asyncio.Task[bytes]
) -> AsyncIterator[bytes]:
    assert proc.stdout is not None
    try:
        while True:
            chunk = await asyncio.wait_for(proc.stdout.read(65536), BACKEND_TIMEOUT)
            if not chunk:
                break
            yield chunk
        await feeder
        await proc.wait()
        await errors
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        feeder.cancel()
        errors.cancel()


@router.get("/{owner}/{repo}/info/refs")
async def info_refs(owner: str, repo: str, request: Request) -> Response:
    service = request.query_params.get("service", "")
    return await _serve(request, owner, repo, "/info/refs", service == "git-receive-pack")


@router.post("/{owner}/{repo}/git-upload-pack")
async def upload_pack(owner: str, repo: str, request: Request) -> Response:
    return await _serve(request, owner, repo, "/git-upload-pack", False)


@router.post("/{owner}/{repo}/git-receive-pack")
async def receive_pack(owner: str, repo: str, request: Request) -> Response:
    return await _serve(request, owner, repo, "/git-receive-pack", True)
