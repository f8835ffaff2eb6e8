"""What ``init`` says: one line per step (``what: outcome``), labels and seed files summed up per repository,
then notes (the model, what to run next)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["InitReport", "group_steps"]

_GROUPS = (
    (re.compile(r"^label .+ on (?P<repo>\S+)$"), "labels on {repo}"),
    (re.compile(r"^file .+ in (?P<repo>\S+)$"), "seed files of {repo}"),
)
_UNCHANGED = ("exists", "unchanged")


def _group(what: str) -> str | None:
    for pattern, name in _GROUPS:
        match = pattern.match(what)
        if match:
            return name.format(repo=match["repo"])
    return None


def group_steps(steps: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``steps`` with the labels and the seed files of each repository as one step each: ``created``, ``exists``
    when all agree, else the count of each outcome."""
    grouped: dict[str, list[str]] = {}
    for what, outcome in steps:
        grouped.setdefault(_group(what) or what, []).append(outcome)
    lines = []
    for what, outcomes in grouped.items():
        counts = Counter(outcomes)
        if len(counts) == 1:
            outcome = outcomes[0]
            lines.append((f"{what} ({len(outcomes)})" if len(outcomes) > 1 else what, outcome))
        else:
            lines.append((what, ", ".join(f"{n} {o}" for o, n in counts.items())))
    return lines


class InitReport:
    """Every step of one ``init`` as ``(what, outcome)``, each said (``say``) as it is added."""

    def __init__(self, root: Path, *, say: Callable[[str], None]) -> None:
        self.root = root
        self.say = say
        self.steps: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def __call__(self, what: str, outcome: str) -> None:
        self.steps.append((what, outcome))
        self.say(f"  {what}: {outcome}")

    def bootstrap(self, steps: Sequence[tuple[str, str]]) -> None:
        for what, outcome in group_steps(steps):
            self(what, outcome)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.say(text)

    @property
    def changed(self) -> bool:
        """Something was created: a step that neither exists nor is unchanged."""
        return any(not outcome.startswith(_UNCHANGED) for _, outcome in self.steps)

    def model(self, models: list[str] | None, url: str, final: Path) -> None:
        """One line on the local model server: what the mesh uses, or how to add one later."""
        if models:
            shown = ", ".join(models[:3]) + (", ..." if len(models) > 3 else "")
            self.note(
                f"model: Ollama at {url} answers ({shown}): the workers plan issues without a playbook with "
                f"{models[0]} (planner: model, {final / 'configs' / 'cascade.yaml'})"
            )
        elif models is not None:
            self.note(
                f"model: Ollama at {url} answers but has no model: `ollama pull llama3.2:3b`, then delete "
                f"{final / 'settings'} and run `uni-wizard init {final}` again to use it"
            )
        else:
            self.note(
                f"model: no local model server answered (Ollama at {url}): issues need a playbook; to add one "
                f"later, start Ollama, delete {final / 'settings'} and run `uni-wizard init {final}` again"
            )

    def summary(self) -> str:
        differ = sum(1 for _, outcome in self.steps if "differs" in outcome)
        kept = f"; {differ} kept as they are, though they differ from what init makes" if differ else ""
        if not self.changed:
            return f"nothing changed: the mesh in {self.root} is complete (every step exists or is unchanged){kept}"
        created = sum(1 for _, outcome in self.steps if not outcome.startswith(_UNCHANGED))
        return f"the mesh is ready in {self.root} ({created} created){kept}"
