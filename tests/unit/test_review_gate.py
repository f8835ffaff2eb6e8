"""The review gate, table-driven: which approval counts, and what blocks a merge. Plus the config and globs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uni_wizard.errors import ConfigError
from uni_wizard.forge.models import CombinedStatus, PullRequest, Review
from uni_wizard.review import ReviewConfig, approval_valid, linked_issues, load_review_config, matches, merge_blockers

HEAD = "a" * 40
OLD = "b" * 40
APPROVERS = frozenset({"timmy", "owner"})
CONFIG = ReviewConfig()


def review(rid: int, user: str = "timmy", state: str = "APPROVED", **fields: Any) -> Review:
    values = {"id": rid, "user": {"id": rid, "login": user}, "state": state, "official": True, "commit_id": HEAD}
    return Review.model_validate({**values, **fields})


def pull(**fields: Any) -> PullRequest:
    values = {"id": 1, "number": 7, "state": "open", "mergeable": True, "head": {"sha": HEAD, "ref": "b"}}
    return PullRequest.model_validate({**values, **fields})


def green(sha: str = HEAD, state: str = "success", proof: str | None = "success") -> CombinedStatus:
    statuses = [{"id": 1, "status": proof, "context": "uni-wizard/proof"}] if proof else []
    statuses.append({"id": 2, "status": "success", "context": "ci/other"})
    return CombinedStatus.model_validate({"state": state, "sha": sha, "statuses": statuses})


# -- approval_valid ----------------------------------------------------------------------------------

APPROVAL_CASES: list[tuple[str, list[Review], int | None]] = [
    ("none", [], None),
    ("timmy at the head", [review(1)], 1),
    ("the owner at the head", [review(1, "owner")], 1),
    ("a writer who is no approver", [review(1, "bezalel")], None),
    ("not official", [review(1, official=False)], None),
    ("dismissed", [review(1, dismissed=True)], None),
    ("stale", [review(1, stale=True)], None),
    ("bound to another commit", [review(1, commit_id=OLD)], None),
    ("requested changes", [review(1, state="REQUEST_CHANGES")], None),
    ("a comment", [review(1, state="COMMENT")], None),
    ("a pending draft", [review(1, state="PENDING")], None),
    ("the newest that counts", [review(1), review(3, "owner"), review(2, stale=True)], 3),
    ("an old one stale, a new one valid", [review(1, stale=True, commit_id=OLD), review(2)], 2),
]


@pytest.mark.parametrize(("reviews", "expected"), [c[1:] for c in APPROVAL_CASES], ids=[c[0] for c in APPROVAL_CASES])
def test_approval_valid(reviews: list[Review], expected: int | None) -> None:
    found = approval_valid(reviews, HEAD, APPROVERS)
    assert (found.id if found else None) == expected


def test_no_head_no_approval() -> None:
    assert approval_valid([review(1, commit_id="")], "", APPROVERS) is None


# -- merge_blockers ----------------------------------------------------------------------------------

BLOCKER_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("approved and green", {}, []),
    ("the owner's approval counts the same", {"reviews": [review(1, "owner")]}, []),
    ("merged already", {"pr": pull(merged=True)}, ["the pull request is merged already"]),
    ("closed", {"pr": pull(state="closed")}, ["the pull request is closed"]),
    ("hold", {"labels": {"hold"}}, ["the `hold` label is set: remove it to let the merge go ahead"]),
    ("no approval", {"reviews": []}, [f"no approval yet: owner or timmy must approve head {HEAD[:12]}"]),
    (
        "stale approval",
        {"reviews": [review(1, stale=True, commit_id=OLD)]},
        [
            f"the approval by timmy (review 1) is stale: it approved {OLD[:12]}, the head is now {HEAD[:12]}; "
            "the new head needs its own review and approval"
        ],
    ),
    (
        "dismissed approval",
        {"reviews": [review(1, dismissed=True)]},
        ["the approval by timmy (review 1) was dismissed"],
    ),
    (
        "an approval by someone else",
        {"reviews": [review(1, "allegro")]},
        ["the approval by allegro (review 1) does not count: only owner or timmy may approve this pull request"],
    ),
    (
        "requested changes still stand",
        {"reviews": [review(2), review(1, "owner", "REQUEST_CHANGES")]},
        ["owner requested changes (review 1)"],
    ),
    (
        "dismissed requested changes do not block",
        {"reviews": [review(2), review(1, "owner", "REQUEST_CHANGES", dismissed=True)]},
        [],
    ),
    (
        "pending status",
        {"status": green(state="pending")},
        [f"the combined status of head {HEAD[:12]} is pending, not success"],
    ),
    (
        "failed proof",
        {"status": green(state="failure", proof="failure")},
        [
            f"the combined status of head {HEAD[:12]} is failure, not success",
            f"the `uni-wizard/proof` status of head {HEAD[:12]} is failure",
        ],
    ),
    ("green without the proof", {"status": green(proof=None)}, [f"head {HEAD[:12]} has no `uni-wizard/proof` status"]),
    (
        "statuses of another commit",
        {"status": green(sha=OLD)},
        [f"the statuses read are for {OLD[:12]}, not the head {HEAD[:12]}"],
    ),
    (
        "not mergeable yet",
        {"pr": pull(mergeable=False)},
        ["the forge does not report it mergeable yet (conflict check running, or conflicts)"],
    ),
    ("needs-owner with the owner's approval", {"labels": {"needs-owner"}, "reviews": [review(1, "owner")]}, []),
    (
        "needs-owner with only timmy's approval",
        {"labels": {"needs-owner"}},
        [
            "it touches sensitive paths (`needs-owner`): only the owner's approval counts",
            "the approval by timmy (review 1) does not count: only owner may approve this pull request",
        ],
    ),
]


@pytest.mark.parametrize(("given", "expected"), [c[1:] for c in BLOCKER_CASES], ids=[c[0] for c in BLOCKER_CASES])
def test_merge_blockers(given: dict[str, Any], expected: list[str]) -> None:
    blockers = merge_blockers(
        given.get("pr", pull()),
        given.get("reviews", [review(1)]),
        given.get("status", green()),
        given.get("labels", set()),
        CONFIG,
        APPROVERS,
    )
    assert blockers == expected


def test_every_blocker_is_reported_at_once() -> None:
    blockers = merge_blockers(
        pull(mergeable=False), [], green(state="pending", proof=None), {"hold"}, CONFIG, APPROVERS
    )
    assert len(blockers) == 5 and blockers[0].startswith("the `hold` label")


def test_the_labels_names_are_configuration() -> None:
    config = ReviewConfig(hold_label="do-not-merge", needs_owner_label="owner-please", owner_login="alice")
    assert merge_blockers(pull(), [review(1)], green(), {"hold"}, config, {"timmy", "alice"}) == []
    assert merge_blockers(pull(), [review(1)], green(), {"do-not-merge"}, config, {"timmy"})[0].startswith(
        "the `do-not-merge` label"
    )
    assert merge_blockers(pull(), [review(1, "alice")], green(), {"owner-please"}, config, {"timmy", "alice"}) == []


# -- configuration -----------------------------------------------------------------------------------


def test_the_shipped_config_loads() -> None:
    assert load_review_config() == ReviewConfig()


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("auto_aprove: true\n", "auto_aprove", "unknown key"),
        ("max_diff_lines: 0\n", "max_diff_lines", "greater than or equal to 1"),
        ("merge_style: octopus\n", "merge_style", "Input should be"),
        ("sensitive_paths: ['/etc/**']\n", "sensitive_paths", "relative to the repository root"),
        ("- a list\n", None, "a review file must be a mapping of keys"),
        ("auto_approve: [\n", "line 2", "invalid YAML"),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str | None, message: str) -> None:
    path = tmp_path / "review.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_review_config(path)
    assert caught.value.source == str(path) and caught.value.key == key
    assert message in str(caught.value) and str(caught.value).startswith(str(path))


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    path.write_text("# nothing set\n")
    assert load_review_config(path) == ReviewConfig()


# -- globs and closing keywords ----------------------------------------------------------------------

GLOBS = [
    ("calc.py", "**/*.py", True),
    ("uni_wizard/review/gate.py", "**/*.py", True),
    ("calc.pyc", "**/*.py", False),
    ("tests/unit/x.yaml", "tests/**", True),
    ("tests", "tests/**", False),
    ("houses/ezra.yaml", "houses/**", True),
    ("docs/houses/x.md", "houses/**", False),
    ("configs/a/b/c.yaml", "configs/**", True),
    (".ci/run", ".ci/**", True),
    ("xci/run", ".ci/**", False),
    ("src/a.py", "*.py", False),
    ("a.py", "?.py", True),
    ("deploy/x[1].py", "deploy/x[1].py", True),
]


@pytest.mark.parametrize(("path", "pattern", "expected"), GLOBS)
def test_globs(path: str, pattern: str, expected: bool) -> None:
    assert matches(path, (pattern,)) is expected


def test_closing_keywords() -> None:
    assert linked_issues("Closes #3\nfixes: #4, Resolved #5; see #6; closes #3") == (3, 4, 5)
    assert linked_issues("no issue here, only #7") == ()
