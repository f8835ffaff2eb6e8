"""The daily briefing with the real small model (``-m real_model``): SmolLM2-135M on a llama.cpp server over
loopback writes the summary paragraph ABOVE the rule-based body, and the facts are the same as without it.

Skipped without the model venv (``make model-venv``), except under ``make test`` (``REAL_MODEL_REQUIRED=1``),
as the rest of the tier. The model's wording is never checked: only that a summary is there and that it hides
no fact.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from llama_server import LlamaServer, llama_fixture
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from bootstrapped_forge import ADMIN, Mesh, start_mesh

from uni_wizard.attention import Briefing
from uni_wizard.attention.briefing import figures_of
from uni_wizard.cascade import Cascade
from uni_wizard.cascade.config import CascadeConfig
from uni_wizard.forge import GiteaClient
from uni_wizard.observe.events import EventLog
from uni_wizard.testing import make_runtime

pytestmark = pytest.mark.real_model


llama = llama_fixture()


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    with start_mesh(tmp_path / "mesh") as started:
        yield started


def test_the_model_summary_is_above_the_facts_and_changes_none(llama: LlamaServer, mesh: Mesh, tmp_path: Path) -> None:
    config = CascadeConfig.model_validate(
        {
            "providers": [
                {
                    "name": "local",
                    "kind": "openai-compatible",
                    "url": llama.url,
                    "models": [{"name": "smollm2", "context": 2048}],
                    "timeouts": {"first_token_seconds": 120, "total_seconds": 300},
                    "retry": {"attempts": 1},
                }
            ]
        }
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    runtime = make_runtime(tmp_path / "host", gitea_url=mesh.url, host="vps-a")

    async def run() -> tuple[str, str, dict[str, int], dict[str, int]]:
        async with GiteaClient(mesh.url, username=ADMIN[0], password=ADMIN[1]) as root:
            await root.create_repo("briefed", org="mesh", auto_init=True)
            await root.create_issue("mesh", "briefed", "Add a health page")
        await EventLog(runtime.store, "vps-b").emit("deploy.failed", "deploy.failed:vps-b:abc", data={"sha": "abc"})
        cascade = Cascade.from_config(config, registry=CollectorRegistry())
        async with GiteaClient(mesh.url, mesh.token("allegro")) as forge:
            common = {"repo": "mesh/briefed", "repos": ["mesh/briefed"], "tz": ZoneInfo("UTC"), "hour": later.hour}
            try:
                facts, with_model = await Briefing(runtime.store, forge, summarize=cascade, **common).compose(
                    later.date()
                )
            finally:
                await cascade.aclose()
            plain_facts, plain = await Briefing(runtime.store, forge, **common).compose(later.date())
        return with_model, plain, facts.figures(), plain_facts.figures()

    try:
        with_model, plain, figures, plain_figures = asyncio.run(run())
    finally:
        runtime.close()

    assert with_model.index("### Summary") < with_model.index("### Figures")
    summary = with_model.split("### Summary", 1)[1].split("<sub>Written by a model", 1)[0].strip()
    assert summary  # the model said something
    facts_part = with_model[with_model.index("Briefing for ") :]
    assert facts_part == plain[plain.index("Briefing for ") :]  # the rule-based body whole, unchanged
    assert figures == plain_figures and figures["upgrades_rolled_back"] == 1 and figures["opened"] == 0
    assert figures_of(with_model) == figures_of(plain)
