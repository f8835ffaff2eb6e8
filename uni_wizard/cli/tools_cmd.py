"""``tools``, ``run``, ``test`` (the seed's spelling) and ``houses``.

The Harness, its results and the tools are imported when a command runs, not with this module, so that
``uni-wizard run --help`` does not load them (benchmarks/cli_startup.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import ToolCallError
from .common import (
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_PENDING,
    EXIT_USAGE,
    Col,
    Exit,
    console,
    err_console,
    fit_table,
    options,
    print_json,
)

if TYPE_CHECKING:
    from ..harness.result import Result
    from ..tools.spec import ToolSpec

EXIT_BY_STATUS = {
    "ok": 0,
    "denied": EXIT_DENIED,
    "error": EXIT_FAILED,
    "timeout": EXIT_FAILED,
    "pending_approval": EXIT_PENDING,
}
"""The exit code of each ``Status`` (by value)."""


def parse_args(spec: ToolSpec, pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs, each value read as the type the tool's schema gives it (JSON unless a string)."""
    props = spec.parameters.get("properties", {})
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ToolCallError(f"--arg {pair!r}: write it as name=value")
        schema = props.get(key, {})
        if schema.get("type") == "string" or key not in props:
            args[key] = raw
            continue
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw  # validation says what is wrong with it
    return args


def show_result(result: Result, as_json: bool) -> None:
    from ..harness.result import Status

    if as_json:
        print_json(result.as_dict())
    else:
        if result.output is not None:
            if isinstance(result.output, str):
                console.print(result.output, markup=False, soft_wrap=True)
            else:
                print_json(result.output)
        line = f"{result.house}/{result.mode} {result.tool}: {result.status} in {result.duration:.3f}s"
        if result.provenance_id:
            line += f" (provenance {result.provenance_id})"
        err_console.print(line, markup=False, soft_wrap=True)
        if result.status is Status.PENDING_APPROVAL:
            err_console.print(
                f"approval {result.approval_id} requested: {result.reason}; once approved "
                f"(`uni-wizard approvals approve {result.approval_id} --by timmy`), run the same command again",
                markup=False,
                soft_wrap=True,
            )
        elif not result.ok:
            err_console.print(f"{result.error_type}: {result.error}", markup=False, soft_wrap=True)
    code = EXIT_BY_STATUS[result.status]
    if result.error_type == "ToolCallError":
        code = EXIT_USAGE
    if code:
        raise Exit(code)


TOOL_COLUMNS = (
    Col("tool"),
    Col("group", drop=2),
    Col("mutates"),
    Col("idempotent", drop=3),
    Col("risk", drop=1),
    Col("description", width=20, wrap=True),
)
HOUSE_COLUMNS = (
    Col("house"),
    Col("role", width=16, wrap=True),
    Col("forge user", drop=2),
    Col("mode", drop=1),
    Col("max", drop=3),
    Col("rules", width=16, wrap=True),
)


def tools_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the tools and their schemas as JSON."),
    group: str | None = typer.Option(None, "--group", help="Only this group."),
) -> None:
    """List the registered tools."""
    specs = [s for s in options(ctx).runtime().registry if group in (None, s.group)]
    if as_json:
        print_json([s.describe() for s in specs])
        return
    rows = [
        (s.name, s.group, "yes" if s.mutates else "no", "yes" if s.idempotent else "no", str(s.risk), s.description)
        for s in specs
    ]
    console.print(fit_table(TOOL_COLUMNS, rows))


def _execute(
    ctx: typer.Context,
    tool: str,
    house: str,
    mode: str | None,
    pairs: list[str],
    task: str | None,
    timeout: float | None,
    as_json: bool,
    fill_paths: bool = False,
) -> None:
    from ..harness.core import Harness
    from ..harness.result import Call
    from ..policy.model import Mode

    runtime = options(ctx).runtime()
    if mode is not None and mode not in set(Mode):
        raise ToolCallError(f"--mode {mode!r}: use one of {', '.join(Mode)}")
    harness = Harness(house, Mode(mode) if mode else None, runtime=runtime, task=task)
    spec = runtime.registry.get(tool)
    args = parse_args(spec, pairs)
    if fill_paths:
        required = spec.parameters.get("required", [])
        for name in spec.path_args:
            if name in required and name not in args:
                args[name] = str(Path.cwd())
    result = harness.execute_many([Call(tool, args, timeout)])[0]
    show_result(result, as_json)


