"""``serve`` (the daemon) and ``demo`` (the main job on embedded defaults)."""

from __future__ import annotations

import asyncio

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
        # here, not at the top: `--help` stays quick (the daemon brings uvicorn and every role)
        from ..config import load_settings
        from ..daemon import serve
        from ..observe.logs import configure_logging

        opts = options(ctx)
        overrides = {k: v for k, v in {"bind": bind, "port": port}.items() if v is not None}
        settings = load_settings(opts.config, **overrides)
        configure_logging(settings.log_level, debug=opts.debug)
        asyncio.run(serve(settings))

    @app.command("demo")
    def demo_command(
        ctx: typer.Context,
        keep: bool = typer.Option(False, "--keep", help="Keep the temporary directory and print its path."),
    ) -> None:
        """The guided tour: each house at work, each kind of denial, a sovereign approval, provenance verified."""
        from ..demo import run_demo  # here, not at the top: `--help` stays quick

        run_demo(keep=keep)
