"""The ``uni-wizard`` command: thin, it parses, builds objects from configuration and maps errors to exit codes.

Exit codes (docs/TROUBLESHOOTING.md, "Exit codes"): 0 ok, 2 usage or configuration error, 3 denied, 4 failed
(a tool, or the forge, the store, a model, a deploy), 5 pending approval, 6 not found (no such provenance
record, approval request or upgrade; nothing changed). Errors print as one line; ``--debug`` adds the traceback.

A command is listed in ``COMMANDS`` below and its module imported only when it runs (``root.LazyGroup``), so
``uni-wizard --help`` stays quick; a module may also be registered the usual way (``module.register(app)``).

Floor: the composition. May import: anything; heavy parts are imported inside the command that needs them
(start-up time).
"""

from __future__ import annotations

import sys

import typer

from ..errors import (
    ApprovalError,
    ConfigError,
    NotAuthorized,
    PolicyDenied,
    RecordNotFound,
    ToolCallError,
    UniWizardError,
)
from ..observe.logs import quiet_http_clients
from .root import EXIT_DENIED, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, Exit, Lazy, add_lazy, app

__all__ = ["COMMANDS", "app", "exit_code_for", "main"]

TEST_HELP = "Try a tool as a house (the seed's spelling); required path arguments default to the current directory."
DEMO_HELP = "The guided tour: each house at work, each kind of denial, a sovereign approval, provenance verified."
ROUTE_HELP = (
    "Triage TEXT and route it over this host's houses, showing every score (nothing is written); "
    "`route stats`: the routing statistics."
)
DEPLOY_HELP = "Deploy every host of the mesh: the release venv, configuration, secrets (0600), units for its roles."

COMMANDS = (
    Lazy("tools", "tools_cmd", "List the registered tools."),
    Lazy("run", "tools_cmd", "Run one tool as a house."),
    Lazy("test", "tools_cmd", TEST_HELP),
    Lazy("houses", "tools_cmd", "List the houses and their policies; --now: what this host's houses do now."),
    Lazy("provenance", "records_cmd", "Inspect and verify the provenance chain."),
    Lazy("approvals", "records_cmd", "Sovereign approval requests: list, approve, reject."),
    Lazy("serve", "serve_cmd", "Run the daemon: /health, /ready, /metrics, /api/v1/execute."),
    Lazy("demo", "serve_cmd", DEMO_HELP),
    Lazy("forge", "forge_cmd", "The forge: run the devforge, bootstrap a mesh layout on any Gitea."),
    Lazy("events", "events_cmd", "The event log: what the mesh did, in order, with a cursor."),
    Lazy("route", "route_cmd", ROUTE_HELP),
    Lazy("ledger", "ledger_cmd", "The ledger: settled bids per house and period, open bids, token spend."),
    Lazy("predict", "predict_cmd", "Predict a tool call's success (--tool, --house) or an issue's house (--issue)."),
    Lazy("dispatch", "dispatch_cmd", "Allegro's lane: triage, routing and the sweep."),
    Lazy("memory", "memory_cmd", "The mesh's memory of the forge: search issues, PRs, reports and decisions."),
    Lazy("review", "review_cmd", "Timmy's reviewer and merge gate."),
    Lazy("queue", "review_cmd", "The merge queue: approved PRs with green proof in the order they land."),
    Lazy("cascade", "cascade_cmd", "The model cascade: providers, breakers, one question."),
    Lazy("mesh", "mesh_cmd", "The mesh: hosts, peers, the lease, Syncthing."),
    Lazy("telemetry", "telemetry_cmd", "This host's telemetry pipeline (--status): event log, spool, Syncthing."),
    Lazy("upgrades", "upgrades_cmd", "The self-upgrade queue: list, show, approve and reject upgrades."),
    Lazy("deploy", "deploy_cmd", DEPLOY_HELP),
    Lazy("reconcile", "reconcile_cmd", "Apply approved upgrades of the mesh repository to this host."),
    Lazy("briefing", "attention_cmd", "Write today's daily briefing issue now (--dry-run: show it)."),
    Lazy("escalations", "attention_cmd", "Escalations to the owner: each category's threshold and why; pin one."),
    Lazy("init", "init_cmd", "Prepare an owner's mesh in DIR: the forge, users, repositories, settings, secrets."),
    Lazy("up", "up_cmd", "Run the owner's mesh of DIR in the foreground: the forge and every daemon."),
)
add_lazy(COMMANDS)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error that ended a command (docs/TROUBLESHOOTING.md, "Exit codes")."""
    if isinstance(exc, RecordNotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, PolicyDenied | NotAuthorized):
        return EXIT_DENIED
    if isinstance(exc, ConfigError | ToolCallError | ApprovalError):
        return EXIT_USAGE
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (and exits with it when run as a script)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    quiet_http_clients(debug)
    try:
        app(args=args, prog_name="uni-wizard", standalone_mode=False)
    except Exit as done:
        return done.code
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.Abort:
        print_error("aborted")
        return EXIT_USAGE
    except typer.TyperException as exc:  # usage errors: missing option, unknown command, bad value
        print_error(exc.format_message())
        return EXIT_USAGE
    except UniWizardError as exc:
        if debug:
            import traceback  # here, not at the top: only --debug needs it

            traceback.print_exc()
        print_error(str(exc))
        return exit_code_for(exc)
    return 0


def print_error(message: str) -> None:
    """``error: MESSAGE`` as exactly one line on stderr, as written (no markup, no wrapping)."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


def run() -> None:
    sys.exit(main())
