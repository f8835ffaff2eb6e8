"""``ForgeLine``: the lane tests' recording transport; each knob fails what it says and nothing else."""

from __future__ import annotations

import httpx
import pytest

from uni_wizard.testing import ForgeLine


class Server(httpx.MockTransport):
    """A stand-in server: answers ``{"ok": true}`` and keeps what reached it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        super().__init__(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"ok": True})


def client(line: ForgeLine) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=line, base_url="http://forge.invalid")


async def test_writes_beyond_the_limit_fail_unsent_until_the_limit_is_lifted() -> None:
    server = Server()
    line = ForgeLine(server)
    line.fail_writes_after = 1
    async with client(line) as http:
        await http.post("/a")
        with pytest.raises(httpx.ConnectError):
            await http.post("/b")
        assert (await http.get("/issues")).status_code == 200  # reads still pass
        line.fail_writes_after = None
        await http.post("/c")
    assert server.seen == ["POST /a", "GET /issues", "POST /c"]
    assert line.writes == ["POST /a", "POST /c"] and line.reads == ["GET /issues"]
    assert (line.refused, line.applied) == (1, 2)


async def test_the_next_reads_fail_and_a_lost_answer_is_applied_but_never_heard() -> None:
    server = Server()
    line = ForgeLine(server)
    line.fail_reads, line.lose_next_answer = 1, True
    async with client(line) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/x")
        await http.get("/x")
        with pytest.raises(httpx.ReadError):
            await http.put("/lease")
        await http.put("/lease")
    assert server.seen == ["GET /x", "PUT /lease", "PUT /lease"]
    assert (line.applied, line.writes, line.refused) == (2, ["PUT /lease"], 2)
    assert not line.lose_next_answer and line.fail_reads == 0


async def test_a_lost_answer_waits_while_the_line_is_down() -> None:
    server = Server()
    line = ForgeLine(server)
    line.down, line.lose_next_answer = True, True
    async with client(line) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post("/renew")
        line.down = False
        with pytest.raises(httpx.ReadError):
            await http.post("/renew")
    assert server.seen == ["POST /renew"]


async def test_hooks_run_after_answered_writes_and_issue_listings() -> None:
    heard: list[str] = []
    line = ForgeLine(Server(), after_write=lambda r: heard.append(f"write {r.url.path}"))
    line.after_listing = lambda r: heard.append(f"listing {r.url.path}")
    async with client(line) as http:
        await http.get("/repos/mesh/r/issues")
        await http.get("/repos/mesh/r/labels")
        await http.post("/repos/mesh/r/issues/1/comments")
        line.fail_writes_after = 0
        with pytest.raises(httpx.ConnectError):
            await http.post("/refused")
    assert heard == ["listing /repos/mesh/r/issues", "write /repos/mesh/r/issues/1/comments"]
