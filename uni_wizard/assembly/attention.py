"""The daemon's error capture (``attention.capture.ErrorCapture``): built when this host acts on a forge, filing
into the mesh repository (``upgrades.yaml`` ``repo``) as this host's forge user; ``supervised`` wraps a role's
task so that an unexpected exception in it is recorded (then logged and raised as before)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from .. import __version__
from ..attention import ErrorCapture
from ..config import Settings
from ..errors import UniWizardError
from ..forge import GiteaClient
from ..harness.runtime import Runtime
from .configs import Configs

__all__ = ["error_capture", "supervised"]

log = logging.getLogger(__name__)


def error_capture(
    settings: Settings, runtime: Runtime, configs: Configs, *, closing: contextlib.AsyncExitStack
) -> ErrorCapture | None:
    """This host's error capture, or None when it has no forge (no ``gitea_url`` or token)."""
    token = settings.secret("gitea_token")
    if not settings.gitea_url or not token:
        return None
    forge = GiteaClient(settings.gitea_url, token, registry=runtime.metrics.registry)
    closing.push_async_callback(forge.aclose)
    return ErrorCapture(runtime.store, forge, repo=configs.upgrades.repo, host=runtime.host, version=__version__)


async def supervised(work: Coroutine[Any, Any, None], name: str, capture: ErrorCapture | None) -> None:
    """Run ``work`` (the task ``name``); an unexpected exception (not a ``UniWizardError``, not a cancellation)
    is recorded by ``capture`` before it ends the task as it did before."""
    try:
        await work
    except UniWizardError:
        raise
    except Exception as exc:
        log.exception("%s stopped on an unexpected %s", name, type(exc).__name__)
        if capture is not None:
            try:
                capture.record(exc, f"the {name} task of host {capture.host} stopped on it")
            except Exception:  # the capture must never hide the error it captures
                log.exception("the error capture could not record it")
        raise