MODE_HELP = "simple, intelligent or sovereign (default: the house's default_mode)."


def run_command(
    ctx: typer.Context,
    tool: str = typer.Argument(..., help="Tool name (`uni-wizard tools` lists them)."),
    house: str = typer.Option(..., "--house", "-H", help="House to act as."),
    mode: str | None = typer.Option(None, "--mode", "-m", help=MODE_HELP),
    arg: list[str] = typer.Option([], "--arg", "-a", help="name=value (repeat); non-strings as JSON."),
    task: str | None = typer.Option(None, "--task", help="Task the call belongs to (provenance parent)."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds before the call is cancelled."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole Result as JSON."),
) -> None:
    """Run one tool as a house."""
    _execute(ctx, tool, house, mode, arg, task, timeout, as_json)


def test_command(
    ctx: typer.Context,
    house: str = typer.Option(..., "--house", "-H", help="House to act as."),
    tool: str = typer.Option(..., "--tool", "-t", help="Tool name."),
    mode: str | None = typer.Option(None, "--mode", "-m", help=MODE_HELP),
    arg: list[str] = typer.Option([], "--arg", "-a", help="name=value (repeat)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole Result as JSON."),
) -> None:
    """Try a tool as a house (the seed's spelling); required path arguments default to the current directory."""
    _execute(ctx, tool, house, mode, arg, None, None, as_json, fill_paths=True)


def houses_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the policies (with --now: the snapshot) as JSON."),
    now: bool = typer.Option(
        False,
        "--now",
        help="What this host's houses do now: issue, step, elapsed, queue, room; lease, peers, breakers.",
    ),
) -> None:
    """List the houses and their policies; with --now, what this host's houses are doing this minute."""
    if now:
        _houses_now(ctx, as_json)
        return
    houses = options(ctx).runtime().houses
    if as_json:
        print_json({name: p.model_dump(mode="json") for name, p in houses.items()})
        return
    rows = []
    for name, p in houses.items():
        rules = ", ".join(k for k, v in p.rules.model_dump().items() if v is True)
        rows.append((name, p.role, p.gitea_user, str(p.default_mode), str(p.max_concurrency), rules))
    console.print(fit_table(HOUSE_COLUMNS, rows))


def _houses_now(ctx: typer.Context, as_json: bool) -> None:
    """``houses --now``: one read-only look at the mesh, the event log, the provenance and the forge."""
    import asyncio

    # here, not at the top: `--help` stays quick
    from ..assembly.mesh import looked_at
    from ..assembly.now import breakers_from_daemon, take_now
    from ..observe.now import NowSnapshot
    from . import now_view

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()

    async def look() -> NowSnapshot:
        async with looked_at(settings, runtime) as node:
            breakers = await asyncio.to_thread(breakers_from_daemon, settings)
            return await take_now(settings, runtime, node=node, breakers=breakers)

    snapshot = asyncio.run(look())
    if as_json:
        print_json(snapshot.as_dict())
        return
    for line in now_view.now_lines(snapshot):
        console.print(line, markup=False, highlight=False)
    if snapshot.houses:
        console.print(fit_table(now_view.HOUSE_COLUMNS, now_view.house_rows(snapshot.houses), title="houses"))
    if snapshot.peers:
        console.print(fit_table(now_view.PEER_COLUMNS, now_view.peer_rows(snapshot.peers), title="peers"))


def register(app: typer.Typer) -> None:
    app.command("tools")(tools_command)
    app.command("run")(run_command)
    app.command("test")(test_command)
    app.command("houses")(houses_command)
