"""Unexpected exceptions become forge issues (``uni_wizard.attention``): one per fingerprint across hosts, its
count edited in place and rate-limited, reopened when a closed one recurs, secrets never on the forge.

A real devforge over loopback (the bootstrapped mesh of the module), a real store per "host" (each its own
runtime and SQLite file); the exceptions are raised through code compiled under the package's directory, so
their frames are package frames as a daemon's would be. Forge writes are counted on a recording transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from bootstrapped_forge import Mesh, mesh_fixture
from worlds import Clients, clients, create_repo, fresh_name, plain_runtime

from uni_wizard.assembly.attention import supervised
from uni_wizard.attention import ErrorCapture, fingerprint
from uni_wizard.attention.capture import SOURCE_LABEL
from uni_wizard.attention.fingerprint import PACKAGE_ROOT
from uni_wizard.attention.metrics import AttentionMetrics
from uni_wizard.errors import ToolExecutionError
from uni_wizard.harness import Runtime
from uni_wizard.testing import RecordingTransport

mesh = mesh_fixture()

WEBHOOK_SECRET = "hook-secret-9f8e7d6c5b4a"
API_TOKEN = "api-token-0a1b2c3d4e5f"
PLANTED = (
    "token=query-secret-77aa88bb",
    "Authorization: Bearer header-secret-5566778899",
    "http://bob:url-password-4433@forge.example/x.git",
    WEBHOOK_SECRET,
    API_TOKEN,
)
SECRET_PARTS = ("query-secret-77aa88bb", "header-secret-5566778899", "url-password-4433", WEBHOOK_SECRET, API_TOKEN)


def raiser(kind: type[BaseException], *, offset: int = 0, message: str = "boom") -> Callable[[], None]:
    """A function of a module under the package (``uni_wizard/lane_under_test.py``) that raises ``kind``; ``offset``
    blank lines first (the same code moved down the file, as a refactor above it would)."""
    source = "\n" * offset + "def step(message):\n    raise KIND(message)\n\n\ndef run(message):\n    step(message)\n"
    namespace: dict[str, Any] = {"KIND": kind}
    exec(compile(source, str(PACKAGE_ROOT / "lane_under_test.py"), "exec"), namespace)

    def run() -> None:
        namespace["run"](message)

    return run


def caught(run: Callable[[], None]) -> BaseException:
    try:
        run()
    except BaseException as exc:
        return exc
    raise AssertionError("it did not raise")


class Host:
    """One host: its runtime (store), its capture, writing through a recording transport."""

    def __init__(self, runtime: Runtime, capture: ErrorCapture, line: RecordingTransport) -> None:
        self.runtime, self.capture, self.line = runtime, capture, line

    def writes(self) -> int:
        return sum(1 for e in self.line.exchanges if e.is_write)


@pytest.fixture
async def repo(mesh: Mesh) -> str:
    return await create_repo(mesh, fresh_name("e"))


@pytest.fixture
async def hosts(mesh: Mesh, repo: str, tmp_path: Path) -> AsyncIterator[Callable[[str], Host]]:
    async with clients(mesh) as client:
        made: list[Any] = []
        lines: list[RecordingTransport] = []

        def host(name: str, clock: Callable[[], float] | None = None) -> Host:
            ctx = plain_runtime(tmp_path / name, mesh, host=name, webhook_secret=WEBHOOK_SECRET, api_token=API_TOKEN)
            runtime = ctx.__enter__()
            made.append(ctx)
            line = RecordingTransport(close_inner=False)
            lines.append(line)
            forge = client("allegro", line)
            extra = {"clock": clock} if clock is not None else {}
            metrics = AttentionMetrics.for_registry(runtime.metrics.registry)
            capture = ErrorCapture(
                runtime.store, forge, repo=repo, host=name, version="1.2.3", metrics=metrics, **extra
            )
            return Host(runtime, capture, line)

        yield host
        for ctx in made:
            ctx.__exit__(None, None, None)
        for line in lines:
            await line.inner.aclose()


async def captured(client: Clients, repo: str) -> list[Any]:
    owner, name = repo.split("/")
    return [i async for i in client("timmy").iter_issues(owner, name, state="all", labels=[SOURCE_LABEL])]


def test_the_fingerprint_ignores_line_numbers_and_paths_and_tells_kinds_apart() -> None:
    first = fingerprint(caught(raiser(KeyError)))
    moved = fingerprint(caught(raiser(KeyError, offset=40)))
    other = fingerprint(caught(raiser(ValueError)))
    assert first.key == moved.key and first.key != other.key
    assert first.frames == ("uni_wizard/lane_under_test.py:run", "uni_wizard/lane_under_test.py:step")
    assert first.title == "KeyError in uni_wizard/lane_under_test.py:step"
    assert str(PACKAGE_ROOT) not in first.text and str(Path.home()) not in first.text
    assert 'File "uni_wizard/lane_under_test.py", line 2, in step' in first.text


async def test_two_hosts_raising_the_same_error_make_one_issue_counting_both(
    mesh: Mesh, repo: str, hosts: Callable[[str], Host]
) -> None:
    a, b = hosts("host-a"), hosts("host-b")
    a.capture.record(caught(raiser(KeyError)), "dispatcher: sweeping owner/work")
    b.capture.record(caught(raiser(KeyError, offset=7)), "worker bezalel: owner/work#3")

    first = await a.capture.publish()
    second = await b.capture.publish()  # finds host-a's issue by its marker: the first writer wins

    assert len(first.opened) == 1 and second.opened == () and second.edited == first.opened
    async with clients(mesh) as client:
        (issue,) = await captured(client, repo)
    assert issue.number == first.opened[0]
    assert {label.name for label in issue.labels} == {"kind/bug", SOURCE_LABEL}
    assert "seen 2 times" in issue.body
    assert "| `host-a` | 1 |" in issue.body and "| `host-b` | 1 |" in issue.body
    assert "dispatcher: sweeping owner/work" in issue.body and "version" in issue.body

    b.capture.record(caught(raiser(ValueError)), "reviewer")  # another bug: another issue
    assert len((await b.capture.publish()).opened) == 1
    async with clients(mesh) as client:
        assert len(await captured(client, repo)) == 2


async def test_a_flood_of_one_error_makes_a_handful_of_forge_writes(hosts: Callable[[str], Host]) -> None:
    now = [time.time()]
    a = hosts("host-a", lambda: now[0])
    error = caught(raiser(KeyError))
    a.capture.record(error, "a loop gone wrong")
    await a.capture.publish()  # opened at once (two label writes, the issue)
    opened = a.writes()
    for _ in range(10_000):
        a.capture.record(error, "a loop gone wrong")
    for _ in range(20):  # the daemon publishes every few seconds: within the minute, nothing is written
        await a.capture.publish()
    assert a.writes() == opened <= 3
    now[0] += 61
    edited = await a.capture.publish()  # a minute later: one edit carries the count
    assert len(edited.edited) == 1 and a.writes() == opened + 1
    body = (await a.capture.forge.get_issue(*a.capture.repo.split("/"), edited.edited[0])).body
    assert "seen 10001 times" in body
    registry = a.runtime.metrics.registry
    assert registry.get_sample_value("uniwizard_errors_captured_total") == 10_001
    assert registry.get_sample_value("uniwizard_error_issues_written_total", {"action": "opened"}) == 1
    assert registry.get_sample_value("uniwizard_error_issues_written_total", {"action": "edited"}) == 1


async def test_a_closed_issue_is_reopened_when_its_error_recurs(mesh: Mesh, hosts: Callable[[str], Host]) -> None:
    now = [time.time()]
    a = hosts("host-a", lambda: now[0])
    a.capture.record(caught(raiser(KeyError)), "worker")
    (number,) = (await a.capture.publish()).opened
    owner, name = a.capture.repo.split("/")
    async with clients(mesh) as client:
        await client("timmy").edit_issue(owner, name, number, state="closed")  # "fixed"
        now[0] += 3600  # an hour later it happens again
        a.capture.record(caught(raiser(KeyError)), "worker")

        done = await a.capture.publish()

        assert done.reopened == (number,)
        issue = await client("timmy").get_issue(owner, name, number)
        assert issue.state == "open"
        comments = await client("timmy").list_comments(owner, name, number)
        assert [c.body for c in comments] == ["Recurred in version 1.2.3 on `host-a`."]


async def test_planted_secrets_never_reach_the_forge(mesh: Mesh, hosts: Callable[[str], Host]) -> None:
    a = hosts("host-a")
    message = "failed: " + " ".join(PLANTED)
    a.capture.record(caught(raiser(RuntimeError, message=message)), f"while calling {PLANTED[2]} with {PLANTED[0]}")
    await a.capture.publish()

    sent = b"".join(e.request_body for e in a.line.exchanges)
    stored = b"".join(p.read_bytes() for p in mesh.server.forge.data_dir.rglob("*") if p.is_file())
    for secret in SECRET_PARTS:
        assert secret.encode() not in sent, secret
        assert secret.encode() not in stored, secret
    assert b"failed:" in sent  # the message itself went, scrubbed


async def test_a_role_task_that_dies_on_a_bug_is_recorded_and_still_ends_as_before(
    hosts: Callable[[str], Host],
) -> None:
    a = hosts("host-a")

    async def role() -> None:
        raiser(KeyError)()

    async def expected() -> None:
        raise ToolExecutionError("the forge is down")  # an expected failure: not a bug

    async def cancelled() -> None:
        await asyncio.sleep(3600)

    with pytest.raises(KeyError):
        await supervised(role(), "reviewer", a.capture)
    with pytest.raises(ToolExecutionError):
        await supervised(expected(), "dispatcher", a.capture)
    task = asyncio.create_task(supervised(cancelled(), "worker", a.capture))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    (row,) = a.capture.pending()
    assert (row["title"], row["count"]) == ("KeyError in uni_wizard/lane_under_test.py:step", 1)
    assert row["context"] == "the reviewer task of host host-a stopped on it"
