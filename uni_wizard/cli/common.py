"""What the CLI's commands share: the app, options, consoles, exit codes, building a Runtime."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ..config import Settings, load_settings
from ..harness.runtime import Runtime

EXIT_OK, EXIT_USAGE, EXIT_DENIED, EXIT_FAILED, EXIT_PENDING = 0, 2, 3, 4, 5

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

app = typer.Typer(
    name="uni-wizard",
    help="Run a mesh of AI agent houses coordinated through a self-hosted Gitea.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Exit(Exception):
    """Leave the command with this exit code (after it printed what it had to say)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Options:
    config: Path | None = None
    debug: bool = False
    closing_registered: bool = False
    _runtime: Runtime | None = None

    def settings(self) -> Settings:
        return load_settings(self.config)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime(self.settings())
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", "-c", help="Settings YAML file.", envvar="UNIWIZARD_CONFIG"),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    ctx.obj = Options(config=config, debug=debug)


def options(ctx: typer.Context) -> Options:
    root = ctx.find_root()
    obj = root.obj
    assert isinstance(obj, Options)
    if not obj.closing_registered:
        root.call_on_close(obj.close)
        obj.closing_registered = True
    return obj


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
