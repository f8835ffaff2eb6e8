"""A forge client with a ``json_decoder`` hands large JSON answers to it (the dispatcher's worker process),
small ones and answers that are not JSON are decoded in place as before. Real HTTP on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from loopback_http import LoopbackServer, json_reply, text_reply
from prometheus_client import CollectorRegistry

from uni_wizard.dispatch.offload import Offload
from uni_wizard.errors import ForgeError
from uni_wizard.forge import GiteaClient
from uni_wizard.forge.http import LARGE_JSON_BYTES, DecodedResponse

BIG = [{"number": n, "title": f"issue {n}", "body": "x" * 200_000} for n in range(1, 9)]  # about 1.6 MB


@pytest.mark.parametrize("kind", ["process", "thread"])
async def test_large_answers_go_to_the_decoder_small_ones_do_not(loopback: LoopbackServer, kind: str) -> None:
    loopback.route("GET", "/api/v1/big", json_reply(BIG, headers={"Link": '<http://x/api/v1/big?page=2>; rel="next"'}))
    loopback.route("GET", "/api/v1/small", json_reply({"ok": True}))
    loopback.route("GET", "/api/v1/html", text_reply("<p>" + "x" * LARGE_JSON_BYTES + "</p>", 200, "text/html"))
    loopback.route("GET", "/api/v1/broken", text_reply("[" * LARGE_JSON_BYTES, 200, "application/json"))
    offload = Offload(kind)  # type: ignore[arg-type]
    sizes: list[int] = []

    async def decoder(content: bytes) -> Any:
        sizes.append(len(content))
        return await offload.decode_json(content)

    async with GiteaClient(loopback.url, "t0ken", registry=CollectorRegistry(), json_decoder=decoder) as client:
        response = await client._request("GET", "/big")
        assert isinstance(response, DecodedResponse) and response.json() == BIG
        assert response.links["next"]["url"].endswith("page=2")  # what pagination reads is still there
        assert sizes == [len(json.dumps(BIG))]
        assert await client._json("GET", "/small") == {"ok": True}
        assert (await client._request("GET", "/html")).text.startswith("<p>")
        with pytest.raises(ForgeError, match="not JSON"):
            await client._json("GET", "/broken")  # the decoder refused it: the usual error, in place
        assert len(sizes) == 2  # neither the small answer nor the HTML went to the decoder


def test_only_process_workers_decode_forge_answers() -> None:
    assert Offload("process").json_decoder is not None
    assert Offload("thread").json_decoder is None  # json.loads holds the GIL: a thread would not spare the loop
