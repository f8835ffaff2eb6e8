"""``predict --tool T --house H [--args k=v ...]`` and ``predict --issue TEXT``: what the pattern database and
routing expect, and how sure they are (nothing is written)."""

from __future__ import annotations

import typer

from ..dispatch.predictions import issue_prediction, parse_args, tool_prediction
from ..errors import ToolCallError
from .common import console, options, print_json


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("predict")
    def predict_command(
        ctx: typer.Context,
        tool: str | None = typer.Option(None, "--tool", help="The tool a call would run."),
        house: str | None = typer.Option(None, "--house", help="The house that would run it."),
        args: list[str] = typer.Option([], "--args", help="An argument of the call, key=value (repeatable)."),
        issue: str | None = typer.Option(None, "--issue", help="An issue's text (first line the title)."),
        as_json: bool = typer.Option(False, "--json", help="Print the prediction as JSON."),
    ) -> None:
        """Predict a tool call's success and duration (--tool, --house), or which house an issue goes to (--issue)."""
        if issue is not None and (tool is not None or house is not None or args):
            raise ToolCallError("give either --issue TEXT or --tool T --house H [--args k=v], not both")
        if issue is None and (tool is None or house is None):
            raise ToolCallError('give --tool T and --house H (a tool call), or --issue "TEXT" (an issue)')
        runtime = options(ctx).runtime()
        if issue is not None:
            found = issue_prediction(runtime, issue)
            if as_json:
                print_json(found)
                return
            _say(f"kind: {found['kind']}")
            _say(f"chosen: {found['chosen'] or 'nobody'}; runner-up: {found['runner_up'] or 'nobody'}")
            for h in found["houses"]:
                _say(
                    f"  {h['house']:<10} predicted success {h['predicted_success']:.2f} ± {h['uncertainty']:.2f}"
                    f" ({h['samples']} outcomes), total {h['total']:.3f}"
                )
            _say(f"reason: {found['reason']}")
            return
        assert tool is not None and house is not None
        found = tool_prediction(runtime, house, tool, parse_args(args))
        if as_json:
            print_json(found)
            return
        _say(f"{found['house']} · {found['tool']}" + (f" · {found['shape']}" if found["shape"] else ""))
        _say(found["sentence"])
        _say(f"timeout {found['timeout']:g} s (declared {found['declared_timeout']:g} s), retries {found['retries']}")
