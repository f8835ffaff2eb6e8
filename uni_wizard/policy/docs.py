"""Generate ``docs/POLICY.md`` from the policy model's field descriptions.

python -m uni_wizard.policy.docs > docs/POLICY.md
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel

from .model import HousePolicy, ModeFloor, PathRules, Rules, ToolRules

__all__ = ["render"]

SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("House policy (top level)", HousePolicy),
    ("`tools`", ToolRules),
    ("`paths`", PathRules),
    ("`rules`", Rules),
    ("`mode_floor`", ModeFloor),
)


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        if field.default_factory is dict:
            return "`{}`"
        return "see below" if isinstance(field.default_factory, type) else "`[]`"
    value = field.default
    if isinstance(value, tuple):
        value = list(value)
    if hasattr(value, "value"):
        value = value.value
    return f"`{json.dumps(value)}`"


def render() -> str:
    lines = [
        "# House policy reference",
        "",
        "Generated from `uni_wizard/policy/model.py` by `python -m uni_wizard.policy.docs`; do not edit by hand.",
        "Each house is one file, `houses/<name>.yaml`. Unknown keys are errors; a loader error names the file",
        "and the dotted key. Policies change only through an approved pull request.",
        "",
    ]
    for title, model in SECTIONS:
        lines += [f"## {title}", "", "| key | default | meaning |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            lines.append(f"| `{name}` | {_default(field)} | {field.description or ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
