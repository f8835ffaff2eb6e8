"""The memory of the forge on a real store: documents and their kinds, idempotent indexing, removal, FTS5 search
(a caller's text never runs as FTS5 syntax), ``similar``'s 0..1 scores, and the three ways in: ``uni-wizard memory
search``, ``GET /api/v1/memory/search`` (behind the API token) and the houses' ``memory_search`` tool."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard import Harness, Mode
from uni_wizard.cli import main
from uni_wizard.config import Settings
from uni_wizard.forge.models import Comment, Issue, Review
from uni_wizard.harness.runtime import Runtime
from uni_wizard.memory import MemoryDoc, MemoryIndex, doc_of_comment, doc_of_issue, doc_of_review
from uni_wizard.memory.docs import comment_kind
from uni_wizard.store import Store
from uni_wizard.web.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

TOKEN = "s3cret"
REPO = "mesh/api"


def doc(number: int, title: str, body: str = "", *, repo: str = REPO, state: str = "open") -> MemoryDoc:
    return MemoryDoc(
        f"{repo}#{number}", repo, number, "issue", title, body, f"https://forge/{repo}/issues/{number}", state
    )


CORPUS = [
    doc(1, "Dispatcher crashes when an issue has an empty body", "Triage raises on issues without a description."),
    doc(2, "Add a dark theme to the dashboard", "Viewers want dark mode."),
    doc(3, "Webhook deliveries rejected with invalid signature", "HMAC check fails with 401."),
    doc(4, "Old crash in the dispatcher, fixed", "empty body crash", state="closed"),
    doc(5, "Dashboard crashes", "the events page", repo="mesh/web"),
]


@pytest.fixture
def index(tmp_path: Path) -> MemoryIndex:
    memory = MemoryIndex(Store(tmp_path / "store.db"))
    assert memory.put(CORPUS) == len(CORPUS)
    return memory


def test_indexing_is_idempotent_and_an_edit_replaces_the_document(index: MemoryIndex) -> None:
    assert index.put(CORPUS) == 0 and index.count() == len(CORPUS)
    assert index.put([doc(2, "Add a dark theme to the dashboard", "and a high contrast one")]) == 1
    assert index.count() == len(CORPUS)
    assert [h.number for h in index.search("high contrast")] == [2]
    assert index.search("viewers") == []  # the old text left the FTS index with its row


def test_search_ranks_by_bm25_filters_by_repository_and_carries_links(index: MemoryIndex) -> None:
    hits = index.search("dispatcher crash empty body")
    assert [h.number for h in hits][:2] in ([1, 4], [4, 1]) and {h.repo for h in hits} == {REPO, "mesh/web"}
    assert hits[0].score >= hits[-1].score > 0
    assert [h.number for h in index.search("crashes", repo="mesh/web")] == [5]
    assert index.search("signature")[0].as_dict()["url"] == f"https://forge/{REPO}/issues/3"
    assert "[" in index.search("signature")[0].snippet or "[" in index.search("HMAC")[0].snippet


@pytest.mark.parametrize("text", ['"unbalanced', "NOT dashboard", "dash* OR", "title:crash", "a AND (b", "^x", "-", ""])
def test_a_callers_text_never_runs_as_fts5_syntax(index: MemoryIndex, text: str) -> None:
    index.search(text)  # no error, whatever the text
    assert index.search(f"{text} signature")[0].number == 3  # the words are searched, as words


def test_similar_scores_against_the_texts_own_score_and_never_names_the_issue_itself(index: MemoryIndex) -> None:
    found = index.similar(REPO, 9, "Dispatcher crashes on an issue with an empty body", "no description given")
    assert found and found[0].number == 1 and 0.3 < found[0].score <= 1.0
    assert all(h.state == "open" and h.repo == REPO for h in found)  # the closed #4 and mesh/web's #5 are not asked
    assert [h.number for h in index.similar(REPO, 1, CORPUS[0].title, CORPUS[0].body)] != [1]
    assert index.count() == len(CORPUS)  # the text it compared was not kept


def test_removal_by_issue_and_by_what_the_forge_still_has(index: MemoryIndex) -> None:
    index.put([MemoryDoc(f"{REPO}#1/c/7", REPO, 1, "report", "report on #1", "done", "u")])
    assert index.remove(REPO, 1) == 2 and index.get(f"{REPO}#1") is None
    assert index.keep_only(REPO, {2}) == 2  # #3 and #4 are gone from the forge
    assert sorted(h.number for h in index.search("dashboard")) == [2, 5]


def test_only_comments_that_record_something_are_memory() -> None:
    issue = Issue(id=1, number=12, title="Flaky proof", html_url="https://forge/mesh/api/issues/12", comments=3)
    assert comment_kind("<!-- uni-wizard:report issue=12 -->\nDone: ...") == "report"
    assert comment_kind("<!-- uni-wizard:audit triage issue=12 -->\n**Triage**") == "triage"
    assert comment_kind("## Decision\nWe keep SQLite.") == "decision"
    assert comment_kind("thanks!") is None and comment_kind("/hold") is None
    kept = doc_of_comment(REPO, issue, Comment(id=5, body="**Decision**: retry twice, then block."))
    assert kept is not None and (kept.key, kept.kind, kept.url) == (f"{REPO}#12/c/5", "decision", issue.html_url)
    assert doc_of_comment(REPO, issue, Comment(id=6, body="+1")) is None
    pull = Issue(id=2, number=13, title="Fix it", is_pull=True)
    assert doc_of_issue(REPO, pull).kind == "pull"
    verdict = doc_of_review(REPO, pull, Review(id=3, state="REQUEST_CHANGES", body="no proof"))
    assert verdict is not None and verdict.kind == "review" and "request changes" in verdict.title
    assert doc_of_review(REPO, pull, Review(id=4, state="COMMENT", body="")) is None


# -- the ways in -------------------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir, workspace = tmp_path / "data", tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(workspace))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    runtime = Runtime(Settings(), metrics_registry=CollectorRegistry())
    MemoryIndex(runtime.store).put(CORPUS)
    runtime.close()
    return data_dir


def test_the_cli_searches_the_memory(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["memory", "search", "webhook signature", "--json", "--limit", "2"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["search"], found["vectors"]) == ("fts5-bm25", False)
    assert found["results"][0]["number"] == 3 and found["results"][0]["url"] == f"https://forge/{REPO}/issues/3"
    assert main(["memory", "search", "crashes", "--repo", "mesh/web"]) == 0
    out = capsys.readouterr().out
    assert "mesh/web#5 [issue] Dashboard crashes" in out and "https://forge/mesh/web/issues/5" in out
    assert main(["memory", "search", "nothing-like-this"]) == 0
    assert "nothing found (5 documents in the memory)" in capsys.readouterr().out


def test_the_api_searches_the_memory_behind_the_token(data_dir: Path) -> None:
    runtime = Runtime(Settings(), metrics_registry=CollectorRegistry())
    try:
        client = TestClient(create_app(runtime, api_token=TOKEN))
        assert client.get("/api/v1/memory/search", params={"q": "dashboard"}).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answer = client.get("/api/v1/memory/search", params={"q": "dark dashboard", "limit": 1}, headers=auth)
        assert answer.status_code == 200
        assert [(r["number"], r["url"]) for r in answer.json()["results"]] == [(2, f"https://forge/{REPO}/issues/2")]
        assert client.get("/api/v1/memory/search", params={"q": ""}, headers=auth).status_code == 422
        off = TestClient(create_app(runtime))
        assert off.get("/api/v1/memory/search", params={"q": "x"}, headers=auth).status_code == 503
        ready = client.get("/ready").json()["components"]["memory"]
        assert (ready["search"], ready["vectors"], ready["documents"]) == ("fts5-bm25", False, len(CORPUS))
    finally:
        runtime.close()


def test_ezra_may_search_the_memory_and_bezalel_may_not(data_dir: Path) -> None:
    runtime = Runtime(Settings(), metrics_registry=CollectorRegistry())
    try:
        found = Harness("ezra", Mode.INTELLIGENT, runtime=runtime).execute("memory_search", query="HMAC signature")
        assert found.ok, found
        assert [r["number"] for r in found.output["results"]] == [3]
        assert found.output["results"][0]["url"] == f"https://forge/{REPO}/issues/3"
        refused = Harness("bezalel", Mode.INTELLIGENT, runtime=runtime).execute("memory_search", query="HMAC")
        assert not refused.ok
        bad = Harness("ezra", Mode.INTELLIGENT, runtime=runtime).execute("memory_search", query="x", repo="nope")
        assert not bad.ok
    finally:
        runtime.close()
