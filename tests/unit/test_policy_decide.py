"""decide(): table-driven from policy_cases.yaml over the shipped houses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from uni_wizard.config import default_houses_dir
from uni_wizard.policy import DecisionContext, HousePolicy, Mode, PathArg, PolicyCall, decide, load_houses
from uni_wizard.policy.paths import PathAccess

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "policy_cases.yaml").read_text())


@pytest.fixture(scope="module")
def houses() -> dict[str, HousePolicy]:
    return {name: p.bind(workspace=Path("/ws")) for name, p in load_houses(default_houses_dir()).items()}


def _id(case: dict[str, Any]) -> str:
    return f"{case['house']}-{case['tool']}-{case['expect']['rule']}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_decision(case: dict[str, Any], houses: dict[str, HousePolicy]) -> None:
    call = PolicyCall(
        tool=case["tool"],
        group=case["group"],
        mutates=case.get("mutates", False),
        paths=tuple(
            PathArg(p["name"], PathAccess(p["access"]), p["given"], p["resolved"], p.get("is_file", False))
            for p in case.get("paths", [])
        ),
        facts=case.get("facts", {}),
    )
    context = DecisionContext(Mode(case.get("mode", "intelligent")), frozenset(case.get("read_paths", [])))
    decision = decide(houses[case["house"]], call, context)
    expect = case["expect"]
    assert decision.allowed is expect["allowed"], decision.reason
    assert decision.rule == expect["rule"], decision.reason
    assert decision.needs_approval is expect.get("needs_approval", False)
    assert expect.get("reason", "") in decision.reason


def test_every_denial_reason_names_the_house(houses: dict[str, HousePolicy]) -> None:
    for case in CASES:
        if not case["expect"]["allowed"]:
            call = PolicyCall(case["tool"], case["group"], facts=case.get("facts", {}))
            decision = decide(houses[case["house"]], call, DecisionContext())
            if not decision.allowed:
                assert case["house"] in decision.reason


def test_root_prefix_is_not_a_root() -> None:
    policy = HousePolicy.model_validate(
        {"name": "x", "role": "r", "gitea_user": "x", "tools": {"allow": ["*"]}, "paths": {"read": ["/srv/a"]}}
    )
    outside = PolicyCall("file_read", "file", paths=(PathArg("path", PathAccess.READ, "/srv/ab", "/srv/ab"),))
    inside = PolicyCall("file_read", "file", paths=(PathArg("path", PathAccess.READ, "/srv/a/b", "/srv/a/b"),))
    assert not decide(policy, outside, DecisionContext()).allowed
    assert decide(policy, inside, DecisionContext()).allowed


def test_a_required_rule_holds_even_where_the_allow_list_matches() -> None:
    base = {"name": "x", "role": "r", "gitea_user": "x", "tools": {"allow": ["*", "review:*"]}}
    approve = PolicyCall("gitea_approve_pr", "review", mutates=True, facts={"requires_rule": "may_approve"})
    both = PolicyCall("gitea_merge_pr", "review", mutates=True, facts={"requires_rule": ["may_approve", "may_merge"]})
    plain = HousePolicy.model_validate(base)
    decision = decide(plain, approve, DecisionContext())
    assert (decision.allowed, decision.rule) == (False, "may_approve")
    assert "x may not approve pull requests: rules.may_approve is false in houses/x.yaml" in decision.reason
    approver = HousePolicy.model_validate({**base, "rules": {"may_approve": True}})
    assert decide(approver, approve, DecisionContext()).allowed
    assert decide(approver, both, DecisionContext()).rule == "may_merge"  # every required rule must hold
    both_rules = HousePolicy.model_validate({**base, "rules": {"may_approve": True, "may_merge": True}})
    assert decide(both_rules, both, DecisionContext()).allowed
    denied = HousePolicy.model_validate({**base, "tools": {"allow": ["*"], "deny": ["review:*"]}})
    assert decide(denied, approve, DecisionContext()).rule == "deny"  # a deny pattern still wins first


@pytest.mark.parametrize("house", sorted(load_houses(default_houses_dir())))
def test_no_shipped_house_reads_the_home_the_mesh_secrets_live_in(
    house: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the owner's mesh as the README makes it (`uni-wizard init ~/mesh`): its secrets are in the home, beside
    # the workspace; a house driven by issue text must read neither them, nor ~/.ssh, nor the daemon's store
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    policy = load_houses(default_houses_dir())[house].bind(workspace=home / "mesh" / "data" / house / "workspace")
    for target in ("mesh/secrets/owner.token", ".ssh/id_ed25519", f"mesh/data/{house}/uni-wizard.db"):
        path = str(home / target)
        for access in (PathAccess.READ, PathAccess.WRITE):
            call = PolicyCall("file_read", "file", paths=(PathArg("path", access, path, path, True),))
            decision = decide(policy, call, DecisionContext(Mode.INTELLIGENT, frozenset()))
            assert not decision.allowed and decision.rule in ("paths", "allow", "deny"), (target, access, decision)
