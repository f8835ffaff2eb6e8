"""``upgrades list | show N | approve N | reject N --reason``: the self-upgrade queue (ADR-021).

``list`` and ``show`` read this host's store (the reviewer's host holds the queue). ``approve`` and
``reject`` act as the sovereign (``house`` with ``rules.may_approve``, Timmy) through the forge: approve
posts the APPROVED review bound to the recorded head through the reviewer's approval code path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import typer

from ..config import Settings
from ..errors import ConfigError, NotAuthorized, RecordNotFound
from ..harness.runtime import Runtime
from ..upgrade.config import load_upgrade_config
from ..upgrade.queue import UpgradeQueue
from ..upgrade.records import Upgrade, UpgradeStore
from ..upgrade.states import State
from .common import Col, console, fit_table, options, print_json

upgrades_app = typer.Typer(
    help="The self-upgrade queue: list, show, approve and reject upgrades.", no_args_is_help=True
)


def _states(values: list[str] | None) -> list[State]:
    try:
        return [State(v) for v in values or []]
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise typer.BadParameter(f"unknown state (known: {known})", param_hint="--state") from None


def _why(upgrade: Upgrade) -> str:
    return upgrade.note or (upgrade.history[-1].reason if upgrade.history else "")


UPGRADE_COLUMNS = (
    Col("pr", width=8, wrap=True),
    Col("state"),
    Col("head", drop=3),
    Col("diff sha256", drop=5),
    Col("risk", drop=2),
    Col("updated", width=10, wrap=True, drop=4),
    Col("title", width=12, wrap=True, drop=1),
    Col("why", width=16, wrap=True),
)
HISTORY_COLUMNS = (
    Col("at", width=10, wrap=True),
    Col("from", drop=2),
    Col("to"),
    Col("head", drop=3),
    Col("actor", width=8, wrap=True, drop=1),
    Col("reason", width=16, wrap=True),
)


@upgrades_app.command("list")
def list_upgrades(
    ctx: typer.Context,
    state: list[str] = typer.Option(None, "--state", help="Only upgrades in this state (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="JSON with the history of each upgrade."),
) -> None:
    """Every upgrade, newest first: state, recorded head, diff hash, risk and why it waits."""
    upgrades = UpgradeStore(options(ctx).runtime().store).list(_states(state), with_history=True)
    if as_json:
        print_json({"upgrades": [u.as_dict() for u in upgrades]})
        return
    rows = [
        (f"{u.repository}#{u.number}", u.state.value, u.head_sha[:10], u.diff_sha256[:10], u.risk, u.updated_at,
         u.title, _why(u))
        for u in upgrades
    ]  # fmt: skip
    console.print(fit_table(UPGRADE_COLUMNS, rows, title="upgrades"))


def _get(ctx: typer.Context, number: int) -> Upgrade:
    opts = options(ctx)
    repo = load_upgrade_config(opts.settings().upgrades_config).repo
    upgrade = UpgradeStore(opts.runtime().store).get(repo, number)
    if upgrade is None:
        raise RecordNotFound(
            f"no upgrade #{number} in {repo} on this host (see `uni-wizard upgrades list`)", kind="upgrade", key=number
        )
    return upgrade


@upgrades_app.command("show")
def show(
    ctx: typer.Context,
    number: int = typer.Argument(..., help="The upgrade's pull request number."),
    as_json: bool = typer.Option(False, "--json", help="JSON."),
) -> None:
    """One upgrade: what was proposed (head, diff hash, files, risk) and every transition."""
    u = _get(ctx, number)
    if as_json:
        print_json(u.as_dict())
        return
    console.print(f"{u.repository}#{u.number} {u.title!r} by {u.author}: [bold]{u.state.value}[/bold]")
    console.print(f"head {u.head_sha}  diff sha256 {u.diff_sha256}  merge base {u.merge_base}", markup=False)
    console.print(f"{u.lines} line(s) in {len(u.files)} file(s): {', '.join(u.files)}", markup=False)
    console.print(f"risk {u.risk}" + (f": {'; '.join(u.risk_reasons)}" if u.risk_reasons else ""), markup=False)
    if u.merge_sha:
        console.print(f"merged as {u.merge_sha}", markup=False)
    if u.note:
        console.print(f"now: {u.note}", markup=False)
    rows = [(t.at, t.from_state or "", t.to_state, t.head_sha[:10], t.actor, t.reason) for t in u.history]
    console.print(fit_table(HISTORY_COLUMNS, rows, title="history"))


def _sovereign(settings: Settings, runtime: Runtime) -> str:
    """``settings.house``, which must be allowed to approve (``rules.may_approve``), as the reviewer requires."""
    house = settings.house
    if not house:
        raise ConfigError("approving and rejecting upgrades needs `house`: the sovereign's house", key="house")
    if house not in runtime.houses:
        raise ConfigError(f"no house {house!r} in {settings.houses_dir}", key="house")
    if not runtime.houses[house].rules.may_approve:
        raise NotAuthorized(
            f"{house} may not approve or reject upgrades: rules.may_approve is false (only the sovereign may)"
        )
    return house


def _with_queue(
    ctx: typer.Context, act: Callable[[UpgradeQueue, Callable[..., Awaitable[object]]], Awaitable[Upgrade]]
) -> Upgrade:
    # here, not at the top: `--help` stays quick
    from ..assembly.configs import Configs
    from ..assembly.upgrades import act_on_upgrades

    opts = options(ctx)
    settings, runtime = opts.settings(), opts.runtime()
    _sovereign(settings, runtime)
    return asyncio.run(act_on_upgrades(settings, runtime, Configs(settings), act))


@upgrades_app.command("approve")
def approve(ctx: typer.Context, number: int = typer.Argument(..., help="The upgrade's pull request number.")) -> None:
    """Approve a proposed upgrade at its recorded head (refused if the head moved or its proof is not green)."""
    u = _with_queue(ctx, lambda queue, approve_head: queue.approve(number, approve_head))
    console.print(f"upgrade #{u.number} approved at head {u.head_sha} (diff sha256 {u.diff_sha256})", markup=False)


@upgrades_app.command("reject")
def reject(
    ctx: typer.Context,
    number: int = typer.Argument(..., help="The upgrade's pull request number."),
    reason: str = typer.Option(..., "--reason", help="Why: recorded, and written on the pull request."),
) -> None:
    """Reject a proposed or approved upgrade: recorded with the reason; the pull request is closed."""
    u = _with_queue(ctx, lambda queue, _approve: queue.reject(number, reason))
    console.print(f"upgrade #{u.number} rejected: {reason}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(upgrades_app, name="upgrades")
