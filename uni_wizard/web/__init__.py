"""The daemon's HTTP face: ``create_app(runtime) -> FastAPI``.

Floor: the composition. May import: anything below (the Harness, the intake, the lanes' routers).
"""

from .app import create_app

__all__ = ["create_app"]
