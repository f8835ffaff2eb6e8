"""The root of ``uni-wizard``: the app, its global options, the exit codes, and commands loaded when they run.

Light on purpose (typer and the standard library): ``uni-wizard --help`` lists every command from the table
given to ``add_lazy`` without importing a command's module; the module of the command that runs is imported
then (``LazyGroup.resolve_command``). The global options (``--config``, ``--debug``) are accepted before the
command and after it (``uni-wizard serve --config FILE`` is ``uni-wizard --config FILE serve``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from .._version import __version__

if TYPE_CHECKING:
    from ..config import Settings
    from ..harness.runtime import Runtime

__all__ = [
    "EXIT_DENIED",
    "EXIT_FAILED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_USAGE",
    "Exit",
    "Lazy",
    "LazyGroup",
    "Options",
    "add_lazy",
    "app",
    "options",
]

# docs/TROUBLESHOOTING.md, "Exit codes" (and README.md): tests/unit/test_cli_front.py holds them together
EXIT_OK, EXIT_USAGE, EXIT_DENIED, EXIT_FAILED, EXIT_PENDING, EXIT_NOT_FOUND = 0, 2, 3, 4, 5, 6

CONFIG_HELP = "Settings YAML file (before or after the command; default: $UNIWIZARD_CONFIG)."
DEBUG_HELP = "Show tracebacks, and the HTTP clients' request lines in the logs."


class Exit(Exception):
    """Leave the command with this exit code (after it printed what it had to say)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Options:
    """The global options of one invocation, and what is built from them once."""

    config: Path | None = None
    debug: bool = False
    closing_registered: bool = False
    _settings: Settings | None = None
    _runtime: Runtime | None = None

    def settings(self) -> Settings:
        from ..config import load_settings  # here, not at the top: `--help` stays quick

        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def runtime(self) -> Runtime:
        """The runtime of the settings, built after the checks that need no writing: the data directory can
        be written, the forge token file is good and every house file is valid (else ``ConfigError``)."""
        # here, not at the top: `--help` stays quick
        from ..assembly.houses import check_houses
        from ..harness.runtime import Runtime

        if self._runtime is None:
            settings = self.settings()
            settings.check_data_dir()
            runtime = Runtime(settings)
            check_houses(settings, runtime)
            self._runtime = runtime
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


def _root_options(ctx: typer.Context) -> Options | None:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Options) else None  # None while completing (no callback has run)


def _take_config(ctx: typer.Context, value: Path | None) -> Path | None:
    found = _root_options(ctx)
    if found is not None and value is not None:
        found.config = value
    return value


def _take_debug(ctx: typer.Context, value: bool) -> bool:
    found = _root_options(ctx)
    if found is not None and value:
        found.debug = True
    return value


def _global_options_template(
    config: Path | None = typer.Option(
        None, "--config", "-c", help=CONFIG_HELP, metavar="FILE", expose_value=False, callback=_take_config
    ),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP, expose_value=False, callback=_take_debug),
) -> None:
    """The options every command accepts after its name too (never run: its parameters are copied)."""


_global_params: list[Any] = []


def _globals() -> list[Any]:
    if not _global_params:
        template = typer.Typer(add_completion=False)
        template.command()(_global_options_template)
        _global_params.extend(typer.main.get_command(template).params)
    return _global_params


def add_global_options(command: Any) -> None:
    """``--config`` and ``--debug`` on ``command`` and, for a group, on every command under it."""
    taken = {p.name for p in command.params} | {o for p in command.params for o in getattr(p, "opts", ())}
    for param in _globals():
        if param.name not in taken and not set(param.opts) & taken:
            command.params.append(param)
    for sub in (getattr(command, "commands", None) or {}).values():
        add_global_options(sub)


@dataclass(frozen=True)
class Lazy:
    """A command listed by ``--help`` and imported when it runs: ``uni_wizard.cli.<module>.register(app)`` adds
    it (and perhaps others of the same module) to a Typer app. ``help`` is its one-line help for the listing
    (a test compares it with the help of the loaded command)."""

    name: str
    module: str
    help: str


class _Placeholder(TyperCommand):
    """What ``--help`` and completion list for a command not imported yet."""

    def __init__(self, entry: Lazy) -> None:
        super().__init__(entry.name, help=entry.help, short_help=entry.help)
        self.entry = entry


class LazyGroup(TyperGroup):
    """The root group: the commands registered on ``app`` as usual, plus the lazy ones (``add_lazy``)."""

    entries: ClassVar[dict[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for command in self.commands.values():
            add_global_options(command)
        for name, entry in self.entries.items():
            self.commands.setdefault(name, _Placeholder(entry))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Placeholder):
            command = self.load(command.entry)
        return name, command, rest

    def load(self, entry: Lazy) -> Any:
        """Import ``entry``'s module, register its commands here (replacing their placeholders) and return
        ``entry``'s command."""
        module = importlib.import_module(f"{__package__}.{entry.module}")
        scratch = typer.Typer(rich_markup_mode=self.rich_markup_mode)
        module.register(scratch)
        for name, command in typer.main.get_group(scratch).commands.items():
            add_global_options(command)
            self.commands[name] = command
        loaded = self.commands.get(entry.name)
        if loaded is None or isinstance(loaded, _Placeholder):
            raise RuntimeError(f"uni_wizard.cli.{entry.module}.register() adds no command {entry.name!r}")
        return loaded


def add_lazy(entries: Iterable[Lazy]) -> None:
    """List these commands on the root (in this order, after any registered the usual way)."""
    LazyGroup.entries.update((entry.name, entry) for entry in entries)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"uni-wizard {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="uni-wizard",
    cls=LazyGroup,
    help="Run a mesh of AI agent houses coordinated through a self-hosted Gitea.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help=CONFIG_HELP, metavar="FILE", envvar="UNIWIZARD_CONFIG", show_envvar=False
    ),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    ctx.obj = Options(config=config, debug=debug)


def options(ctx: typer.Context) -> Options:
    """The invocation's options (closed with the root context: the runtime built from them is closed)."""
    root = ctx.find_root()
    obj = root.obj
    assert isinstance(obj, Options)
    if not obj.closing_registered:
        root.call_on_close(obj.close)
        obj.closing_registered = True
    return obj
