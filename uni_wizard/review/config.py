"""``configs/review.yaml``: what Timmy's reviewer checks and how its merge gate decides.

Unknown keys and bad values are ``ConfigError``s that name the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..configfile import load_model, shipped
from ..reporef import RepoName

__all__ = ["MergeQueueConfig", "ReviewConfig", "default_review_path", "load_review_config"]


# Files that decide what a re-run executes or how its result reads: the test command, CI, build and test-runner
# configuration, and what Python imports at start. A change to one is re-run only once the owner approved that head.
RERUN_NEEDS_OWNER_PATHS = (
    ".uni-wizard.yaml",
    ".ci/**",
    ".github/**",
    ".gitea/**",
    ".gitlab-ci.yml",
    ".woodpecker/**",
    ".pre-commit-config.yaml",
    "**/Makefile",
    "**/GNUmakefile",
    "**/makefile",
    "**/*.mk",
    "**/pyproject.toml",
    "**/setup.py",
    "**/setup.cfg",
    "**/tox.ini",
    "**/noxfile.py",
    "**/pytest.ini",
    "**/conftest.py",
    "**/sitecustomize.py",
    "**/usercustomize.py",
    "**/*.pth",
    "**/package.json",
    "**/Cargo.toml",
    "**/build.rs",
    "**/CMakeLists.txt",
)
SENSITIVE_PATHS = ("houses/**", "configs/**", ".ci/**", "systemd/**", "deploy/**")


class MergeQueueConfig(BaseModel):
    """``merge_queue:`` how approved pull requests with green proof land on their target branch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retest_when_base_moved: bool = Field(
        True,
        description="Test the approved PRs of a branch together, merged onto its current base, before merging "
        "them (a failing batch is searched for its culprit); false: a PR whose base moved is re-checked (the "
        "forge says it still merges cleanly), not re-tested, and PRs merge one by one.",
    )
    max_batch: int = Field(8, ge=1, le=64, description="The most PRs tested together in one batch.")
    mergeable_wait: float = Field(
        15.0,
        ge=0,
        le=300,
        description="Seconds the queue waits for the forge to report a PR of a passing batch mergeable again "
        "after the PR before it moved the base (the forge re-checks conflicts in the background).",
    )


class ReviewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repos: tuple[RepoName, ...] | None = Field(
        None,
        description="owner/name of every repository the reviewer watches; unset: the dispatcher's "
        "dispatcher.repos of triage_config (the repositories it routes and the workers open PRs in).",
    )
    poll_seconds: float | None = Field(
        None, gt=0, description="Seconds between two review and merge passes; unset: dispatcher.poll_seconds."
    )
    auto_approve: bool = Field(
        False,
        description="Timmy approves the head it checked; false: Timmy pre-reviews and the owner approves (ADR-021).",
    )
    max_diff_lines: int = Field(10_000, ge=1, description="Additions plus deletions above which a PR is rejected.")
    sensitive_paths: tuple[str, ...] = Field(
        SENSITIVE_PATHS + tuple(p for p in RERUN_NEEDS_OWNER_PATHS if p not in SENSITIVE_PATHS),
        description="Globs of paths only the owner may approve changes to (`**` spans directories); by default "
        "also every glob of rerun_needs_owner_paths.",
    )
    rerun_tests_paths: tuple[str, ...] = Field(
        ("**/*.py", "tests/**"),
        description="Globs of paths whose change makes the reviewer re-run the tests in a clean worktree.",
    )
    rerun_needs_owner_paths: tuple[str, ...] = Field(
        RERUN_NEEDS_OWNER_PATHS,
        description="Globs of the test command, CI, build and test-runner files (`.uni-wizard.yaml`, `Makefile`, "
        "`pyproject.toml`, `**/conftest.py`, ...): a PR changing one has its tests re-run (sandboxed) only after "
        "the owner approved that exact head; until then the reviewer says so and asks the owner.",
    )
    proof_context: str = Field("uni-wizard/proof", min_length=1, description="The commit status the worker sets.")
    owner_login: str = Field("owner", min_length=1, description="The owner's forge user.")
    hold_label: str = Field("hold", min_length=1, description="A PR with this label is never merged.")
    needs_owner_label: str = Field("needs-owner", min_length=1, description="Set when the owner must approve.")
    review_label: str = Field("status/review", min_length=1, description="PRs (or their issues) waiting for review.")
    done_label: str = Field("status/done", min_length=1, description="Set on the issue once its PR is merged.")
    merge_style: Literal["merge", "rebase", "rebase-merge", "squash", "fast-forward-only"] = "merge"
    test_timeout: int = Field(600, ge=1, le=900, description="Seconds the re-run of the tests may take.")
    concurrency: int | None = Field(
        None,
        ge=1,
        le=64,
        description="How many pull requests are reviewed at once (each in its own worktree, its tests re-run side "
        "by side); unset: the host's cores. Merges stay one at a time per target branch.",
    )
    reuse_proven_trees: bool = Field(
        True,
        description="A head whose tree the reviewer re-ran already (same tree, same re-run policy) reuses that "
        "verdict instead of running the tests again, and says so; false: every head is re-run.",
    )

    merge_queue: MergeQueueConfig = Field(
        default_factory=MergeQueueConfig,
        description="The merge queue: approved PRs with green proof tested together on the current base, then "
        'merged one by one, each with its own approval of its head (see docs/OPERATIONS.md, "The merge queue").',
    )

    @field_validator("sensitive_paths", "rerun_tests_paths", "rerun_needs_owner_paths")
    @classmethod
    def _relative_globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern or pattern.startswith("/"):
                raise ValueError(f"{pattern!r}: globs are relative to the repository root, not empty or absolute")
        return value


def default_review_path() -> Path:
    return shipped("review.yaml")


def load_review_config(path: Path | None = None) -> ReviewConfig:
    """The reviewer's configuration from ``path`` (default: the shipped ``configs/review.yaml``)."""
    return load_model(ReviewConfig, path, default=default_review_path(), kind="a review file")
