"""The daemon's HTTP face: ``create_app(runtime) -> FastAPI``."""

from .app import create_app

__all__ = ["create_app"]
