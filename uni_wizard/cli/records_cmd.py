"""``provenance verify | show | tail`` and ``approvals list | approve | reject``."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.table import Table

from ..errors import ProvenanceBroken
from ..harness.approvals import Approval, ApprovalState
from .common import EXIT_FAILED, Col, Exit, console, err_console, fit_table, options, print_json

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
    rows = [
        (
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
        for r in records
    ]
    console.print(fit_table(PROVENANCE_COLUMNS, rows))


PROVENANCE_COLUMNS = (
    Col("id"),
    Col("at", wrap=True, width=10, drop=2),
    Col("house"),
    Col("mode", drop=3),
    Col("tool", width=12, wrap=True),
    Col("task", width=10, wrap=True, drop=4),
    Col("status"),
    Col("ms", drop=1),
    Col("hash", drop=5),
)
APPROVAL_COLUMNS = (
    Col("id"),
    Col("state"),
    Col("house"),
    Col("tool", width=12, wrap=True),
    Col("arguments", width=24, wrap=True),
    Col("requested", width=10, wrap=True, drop=3),
    Col("expires", width=10, wrap=True, drop=4),
    Col("decided by", drop=2),
    Col("reason", width=16, wrap=True, drop=1),
)


def arguments_text(args_json: str) -> str:
    """The arguments of a call as stored (secrets already redacted), one ``name=value`` per line."""
    try:
        args = json.loads(args_json)
    except json.JSONDecodeError:
        return args_json
    if not isinstance(args, dict):
        return json.dumps(args, ensure_ascii=False)
    return "\n".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for key, value in args.items()
    )


def _approval_table(items: list[Approval]) -> Table:
    rows = [
        (
            str(a.id), str(a.state), a.house, a.tool, arguments_text(a.args_json), a.requested_at, a.expires_at,
            a.decided_by or "", a.reason,
        )
        for a in items
    ]  # fmt: skip
    return fit_table(APPROVAL_COLUMNS, rows)


@approvals_app.command("list")
def list_approvals(
    ctx: typer.Context,
    state: ApprovalState | None = typer.Option(None, "--state", help="Only this state."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Approval requests with the tool and the arguments to approve (expired ones are marked as such first)."""
    items = options(ctx).runtime().approvals.find(state)
    if as_json:
        print_json([{**asdict(a), "args": _loaded(a.args_json)} for a in items])
    else:
        console.print(_approval_table(items))


def _loaded(args_json: str) -> object:
    try:
        return json.loads(args_json)
    except json.JSONDecodeError:
        return args_json


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
