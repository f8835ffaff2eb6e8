"""Fixtures for every test."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_uniwizard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without the ``UNIWIZARD_*`` variables of the shell or unit it runs in: its settings are
    the ones it gives. A test that needs one sets it (``monkeypatch.setenv``); all are restored afterwards."""
    for name in list(os.environ):
        if name.startswith("UNIWIZARD_"):
            monkeypatch.delenv(name)
