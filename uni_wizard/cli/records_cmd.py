"""``provenance verify | show | tail`` and ``approvals list | approve | reject``."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.table import Table

from ..errors import ProvenanceBroken
from ..harness.approvals import Approval, ApprovalState
from .common import EXIT_FAILED, Exit, console, err_console, options, print_json

provenance_app = typer.Typer(help="Inspect and verify the provenance chain.", no_args_is_help=True)
approvals_app = typer.Typer(help="Sovereign approval requests.", no_args_is_help=True)


@provenance_app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Recompute the hash chain; name the first broken record (exit 4) or say how many verified."""
    log = options(ctx).runtime().provenance
    try:
        count = log.verify()
    except ProvenanceBroken as exc:
        err_console.print(f"BROKEN: {exc}", markup=False, soft_wrap=True)
        raise Exit(EXIT_FAILED) from None
    console.print(f"ok: {count} provenance records verified")


@provenance_app.command("show")
def show(ctx: typer.Context, record_id: int = typer.Argument(..., help="Record id.")) -> None:
    """Print one record in full."""
    record = asdict(options(ctx).runtime().provenance.get(record_id))
    for key in ("args_json", "output_json", "decision_json"):
        if record[key] is not None:
            record[key.removesuffix("_json")] = json.loads(record.pop(key))
    print_json(record)


@provenance_app.command("tail")
def tail(
    ctx: typer.Context,
    count: int = typer.Option(20, "-n", "--count", help="How many records."),
    task: str | None = typer.Option(None, "--task", help="Only this task's records."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The latest records, oldest first."""
    records = options(ctx).runtime().provenance.tail(count, task=task)
    if as_json:
        print_json([asdict(r) for r in records])
        return
    table = Table("id", "at", "house", "mode", "tool", "task", "status", "ms", "hash")
    for r in records:
        table.add_row(
            str(r.id),
            r.at,
            r.house,
            r.mode,
            r.tool,
            r.task or "",
            r.status,
            f"{r.duration * 1000:.1f}",
            (r.hash or "")[:12],
        )
    console.print(table)


def _approval_table(items: list[Approval]) -> Table:
    table = Table("id", "state", "house", "tool", "requested", "expires", "decided by", "reason")
    for a in items:
        table.add_row(
            str(a.id), str(a.state), a.house, a.tool, a.requested_at, a.expires_at, a.decided_by or "", a.reason
        )
    return table


@approvals_app.command("list")
def list_approvals(
    ctx: typer.Context,
    state: ApprovalState | None = typer.Option(None, "--state", help="Only this state."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Approval requests (expired ones are marked as such first)."""
    items = options(ctx).runtime().approvals.find(state)
    if as_json:
        print_json([asdict(a) for a in items])
    else:
        console.print(_approval_table(items))


def _decide(ctx: typer.Context, approval_id: int, by: str, note: str, approve: bool) -> None:
    queue = options(ctx).runtime().approvals
    decided = (queue.approve if approve else queue.reject)(approval_id, actor=by, note=note)
    console.print(f"approval {decided.id} {decided.state} by {decided.decided_by}: {decided.house} {decided.tool}")
    if approve:
        console.print("the call runs when it is submitted again with the same arguments")


by_help = "Who decides: a house with rules.may_approve (timmy) or the owner's name."


@approvals_app.command("approve")
def approve(
    ctx: typer.Context,
    approval_id: int = typer.Argument(..., help="Approval id."),
    by: str = typer.Option(..., "--by", help=by_help),
    note: str = typer.Option("", "--note", help="Why."),
) -> None:
    """Approve a pending request."""
    _decide(ctx, approval_id, by, note, approve=True)


@approvals_app.command("reject")
def reject(
    ctx: typer.Context,
    approval_id: int = typer.Argument(..., help="Approval id."),
    by: str = typer.Option(..., "--by", help=by_help),
    note: str = typer.Option("", "--note", help="Why."),
) -> None:
    """Reject a pending request."""
    _decide(ctx, approval_id, by, note, approve=False)


def register(app: typer.Typer) -> None:
    app.add_typer(provenance_app, name="provenance")
    app.add_typer(approvals_app, name="approvals")
