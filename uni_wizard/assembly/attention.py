"""The daemon's error capture (``attention.capture.ErrorCapture``): built when this host acts on a forge, filing
into the mesh repository (``upgrades.yaml`` ``repo``) as this host's forge user; ``supervised`` wraps a role's
task so that an unexpected exception in it is recorded (then logged and raised as before). ``escalations`` and
``briefing`` build the owner's escalations and daily briefing the same way (the roles start them)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from .. import __version__
from ..attention import Briefing, Calibration, ErrorCapture, Escalations
from ..attention.briefing import Summarizer
from ..attention.calibration import Thresholds
from ..attention.metrics import AttentionMetrics
from ..config import Settings
from ..errors import UniWizardError
from ..forge import GiteaClient
from ..harness.runtime import Runtime
from .configs import Configs

__all__ = ["briefing", "calibration", "error_capture", "escalations", "supervised", "thresholds_now"]

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
    metrics = AttentionMetrics.for_registry(runtime.metrics.registry)
    return ErrorCapture(
        runtime.store, forge, repo=configs.upgrades.repo, host=runtime.host, version=__version__, metrics=metrics
    )


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


def calibration(settings: Settings) -> Calibration:
    """The escalation policy's calibration from ``settings`` (``escalation_*``)."""
    return Calibration(
        low=settings.escalation_threshold_min,
        high=settings.escalation_threshold_max,
        start=min(max(0.5, settings.escalation_threshold_min), settings.escalation_threshold_max),
        urgent=frozenset(settings.escalation_urgent),
        window_seconds=settings.escalation_window_hours * 3600,
        engage_seconds=settings.escalation_engage_hours * 3600,
    )


def thresholds_now(settings: Settings, runtime: Runtime) -> Callable[[], list[dict[str, object]]]:
    """Each escalation category's threshold and why, read from the store when asked (the dashboard's
    Approvals page; ``uni-wizard escalations`` prints the same)."""
    cal = calibration(settings)

    def read() -> list[dict[str, object]]:
        return [state.as_dict(cal) for state in Thresholds(runtime.store, cal).all()]

    return read


def escalations(
    settings: Settings, runtime: Runtime, configs: Configs, *, closing: contextlib.AsyncExitStack
) -> Escalations | None:
    """This host's escalations to ``settings.owner``, the inbox issue in the mesh repository; None without a
    forge (no ``gitea_url`` or token)."""
    token = settings.secret("gitea_token")
    if not settings.gitea_url or not token:
        return None
    forge = GiteaClient(settings.gitea_url, token, registry=runtime.metrics.registry)
    closing.push_async_callback(forge.aclose)
    return Escalations(
        runtime.store,
        forge,
        repo=configs.upgrades.repo,
        owner=settings.owner,
        calibration=calibration(settings),
        host=runtime.host,
        metrics=AttentionMetrics.for_registry(runtime.metrics.registry),
    )


def briefing(
    settings: Settings,
    runtime: Runtime,
    configs: Configs,
    *,
    repos: Sequence[str],
    model: Summarizer | None,
    closing: contextlib.AsyncExitStack,
) -> Briefing | None:
    """The daily briefing of ``repos`` into the mesh repository, with ``model``'s summary when
    ``briefing_model`` is on; None without a forge."""
    token = settings.secret("gitea_token")
    if not settings.gitea_url or not token:
        return None
    forge = GiteaClient(settings.gitea_url, token, registry=runtime.metrics.registry)
    closing.push_async_callback(forge.aclose)
    mesh_repo = configs.upgrades.repo
    return Briefing(
        runtime.store,
        forge,
        repo=mesh_repo,
        repos=[*repos, mesh_repo],
        tz=ZoneInfo(settings.owner_timezone),
        hour=settings.briefing_hour,
        summarize=model if settings.briefing_model else None,
        metrics=AttentionMetrics.for_registry(runtime.metrics.registry),
    )
