"""``configs/review.yaml``: what Timmy's reviewer checks and how its merge gate decides.

Unknown keys and bad values are ``ConfigError``s that name the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError
from ..policy.loader import read_yaml, validation_error

__all__ = ["ReviewConfig", "default_review_path", "load_review_config"]


class ReviewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_approve: bool = Field(
        False,
        description="Timmy approves the head it checked; false: Timmy pre-reviews and the owner approves (ADR-021).",
    )
    max_diff_lines: int = Field(10_000, ge=1, description="Additions plus deletions above which a PR is rejected.")
    sensitive_paths: tuple[str, ...] = Field(
        ("houses/**", "configs/**", ".ci/**", "systemd/**", "deploy/**"),
        description="Globs of paths only the owner may approve changes to (`**` spans directories).",
    )
    rerun_tests_paths: tuple[str, ...] = Field(
        ("**/*.py", "tests/**"),
        description="Globs of paths whose change makes the reviewer re-run the tests in a clean worktree.",
    )
    proof_context: str = Field("uni-wizard/proof", min_length=1, description="The commit status the worker sets.")
    owner_login: str = Field("owner", min_length=1, description="The owner's forge user.")
    hold_label: str = Field("hold", min_length=1, description="A PR with this label is never merged.")
    needs_owner_label: str = Field("needs-owner", min_length=1, description="Set when the owner must approve.")
    review_label: str = Field("status/review", min_length=1, description="PRs (or their issues) waiting for review.")
    done_label: str = Field("status/done", min_length=1, description="Set on the issue once its PR is merged.")
    merge_style: Literal["merge", "rebase", "rebase-merge", "squash", "fast-forward-only"] = "merge"
    test_timeout: int = Field(600, ge=1, le=900, description="Seconds the re-run of the tests may take.")

    @field_validator("sensitive_paths", "rerun_tests_paths")
    @classmethod
    def _relative_globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern or pattern.startswith("/"):
                raise ValueError(f"{pattern!r}: globs are relative to the repository root, not empty or absolute")
        return value


def default_review_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (
        here.parent / "_defaults" / "configs" / "review.yaml",
        here.parents[1] / "configs" / "review.yaml",
    ):
        if candidate.is_file():
            return candidate
    return here.parents[1] / "configs" / "review.yaml"


def load_review_config(path: Path | None = None) -> ReviewConfig:
    """The reviewer's configuration from ``path`` (default: the shipped ``configs/review.yaml``)."""
    path = path or default_review_path()
    data = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("a review file must be a mapping of keys", source=str(path))
    try:
        return ReviewConfig.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None
