"""Fakes shipped with the package, for tests of uni-wizard and of code built on it.

Only what cannot run for real in a test, or would make a fast test slow, lives here: time, a scripted
model, model servers with injected faults (Ollama cannot be installed here), systemd's stand-in for the
reconciler (``worlds.py``), a TCP proxy that can cut a partition, an in-memory forge that records every
write as a readable line (``FakeForge``, proven against the devforge by tests/integration's conformance
test) and an httpx transport that records, fails or delays chosen requests (``RecordingTransport``, and
``ForgeLine``, the one with the knobs the lane tests turn).
Everything else (SQLite, git, the filesystem, HTTP on loopback) is used for real.

Floor: the composition (fakes for tests of any floor). May import: anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from ..config import Settings
from ..harness.core import Harness
from ..harness.runtime import Runtime
from ..policy.model import HousePolicy, Mode
from ..tools.env import ToolEnv
from ..tools.registry import ToolRegistry
from .fake_forge import FakeForge
from .forge_line import ForgeLine
from .scripted_model import ScriptedModel, ScriptExhausted, text_reply, tool_reply
from .transport import Exchange, RecordingTransport
from .worlds import RecordingServices, git_as

__all__ = [
    "Exchange",
    "FakeClock",
    "FakeForge",
    "ForgeLine",
    "RecordingServices",
    "RecordingSleep",
    "RecordingTransport",
    "ScriptExhausted",
    "ScriptedModel",
    "git_as",
    "make_harness",
    "make_runtime",
    "text_reply",
    "tool_reply",
]


class FakeClock:
    """A clock that moves only when told: ``clock()`` reads it, ``clock.advance(s)`` moves it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """An ``asyncio.sleep`` stand-in for retries: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_runtime(
    root: Path,
    *,
    registry: ToolRegistry | None = None,
    houses: Mapping[str, HousePolicy] | None = None,
    sleep: RecordingSleep | None = None,
    env: ToolEnv | None = None,
    **settings: Any,
) -> Runtime:
    """A Runtime whose store, workspace and metrics are private to ``root`` (a temporary directory); ``env``
    replaces the tools' environment the settings would give (a test's recording transport, say)."""
    values: dict[str, Any] = {"host": "test-host", "data_dir": root / "data", "workspace": root / "workspace"}
    values.update(settings)
    Path(values["workspace"]).mkdir(parents=True, exist_ok=True)
    return Runtime(
        Settings(**values),
        registry=registry,
        houses=houses,
        env=env,
        metrics_registry=CollectorRegistry(),
        sleep=sleep,
    )


def make_harness(root: Path, house: str = "timmy", mode: Mode = Mode.INTELLIGENT, **kwargs: Any) -> Harness:
    """A Harness on ``make_runtime(root, **kwargs)``."""
    return Harness(house, mode, runtime=make_runtime(root, **kwargs))
