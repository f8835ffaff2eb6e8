"""Routing on predicted success (a real store's outcomes, decayed): a house doing poorly on a kind loses it to a
capable peer, the audit comment says why, and it wins the kind back after successes."""

from __future__ import annotations

from pathlib import Path

from uni_wizard.dispatch.audit import decision_lines
from uni_wizard.dispatch.config import load_triage_config
from uni_wizard.dispatch.history import RoutingLedger
from uni_wizard.dispatch.routing import route
from uni_wizard.dispatch.triage import triage
from uni_wizard.dispatch.types import IssueText
from uni_wizard.testing import make_runtime

ISSUE = IssueText(number=41, title="Investigate the build", body="")


def test_poor_recent_outcomes_lose_a_kind_and_successes_win_it_back(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    try:
        config = load_triage_config(runtime.settings.triage_config)
        verdict = triage(ISSUE, config)
        ledger = RoutingLedger(runtime.store)

        def decide() -> tuple[str | None, str]:
            history = ledger.history(verdict.kind)
            decision = route(ISSUE, verdict.kind, runtime.houses, history=history, load={}, weights=config.routing)
            return decision.chosen, "\n".join(decision_lines(verdict, decision, None))

        assert verdict.kind == "research"
        chosen, _ = decide()
        assert chosen == "ezra"  # the better text match, with no history yet
        for n in range(5):
            ledger.record_outcome("ezra", "research", "mesh/work", n, success=False, duration=60.0)
        chosen, comment = decide()
        assert chosen == "bezalel"
        assert "ezra matched more of the text, but its predicted success on research is 0.31" in comment
        assert "over 5 outcomes against 0.67 for bezalel" in comment
        assert "Predicted success on `research` (outcomes behind it): " in comment and "ezra 0.31 ± 0.17 (5)" in comment
        for n in range(5, 9):
            ledger.record_outcome("ezra", "research", "mesh/work", n, success=True, duration=60.0)
        chosen, comment = decide()
        assert chosen == "ezra"  # four recent successes outweigh five older failures
        assert "matched more of the text, but" not in comment
    finally:
        runtime.close()
