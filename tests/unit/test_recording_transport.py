"""``RecordingTransport``: records every exchange, fails or delays the requests a test picks, hands the rest on."""

from __future__ import annotations

import httpx
import pytest

from uni_wizard.testing import RecordingSleep, RecordingTransport
from uni_wizard.testing.transport import matching, reads, writes


class Server(httpx.MockTransport):
    """A stand-in server: answers ``{"ok": true}`` (or 404 for ``/missing``) and counts what reached it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.closed = False
        super().__init__(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/missing":
            return httpx.Response(404, json={"message": "not found"})
        return httpx.Response(200, json={"ok": True})

    async def aclose(self) -> None:
        self.closed = True


async def test_every_exchange_is_recorded_and_handed_on() -> None:
    server = Server()
    line = RecordingTransport(server, keep_bodies=True)
    async with httpx.AsyncClient(transport=line, base_url="http://forge.invalid") as client:
        assert (await client.get("/issues", params={"state": "open"})).json() == {"ok": True}
        assert (await client.post("/issues", json={"title": "t"})).status_code == 200
        assert (await client.get("/missing")).status_code == 404
    assert line.requests == ["GET /issues", "POST /issues", "GET /missing"] == server.seen
    assert line.lines(writes=True) == ["POST /issues"] and line.lines(writes=False, answered=True)[0] == "GET /issues"
    first, second, third = line.exchanges
    assert (first.status, first.query, first.json(), first.error) == (200, "state=open", {"ok": True}, "")
    assert (second.request_body, third.status, third.json()) == (b'{"title":"t"}', 404, {"message": "not found"})
    assert server.closed  # closing the client closed the line, and the line the server


async def test_chosen_requests_fail_before_or_after_the_server_or_get_a_status() -> None:
    server = Server()
    line = RecordingTransport(server)
    line.fail(writes, times=1)
    line.fail(matching("POST", "/merge$"), after=True)
    line.fail(reads, status=503)
    async with httpx.AsyncClient(transport=line, base_url="http://forge.invalid") as client:
        with pytest.raises(httpx.ConnectError):
            await client.post("/issues")
        with pytest.raises(httpx.ReadError):
            await client.post("/pulls/3/merge")
        assert (await client.get("/issues")).status_code == 503
        assert (await client.get("/issues")).status_code == 200
    assert server.seen == ["POST /pulls/3/merge", "GET /issues"]  # the merge happened; its answer was lost
    assert [(e.line, e.status, e.error, e.injected) for e in line.exchanges] == [
        ("POST /issues", None, "ConnectError", True),
        ("POST /pulls/3/merge", 200, "ReadError", True),
        ("GET /issues", 503, "", True),
        ("GET /issues", 200, "", False),
    ]
    assert line.lines(answered=True) == ["GET /issues", "GET /issues"]


async def test_down_delays_hooks_and_an_inner_transport_left_open() -> None:
    server, sleep = Server(), RecordingSleep()
    seen: list[str] = []
    line = RecordingTransport(server, close_inner=False, sleep=sleep, before=lambda r: seen.append(f"before {r.url.path}"),
                              after=lambda r, a: seen.append(f"after {a.status_code}"))  # fmt: skip
    slow = line.delay(0.25, matching(path="/issues$"), times=2)
    line.down = True
    async with httpx.AsyncClient(transport=line, base_url="http://forge.invalid") as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/user")
        line.down = False
        for _ in range(3):
            await client.get("/issues")
    assert sleep.delays == [0.25, 0.25] and (slow.hits, slow.times) == (2, 0)
    assert seen == ["before /user", "before /issues", "after 200", "before /issues", "after 200", "before /issues",
                    "after 200"]  # fmt: skip
    assert not server.closed  # close_inner=False: one transport for many short-lived clients
    await line.inner.aclose()
    assert server.closed
