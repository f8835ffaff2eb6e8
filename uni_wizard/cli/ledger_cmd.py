"""``ledger``: the settled bids per house and period, the bids still open, and the token spend beside them."""

from __future__ import annotations

import typer

from ..dispatch.bids import PERIODS, BidLedger, Period
from ..dispatch.spend import TokenSpend
from .common import console, options, print_json


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True, highlight=False)


def _period(value: str) -> Period:
    for period in PERIODS:
        if value == period:
            return period
    raise typer.BadParameter(f"{value!r} is not a period (one of {', '.join(PERIODS)})", param_hint="--period")


def register(app: typer.Typer) -> None:
    @app.command("ledger")
    def ledger_command(
        ctx: typer.Context,
        period: str = typer.Option("month", "--period", help="Group by day, week (ISO) or month (UTC)."),
        as_json: bool = typer.Option(False, "--json", help="Print balances, open bids and spend as JSON."),
    ) -> None:
        """The ledger: settled bids per house and period, the open bids, and token spend per house and provider."""
        chosen = _period(period)
        store = options(ctx).runtime().store
        bids, spend = BidLedger(store), TokenSpend(store)
        balances, open_bids, tokens = bids.balances(chosen), bids.open_bids(), spend.totals(chosen)
        if as_json:
            print_json(
                {
                    "period": chosen,
                    "balances": [b.as_dict() for b in balances],
                    "open": [b.as_dict() for b in open_bids],
                    "spend": [s.as_dict() for s in tokens],
                }
            )
            return
        _say(f"balances (settled bids, by {chosen}):")
        if not balances:
            _say("  none settled yet")
        for b in balances:
            _say(f"  {b.period:<10} {b.house:<12} {b.settled:>5} settled  {b.amount_milli / 1000:>10.3f}")
        _say(f"open bids: {len(open_bids)}")
        for bid in open_bids:
            _say(f"  {bid.repository}#{bid.number} {bid.house} {bid.kind} {bid.amount_milli / 1000:.3f} since {bid.at}")
        _say(f"token spend (by {chosen}):")
        if not tokens:
            _say("  none recorded")
        for s in tokens:
            _say(f"  {s.period:<10} {s.house:<12} {s.provider:<14} {s.calls:>6} calls  {s.input_tokens:>10} in"
                 f"  {s.output_tokens:>10} out")  # fmt: skip
