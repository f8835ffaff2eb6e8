"""The worker's forge writes in as few calls as Gitea allows, and the mirror's pure parts.

On the fake forge (``uni_wizard.testing.FakeForge``: Gitea's label semantics, exclusive scoped labels
included), with a ``calls`` counter around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uni_wizard.errors import ConfigError
from uni_wizard.testing import FakeForge
from uni_wizard.tools.git_safety import git_argv
from uni_wizard.work.claims import set_status
from uni_wizard.work.mirror import Mirrors, _refs
from uni_wizard.work.publish import CommentBook, LabelIds, open_pull, upsert_comment

REPO = "mesh/work"
OTHERS = ["house/bezalel", "kind/task", "priority/P2", "needs-info"]


class Counted:
    """``forge`` with every awaited call counted by name."""

    def __init__(self, forge: FakeForge) -> None:
        self.forge = forge
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.forge, name)
        if not callable(found):
            return found

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await found(*args, **kwargs)

        return counted


def forge(*, exclusive: bool) -> tuple[FakeForge, int]:
    fake = FakeForge("bezalel")
    fake.add_repo(REPO)
    for status in ("routed", "in-progress", "review"):
        fake.add_label(REPO, f"status/{status}", exclusive=exclusive)
    issue = fake.add_issue(REPO, "Greet", labels=["status/routed", *OTHERS])
    return fake, issue.number


async def test_an_exclusive_status_label_is_set_in_one_call_and_no_other_label_moves() -> None:
    fake, number = forge(exclusive=True)
    counted = Counted(fake)
    labels = await set_status(counted, REPO, number, "in-progress")  # type: ignore[arg-type]
    assert counted.calls == ["add_labels"]
    assert sorted(labels) == sorted(["status/in-progress", *OTHERS])
    issue = await fake.get_issue("mesh", "work", number)
    assert sorted(issue.label_names) == sorted(labels)


async def test_a_status_label_made_without_exclusive_is_still_the_only_status() -> None:
    fake, number = forge(exclusive=False)
    counted = Counted(fake)
    labels = await set_status(counted, REPO, number, "review")  # type: ignore[arg-type]
    assert counted.calls == ["add_labels", "replace_labels"]
    assert sorted(labels) == sorted(["status/review", *OTHERS])


async def test_the_comment_book_lists_once_and_knows_what_the_run_wrote() -> None:
    fake, number = forge(exclusive=True)
    counted = Counted(fake)
    book = CommentBook(counted, REPO, number)  # type: ignore[arg-type]
    marker = "<!-- uni-wizard:report house=bezalel issue=1 -->"
    first = await upsert_comment(counted, REPO, number, marker, f"{marker}\none", login="bezalel", book=book)  # type: ignore[arg-type]
    same = await upsert_comment(counted, REPO, number, marker, f"{marker}\none", login="bezalel", book=book)  # type: ignore[arg-type]
    edited = await upsert_comment(counted, REPO, number, marker, f"{marker}\ntwo", login="bezalel", book=book)  # type: ignore[arg-type]
    assert counted.calls == ["list_comments", "create_comment", "edit_comment"]
    assert first.id == same.id == edited.id
    comments = await fake.list_comments("mesh", "work", number)
    assert [c.body for c in comments] == [f"{marker}\ntwo"]


async def test_a_fresh_branch_opens_its_pull_request_without_listing_and_labels_once() -> None:
    fake, _ = forge(exclusive=True)
    fake.push(REPO, "bezalel/issue-1", {"app.py": "x = 1\n"}, start="main")
    counted = Counted(fake)
    labels = LabelIds()
    pull = await open_pull(
        counted, REPO, branch="bezalel/issue-1", base="main", title="Greet", body="Closes #1",  # type: ignore[arg-type]
        label="status/review", fresh=True, labels=labels,
    )  # fmt: skip
    assert counted.calls == ["list_labels", "create_pull"]
    assert "status/review" in {label.name for label in pull.labels}
    # again (a run that did not know the branch was fresh): found, not opened twice; the label ids are known
    counted.calls.clear()
    again = await open_pull(
        counted, REPO, branch="bezalel/issue-1", base="main", title="Greet", body="Closes #1",  # type: ignore[arg-type]
        label="status/review", fresh=True, labels=labels,
    )  # fmt: skip
    assert again.number == pull.number
    assert counted.calls == ["create_pull", "list_pulls"]  # the 409 "already exists" finds the open one
    assert len(await fake.list_pulls("mesh", "work", state="all")) == 1


def test_the_mirror_is_one_safe_path_per_repository_and_never_where_a_house_writes(tmp_path: Path) -> None:
    mirrors = Mirrors(tmp_path / "cache", write_roots=lambda: [str(tmp_path / "workspace")])
    assert mirrors.path("mesh/work") == tmp_path / "cache" / "mesh" / "work.git"
    with pytest.raises(ConfigError):  # never a path of its choosing
        mirrors.path("mesh/../x")
    assert mirrors.exposed() is None
    assert Mirrors(tmp_path / "workspace" / "m", write_roots=lambda: [str(tmp_path / "workspace")]).exposed()
    assert Mirrors(tmp_path, write_roots=lambda: [str(tmp_path / "workspace")]).exposed()  # holds a write root
    assert Mirrors(tmp_path / "cache", write_roots=lambda: ["/"]).exposed() == "/"


def test_refs_are_matched_exactly() -> None:
    text = "a1\trefs/heads/main\nb2\trefs/heads/x/refs/heads/main\nc3\trefs/heads/bezalel/issue-1\n"
    assert _refs(text, ("refs/heads/main", "refs/heads/bezalel/issue-1")) == {
        "refs/heads/main": "a1",
        "refs/heads/bezalel/issue-1": "c3",
    }


def test_only_a_local_call_may_use_the_file_protocol() -> None:
    assert "protocol.file.allow=always" not in git_argv("clone")
    assert "protocol.file.allow=always" in git_argv("clone", local=True)
