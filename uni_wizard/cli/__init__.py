"""The ``uni-wizard`` command: thin, it parses, builds objects from configuration and maps errors to exit codes.

Exit codes: 0 ok, 2 usage or configuration error, 3 denied, 4 tool failed, 5 pending approval.
Errors print as one line; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys

import typer

from ..errors import (
    ApprovalError,
    ConfigError,
    NotAuthorized,
    PolicyDenied,
    ToolCallError,
    UniWizardError,
)
from . import (
    cascade_cmd,
    deploy_cmd,
    dispatch_cmd,
    events_cmd,
    forge_cmd,
    mesh_cmd,
    reconcile_cmd,
    records_cmd,
    review_cmd,
    route_cmd,
    serve_cmd,
    tools_cmd,
    upgrades_cmd,
)
from .common import EXIT_DENIED, EXIT_FAILED, EXIT_USAGE, Exit, app, err_console

__all__ = ["app", "main"]

tools_cmd.register(app)
records_cmd.register(app)
serve_cmd.register(app)
forge_cmd.register(app)
events_cmd.register(app)
route_cmd.register(app)
dispatch_cmd.register(app)
review_cmd.register(app)
cascade_cmd.register(app)
mesh_cmd.register(app)
upgrades_cmd.register(app)
deploy_cmd.register(app)
reconcile_cmd.register(app)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, PolicyDenied | NotAuthorized):
        return EXIT_DENIED
    if isinstance(exc, ConfigError | ToolCallError | ApprovalError):
        return EXIT_USAGE
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (and exits with it when run as a script)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, prog_name="uni-wizard", standalone_mode=False)
    except Exit as done:
        return done.code
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        return EXIT_USAGE
    except typer.TyperException as exc:  # usage errors: missing option, unknown command, bad value
        err_console.print(f"error: {exc.format_message()}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    except UniWizardError as exc:
        if debug:
            err_console.print_exception()
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        return exit_code_for(exc)
    return 0


def run() -> None:
    sys.exit(main())
