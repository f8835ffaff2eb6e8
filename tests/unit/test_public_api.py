"""The public surface is set on purpose; the generated policy reference is current."""

from __future__ import annotations

import inspect
from pathlib import Path

import uni_wizard
from uni_wizard.policy.docs import render

ROOT = Path(__file__).resolve().parents[2]


def test_public_names_are_exactly_all() -> None:
    for name in uni_wizard.__all__:  # imported on first use: load every one
        getattr(uni_wizard, name)
    public = {n for n, v in vars(uni_wizard).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert set(uni_wizard.__all__) - {"__version__", "errors"} == public


def test_the_seed_api_imports() -> None:
    from uni_wizard import Harness, House, Mode  # noqa: F401  - the seed document's one import line

    assert House.TIMMY == "timmy" and Mode.SOVEREIGN == "sovereign"


def test_policy_reference_is_generated_from_the_model() -> None:
    assert (ROOT / "docs" / "POLICY.md").read_text() == render(), "run `make policy-docs`"
