"""``serve`` (the daemon) and ``demo`` (the main job on embedded defaults)."""

from __future__ import annotations

import asyncio
import logging

import typer

from .common import options


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        ctx: typer.Context,
        bind: str | None = typer.Option(None, "--bind", help="Address to listen on (default 127.0.0.1)."),
        port: int | None = typer.Option(None, "--port", help="Port (default 8643)."),
    ) -> None:
        """Run the daemon: /health, /ready, /metrics, /api/v1/execute."""
        from ..config import load_settings
        from ..daemon import serve

        opts = options(ctx)
        overrides = {k: v for k, v in {"bind": bind, "port": port}.items() if v is not None}
        settings = load_settings(opts.config, **overrides)
        logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
        asyncio.run(serve(settings))

    @app.command("demo")
    def demo_command(
        ctx: typer.Context,
        keep: bool = typer.Option(False, "--keep", help="Keep the temporary directory and print its path."),
    ) -> None:
        """The guided tour: each house at work, each kind of denial, a sovereign approval, provenance verified."""
        from ..demo import run_demo

        run_demo(keep=keep)
