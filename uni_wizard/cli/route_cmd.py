"""``route TEXT`` (or ``route --explain TEXT``): what triage and routing would decide for an issue, and why.

``route stats``: the routing statistics per house and kind (``dispatch/route_stats.py``). The word ``stats``
alone, with no ``--title`` or ``--kind``, is the statistics; ``route --explain stats`` routes the text "stats".
"""

from __future__ import annotations

from dataclasses import asdict

import typer

from ..dispatch.config import load_triage_config
from ..dispatch.history import RoutingLedger
from ..dispatch.route_stats import RouteStat, routing_stats
from ..dispatch.routing import format_table, route
from ..dispatch.triage import bound, kind_matches, triage
from ..dispatch.types import IssueText
from .common import console, options, print_json


def split_text(text: str, title: str | None) -> tuple[str, str]:
    """(title, body): the first non-empty line is the title unless ``title`` is given."""
    if title is not None:
        return title, text
    lines = text.strip().splitlines()
    if not lines:
        return "", ""
    return lines[0].strip(), "\n".join(lines[1:]).strip()


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)


def _one_text(text: str | None, explain: str | None) -> str:
    """TEXT or ``--explain TEXT``, exactly one of them."""
    if text is not None and explain is not None:
        raise typer.BadParameter("give the issue text once: as TEXT or as --explain TEXT", param_hint="TEXT")
    if text is None and explain is None:
        raise typer.BadParameter('give the issue text: uni-wizard route "TEXT"', param_hint="TEXT")
    return text if text is not None else str(explain)


STATS = "stats"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_stats(stats: list[RouteStat], as_json: bool) -> None:
    if as_json:
        print_json({"stats": [s.as_dict() for s in stats]})
        return
    if not stats:
        _say("no routing decision recorded yet")
        return
    header = ("house", "kind", "considered", "won", "win rate", "settled", "void", "open", "completion", "time to PR")
    rows = [header]
    for s in stats:
        to_pr = "-" if s.mean_time_to_pr is None else f"{s.mean_time_to_pr / 60:.1f} min"
        rows.append((s.house, s.kind, str(s.considered), str(s.won), _rate(s.win_rate), str(s.settled),
                     str(s.void), str(s.open), _rate(s.completion_rate), to_pr))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        _say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def register(app: typer.Typer) -> None:
    @app.command("route")
    def route_command(
        ctx: typer.Context,
        text: str | None = typer.Argument(
            None, help="The issue text; its first line is the title. `stats`: the statistics.", show_default=False
        ),
        explain: str | None = typer.Option(None, "--explain", "-e", help="The same as TEXT (the older spelling)."),
        title: str | None = typer.Option(None, "--title", help="The title (then all of TEXT is the body)."),
        kind: str | None = typer.Option(None, "--kind", help="Route as this kind instead of the triaged one."),
        as_json: bool = typer.Option(False, "--json", help="Print the triage and the decision as JSON."),
    ) -> None:
        """Triage TEXT and route it over this host's houses, showing every score (nothing is written)."""
        if text == STATS and explain is None and title is None and kind is None:  # ``route stats``
            return _print_stats(routing_stats(options(ctx).runtime().store), as_json)
        issue_text = _one_text(text, explain)
        runtime = options(ctx).runtime()
        config = load_triage_config(runtime.settings.triage_config)
        issue_title, body = split_text(issue_text, title)
        issue = bound(IssueText(number=0, title=issue_title, body=body), config.limits)  # what the dispatcher reads
        verdict = triage(issue, config)
        known = {*config.kinds, config.default_kind}
        if kind is not None and kind not in known:
            raise typer.BadParameter(f"{kind!r} is not a kind (known: {', '.join(sorted(known))})", param_hint="--kind")
        routed_kind = kind or verdict.kind
        ledger = RoutingLedger(runtime.store)
        history, origins = ledger.history(routed_kind), ledger.origins(routed_kind)  # every host's outcomes
        decision = route(issue, routed_kind, runtime.houses, history=history, load={}, weights=config.routing)
        matches = kind_matches(issue, config)
        if as_json:
            print_json(
                {
                    "title": issue_title,
                    "triage": asdict(verdict),
                    "kind_matches": {k: {"score": s, "terms": t} for k, (s, t) in matches.items()},
                    "routed_kind": routed_kind,
                    "history": {h: {**asdict(r), "hosts": origins.get(h, {})} for h, r in history.items()},
                    "routing": asdict(decision),
                }
            )
            return
        _say(f"title: {issue_title}")
        _say(f"kind: {verdict.kind} ({verdict.classifier})" + (f", routed as {kind}" if kind else ""))
        for name, (score, terms) in sorted(matches.items(), key=lambda item: -item[1][0]):
            _say(f"  {name:<10} {score:>6g}  {', '.join(terms) if terms else '-'}")
        _say(f"priority: {verdict.priority} (rule: {verdict.priority_rule})")
        _say(f"epic: {'yes' if verdict.epic else 'no'}")
        _say(f"needs-info: {'yes' if verdict.needs_info else 'no'}")
        _say(f"labels: {', '.join(verdict.labels)}")
        _say("reasons:")
        for reason in verdict.reasons:
            _say(f"  - {reason}")
        _say("")
        _say(f"routing ({routed_kind}):")
        _say(format_table(decision))
        for house, record in history.items():
            hosts = ", ".join(f"{host or 'this host'} {n}" for host, n in origins.get(house, {}).items())
            _say(f"history {house}: {record.successes}/{record.attempts} succeeded ({hosts})")
        _say(f"chosen: {decision.chosen or 'nobody'}; runner-up: {decision.runner_up or 'nobody'}")
        _say(f"reason: {decision.reason}")
