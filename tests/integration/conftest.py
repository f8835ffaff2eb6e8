"""Fixtures for integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loopback_http import LoopbackServer


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A real HTTP server on 127.0.0.1 (ephemeral port); add routes, read ``.requests``."""
    with LoopbackServer() as server:
        yield server
