"""What ``init`` looks at on this machine: free loopback ports, and a local model server (Ollama)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable, Sequence

import httpx

__all__ = ["OLLAMA_URL", "choose_ports", "port_free", "probe_ollama"]

OLLAMA_URL = "http://127.0.0.1:11434"
FORGE_PORT = 3000
DAEMON_PORT = 8643


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on ``host:port`` and this user may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_ports(preferred: Sequence[int], taken: Iterable[int] = ()) -> list[int]:
    """One free port per ``preferred`` one: itself when free and not ``taken`` (or chosen already), else (and for
    a preferred 0) one the system picks."""
    chosen: list[int] = []
    used = set(taken)
    for port in preferred:
        pick = port if port and port not in used and port_free(port) else _ephemeral()
        while pick in used:
            pick = _ephemeral()
        chosen.append(pick)
        used.add(pick)
    return chosen


def probe_ollama(url: str = OLLAMA_URL, timeout: float = 1.0) -> list[str] | None:
    """The models of the Ollama at ``url`` (``GET /api/tags``); None when nothing answers as Ollama would."""
    with contextlib.suppress(httpx.HTTPError, ValueError):
        answer = httpx.get(url.rstrip("/") + "/api/tags", timeout=timeout)
        if answer.status_code == 200:
            data = answer.json()
            models = data.get("models") if isinstance(data, dict) else None
            if isinstance(models, list):
                return [str(m["name"]) for m in models if isinstance(m, dict) and m.get("name")]
    return None
