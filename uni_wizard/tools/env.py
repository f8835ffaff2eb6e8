"""``ToolEnv``: what tools need from their surroundings, injected by the Harness.

A tool parameter annotated ``ToolEnv`` receives it; tests build one pointing at
recorded ``/proc`` files, a loopback forge or a mock HTTP transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .sandbox import SandboxConfig

__all__ = ["ToolEnv"]


@dataclass(frozen=True)
class ToolEnv:
    """Seams for tools: each field has a real default.

    Args (fields):
        gitea_url: base URL of the forge (``https://forge.example``), for the gitea_* tools.
        gitea_token: token the house acts with on the forge; never logged.
        http_transport: an httpx transport; ``None`` means real network I/O.
        proc_root: where /proc is mounted (tests point it at recorded files).
        systemd_root: present when systemd runs the machine (``/run/systemd/system``).
        systemctl: the systemctl executable.
        max_output_bytes: cap on any captured subprocess output or file read.
        sandbox: limits and knobs of the sandbox repository code runs in (``run_tests``).
        memory_db: the host's store, whose memory of the forge ``memory_search`` searches (None: no memory).
    """

    gitea_url: str | None = None
    gitea_token: str | None = field(default=None, repr=False)
    http_transport: httpx.AsyncBaseTransport | None = None
    proc_root: Path = Path("/proc")
    systemd_root: Path = Path("/run/systemd/system")
    systemctl: str = "systemctl"
    max_output_bytes: int = 1_000_000
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    memory_db: Path | None = None

    def http_client(self, timeout: float = 30.0) -> httpx.AsyncClient:
        """A fresh client on the configured transport; use it in ``async with``."""
        return httpx.AsyncClient(transport=self.http_transport, timeout=timeout, follow_redirects=False)
