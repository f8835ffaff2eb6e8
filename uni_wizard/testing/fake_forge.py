"""``FakeForge``: an in-memory forge with ``GiteaClient``'s methods, recording every write as a readable line.

A lane's test gives it a ``FakeForge`` where it would give a ``GiteaClient``: the same async methods with the
same signatures, the same typed models back (``uni_wizard.forge.models``), the same errors for the same
situations (``NotFound``, ``Conflict``, ``NotAllowed``, ``ShaMismatch``... as the devforge answers them), and
no HTTP at all. Then the test compares ``calls``, a list of strings, with what it expected (prow's
``fakegithub``)::

    fake = FakeForge("allegro")
    fake.add_repo("mesh/work")
    fake.add_label("mesh/work", "status/routed", exclusive=True)
    issue = fake.add_issue("mesh/work", "Crash on start")
    await lane(fake).handle(issue)
    assert fake.calls == ["mesh/work#1:comment:Triaged as a bug", "mesh/work#1:labels:status/routed"]

``calls``: one line per write the forge accepted (a refused one writes nothing, and records nothing), as
``<owner>/<repo><ref>:<verb>[:<argument>]``, where ``<ref>`` is ``#N`` for the issue API (issues and PRs
alike), ``!N`` for the pull API, ``@<branch>`` for contents and branches, ``@<sha12>`` for a commit status,
and nothing for the repository itself; bodies are shown by their first line, shas by 12 characters::

    mesh/work#1:create:<title>          mesh/work#1:comment:<first line>    mesh/work#1:edit-comment:<first line>
    mesh/work#1:+label:<name>           mesh/work#1:-label:<name>           mesh/work#1:labels:<a,b (sorted)>
    mesh/work#1:title:<title>           mesh/work#1:body:<first line>       mesh/work#1:close / :reopen
    mesh/work#1:assignees:<a,b>         mesh/work#1:+assignee:<login>       mesh/work#1:-assignee:<login>
    mesh/work!3:create:<title>          mesh/work!3:merge:<sha12>[:<style>] mesh/work!3:review:<STATE>:<sha12>
    mesh/work!3:dismiss-review:<reviewer>                                   mesh/work@<sha12>:status:<context>=<state>
    mesh/work@<branch>:create-file:<path>  (update-file, delete-file)      mesh/work@<branch>:create-branch:<from>
    mesh/work@<branch>:delete-branch    mesh/work:create-label:<name>       mesh/work:edit-label:<name>
    mesh/work:protect:<rule>

``+label`` and ``labels:`` name the labels the forge applied: like Gitea, it ignores labels it does not know.
``calls.clear()`` resets it. The seeding helpers (``add_repo``, ``add_issue``, ``push``...) record nothing.
One forge, several accounts: ``as_user(login)`` and ``with_token(token)`` are views of the same forge (and
the same ``calls``) acting as another user, as two ``GiteaClient``s with two tokens would. ``fail(method,
error)`` makes the next call of ``method`` raise ``error`` (a lost race's ``ServerError``, ``ForgeUnavailable``).

What it does not copy (tests/integration/test_fake_forge_conformance.py proves what it does): permissions
beyond "every account writes every repository; its owner, site admins and ``add_repo(admins=...)`` administer
it" (no readers, private visibility, archived repositories, token scopes, merge or push whitelists); review
requests; ``content_version``; pagination headers (a list returns what the client returns after following
every page); webhooks; the 1.23 fallbacks (it answers as 1.26); real git (commit shas are synthetic, a merge
applies the head's changes over the base and never conflicts; ``hold`` stands for Gitea's conflict check
still running, or conflicts found).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from ..errors import ForgeError, ForgeUnavailable, NotFound, ToolCallError
from ..forge.http import FEATURES
from ..forge.models import Comment, Issue, PullRequest, Review, User, Version
from ._fake_issues import FakeIssues
from ._fake_labels import FakeLabels
from ._fake_models import comment_model, issue_model, pull_model, review_model, user_model
from ._fake_pulls import FakePulls
from ._fake_repos import FakeRepos
from ._fake_reviews import FakeReviews
from ._fake_seed import FakeSeeding
from ._fake_state import ForgeState, api

__all__ = ["FakeForge"]

VERSION = "1.26.4+fake"


class FakeForge(FakeIssues, FakeLabels, FakePulls, FakeReviews, FakeRepos, FakeSeeding):
    """An in-memory forge acting as ``user`` (see the module docstring).

    Args:
        user: the account this forge object acts as (``me()``); created with ``token``.
        clock: Unix seconds now (``FakeClock`` from ``uni_wizard.testing``); timestamps are whole seconds.
        root_url: the forge's address, in URLs and errors (``clone_url``, ``html_url``, ``base_url``).
    """

    def __init__(
        self,
        user: str = "uni-wizard",
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        root_url: str = "http://forge.invalid/",
    ) -> None:
        self._state = ForgeState(clock, root_url)
        self._login = user
        self.add_user(user, token=token)

    # Who is calling ---------------------------------------------------------------------------------

    @classmethod
    def _view(cls, state: ForgeState, login: str | None) -> FakeForge:
        view = cls.__new__(cls)
        view._state, view._login = state, login
        return view

    def as_user(self, login: str) -> FakeForge:
        """This forge, acting as ``login`` (added if the forge does not know it yet)."""
        return self._view(self._state, self.add_user(login).login)

    def with_token(self, token: str) -> FakeForge:
        """This forge, acting as the owner of ``token``; a token nobody owns gets ``Unauthorized`` for every call."""
        return self._view(self._state, self._state.tokens.get(token))

    @property
    def user(self) -> str | None:
        """The login this object acts as (None: an unknown token)."""
        return self._login

    def fail(self, method: str, error: ForgeError | ForgeUnavailable, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (``"update_file"``...) raise ``error`` before doing anything."""
        if not callable(getattr(self, method, None)):
            raise ToolCallError(f"the fake forge has no method {method!r}")
        self._state.failures.setdefault(method, []).extend([error] * times)

    # The state, read directly (for assertions) ---------------------------------------------------------

    def issue(self, full_name: str, number: int) -> Issue:
        repo = self._seeded(full_name)
        return issue_model(self._state, repo, repo.issues[number])

    def pull(self, full_name: str, number: int) -> PullRequest:
        repo = self._seeded(full_name)
        return pull_model(self._state, repo, repo.issues[number])

    def comments(self, full_name: str, number: int) -> list[Comment]:
        repo = self._seeded(full_name)
        issue = repo.issues[number]
        return [comment_model(self._state, repo, issue, c) for c in issue.comments]

    def reviews(self, full_name: str, number: int) -> list[Review]:
        pull = self._seeded(full_name).issues[number].pull
        return [review_model(self._state, r) for r in pull.reviews] if pull else []

    def file(self, full_name: str, path: str, ref: str | None = None) -> bytes | None:
        """A file's content at ``ref`` (default: the default branch); None when it is not there."""
        repo = self._seeded(full_name)
        sha = repo.resolve(ref or repo.default_branch)
        return repo.commits[sha].tree.get(path) if sha else None

    def branch(self, full_name: str, name: str) -> str | None:
        """The commit ``name`` points at (None: no such branch)."""
        return self._seeded(full_name).branches.get(name)

    # The client's own calls -------------------------------------------------------------------------

    @api
    async def me(self) -> User:
        """The account the client acts as."""
        return user_model(self._state, self._caller().login)

    @api
    async def get_user(self, username: str) -> User:
        if self._state.user(username) is None:
            raise self._error(NotFound, "GET", f"/users/{username}", "not found")
        return user_model(self._state, username)

    async def version(self) -> Version:
        return Version(version=VERSION)

    async def supports(self, feature: str) -> bool:
        if feature not in FEATURES:
            raise ToolCallError(f"unknown forge feature {feature!r}; known: {', '.join(sorted(FEATURES))}")
        return True

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
