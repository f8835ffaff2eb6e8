"""http_get / http_post against a real HTTP server on loopback."""

from __future__ import annotations

import pytest
from loopback_http import LoopbackServer, json_reply, slow_reply, text_reply, unused_port

from uni_wizard.errors import ToolCallError, TransientToolError
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.network import http_get, http_post

ENV = ToolEnv()


async def test_get_200_returns_status_headers_and_body(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/hello", text_reply("hello, world"))

    result = await http_get(ENV, url=f"{loopback.url}/hello?x=1", headers={"X-Probe": "yes"})

    assert result["status"] == 200
    assert result["body"] == "hello, world"
    assert result["truncated"] is False
    assert result["headers"] == {"content-type": "text/plain; charset=utf-8", "content-length": "12"}
    assert result["elapsed"] >= 0
    (seen,) = loopback.requests
    assert seen.method == "GET" and seen.path == "/hello?x=1"
    assert seen.headers["x-probe"] == "yes"


async def test_get_caps_a_large_body_and_flags_truncation(loopback: LoopbackServer) -> None:
    big = "abcdefghij" * 50_000  # 500 kB
    loopback.route("GET", "/big", text_reply(big))

    result = await http_get(ENV, url=f"{loopback.url}/big", max_bytes=1000)

    assert result["status"] == 200
    assert result["truncated"] is True
    assert result["body"] == big[:1000]
    assert result["headers"]["content-length"] == str(len(big))


async def test_get_body_exactly_at_the_cap_is_not_truncated(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/ten", text_reply("0123456789"))

    result = await http_get(ENV, url=f"{loopback.url}/ten", max_bytes=10)

    assert (result["body"], result["truncated"]) == ("0123456789", False)


async def test_env_max_output_bytes_caps_too(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/big", text_reply("x" * 5000))

    result = await http_get(ToolEnv(max_output_bytes=100), url=f"{loopback.url}/big")

    assert (len(result["body"]), result["truncated"]) == (100, True)


async def test_cut_inside_a_multibyte_character_drops_the_partial_character(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/utf8", text_reply("ééé"))  # 6 bytes

    result = await http_get(ENV, url=f"{loopback.url}/utf8", max_bytes=3)

    assert (result["body"], result["truncated"]) == ("é", True)


async def test_404_is_returned_as_data(loopback: LoopbackServer) -> None:
    result = await http_get(ENV, url=f"{loopback.url}/nowhere")

    assert result["status"] == 404
    assert "not found" in result["body"]
    assert result["truncated"] is False


async def test_500_is_returned_as_data(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/boom", text_reply("broken", status=500))

    result = await http_get(ENV, url=f"{loopback.url}/boom")

    assert (result["status"], result["body"]) == (500, "broken")


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_statuses_are_transient(loopback: LoopbackServer, status: int) -> None:
    loopback.route("GET", "/busy", text_reply("try later", status=status))

    with pytest.raises(TransientToolError, match=str(status)):
        await http_get(ENV, url=f"{loopback.url}/busy")


async def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientToolError, match="connection failed"):
        await http_get(ENV, url=f"http://127.0.0.1:{unused_port()}/", timeout=2)


async def test_timeout_is_transient(loopback: LoopbackServer) -> None:
    loopback.route("GET", "/slow", slow_reply(1.0))

    with pytest.raises(TransientToolError, match="timed out"):
        await http_get(ENV, url=f"{loopback.url}/slow", timeout=0.2)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://example.org/", "/relative/path", "http://"]
)
async def test_only_http_and_https_urls(url: str) -> None:
    with pytest.raises(ToolCallError):
        await http_get(ENV, url=url)


async def test_bad_limits_are_call_errors(loopback: LoopbackServer) -> None:
    with pytest.raises(ToolCallError, match="timeout"):
        await http_get(ENV, url=loopback.url, timeout=0)
    with pytest.raises(ToolCallError, match="max_bytes"):
        await http_get(ENV, url=loopback.url, max_bytes=-1)
    assert loopback.requests == []


async def test_post_sends_a_json_body(loopback: LoopbackServer) -> None:
    loopback.route("POST", "/hook", json_reply({"ok": True}, status=201))

    result = await http_post(ENV, url=f"{loopback.url}/hook", json_body={"event": "push", "n": [1, 2]})

    assert result["status"] == 201
    assert result["body"] == '{"ok": true}'
    (seen,) = loopback.requests
    assert seen.method == "POST"
    assert seen.headers["content-type"] == "application/json"
    assert seen.json() == {"event": "push", "n": [1, 2]}


async def test_post_sends_a_text_body_with_given_headers(loopback: LoopbackServer) -> None:
    loopback.route("POST", "/raw", text_reply("", status=204))

    result = await http_post(ENV, url=f"{loopback.url}/raw", body="a=1&b=2", headers={"Content-Type": "text/x-test"})

    assert (result["status"], result["body"]) == (204, "")
    (seen,) = loopback.requests
    assert seen.body == b"a=1&b=2"
    assert seen.headers["content-type"] == "text/x-test"


async def test_post_refuses_both_bodies(loopback: LoopbackServer) -> None:
    with pytest.raises(ToolCallError, match="not both"):
        await http_post(ENV, url=loopback.url, json_body={"a": 1}, body="x")
    assert loopback.requests == []


async def test_post_503_is_transient(loopback: LoopbackServer) -> None:
    loopback.route("POST", "/hook", text_reply("down", status=503))

    with pytest.raises(TransientToolError, match="503"):
        await http_post(ENV, url=f"{loopback.url}/hook", json_body={})


async def test_post_connection_refused_is_transient() -> None:
    with pytest.raises(TransientToolError):
        await http_post(ENV, url=f"http://127.0.0.1:{unused_port()}/hook", json_body={})


def test_tool_metadata() -> None:
    assert http_get.group == http_post.group == "network"
    assert (http_get.mutates, http_get.idempotent) == (False, True)
    assert (http_post.mutates, http_post.idempotent, str(http_post.risk)) == (True, False, "medium")
    assert http_get.env_param == http_post.env_param == "env"
    assert "env" not in http_get.parameters["properties"]
    assert http_get.validate({"url": "http://x"})["headers"] == {}
