"""The dashboard's pages through ``TestClient`` on a real runtime and store: login, logout, every page behind the
login (redirect for pages, 401 for the API), CSRF, viewers who may look but not decide, no secret in any page,
and the owner's approve and reject forms changing the approval's and the upgrade's state."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from uni_wizard.config import Settings
from uni_wizard.errors import TransitionRefused
from uni_wizard.harness.approvals import ApprovalState
from uni_wizard.harness.runtime import Runtime
from uni_wizard.observe.events import EventKind, EventLog
from uni_wizard.observe.now import BreakerNow, BreakersNow, HouseNow, LeaseNow, NowSnapshot, QueueNow, WorkNow
from uni_wizard.review.types import QueueLine
from uni_wizard.upgrade.records import Proposal, Upgrade, UpgradeStore
from uni_wizard.upgrade.risk import Risk
from uni_wizard.upgrade.states import State
from uni_wizard.web.app import create_app
from uni_wizard.web.auth import COOKIE, Auth, Identity
from uni_wizard.web.pages import Dashboard

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

API_TOKEN = "owner-api-token-5f1c9e"
VIEWER_TOKEN = "viewer-token-7a2b4d"
WEBHOOK_SECRET = "webhook-secret-93be01"
GITEA_TOKEN = "gitea-token-c0ffee42"
SECRETS = (API_TOKEN, VIEWER_TOKEN, WEBHOOK_SECRET, GITEA_TOKEN)
PAGES = (
    "/now",
    "/now/fragment",
    "/activity",
    "/activity?house=ezra&kind=issue.routed&issue=org/repo%237",
    "/issues/org/repo/7",
    "/approvals",
    "/cascade",
    "/cascade/fragment",
    "/provenance",
    "/provenance/verify",
    "/mesh",
    "/mesh/fragment",
)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ESCALATIONS = [
    {"category": "docs", "threshold": 0.8, "acted": 0, "ignored": 6, "pinned": None,
     "why": "ignored 6 of the last 6: they wait for the digest"},
]  # fmt: skip
QUEUE = (
    QueueLine("org/repo", "main", 9, "a" * 40, "Add farewell", "queued", 1, "owner"),
    QueueLine("org/repo", "main", 12, "b" * 40, "Rename it", "held", reasons=("the `hold` label is set",)),
)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    settings = Settings(
        data_dir=tmp_path / "data", workspace=workspace, host="test-host", gitea_token=GITEA_TOKEN, owner="alex"
    )
    rt = Runtime(settings, metrics_registry=CollectorRegistry())
    yield rt
    rt.close()


def _snapshot() -> NowSnapshot:
    work = WorkNow("org/repo", 7, time.time() - 90, 90.0, 2, None)
    house = HouseNow("ezra", 2, 1, (work,), QueueNow(routed=1, in_progress=1))
    lease = LeaseNow("test-host", "allegro", 4, False, "forge")
    breakers = BreakersNow(True, "this daemon", (BreakerNow("provider", "ollama", "open"),))
    return NowSnapshot("test-host", time.time(), (house,), lease, (), breakers)


@pytest.fixture
def upgrades(runtime: Runtime) -> UpgradeStore:
    records = UpgradeStore(runtime.store)
    for number in (11, 12):
        proposal = Proposal(
            "mesh/uni-wizard", number, f"Upgrade {number}", "bezalel", f"{number:040x}", "d" * 64, "b" * 40,
            ("uni_wizard/x.py",), 3, Risk(True, ()),
        )  # fmt: skip
        records.propose(proposal, actor="timmy", reason="reviewed")
    return records


@pytest.fixture
def client(runtime: Runtime, upgrades: UpgradeStore) -> Iterator[TestClient]:
    events = EventLog(runtime.store, runtime.host)
    scores = [
        {"house": "ezra", "total": 0.82, "text": 0.9, "history": 0.7, "load": 1.0, "bid": 0.5, "eligible": True, "why": ""},
        {"house": "allegro", "total": 0.0, "text": 0.1, "history": 0.5, "load": 1.0, "bid": 0.0, "eligible": False,
         "why": "never takes issues"},
    ]  # fmt: skip
    data = {"house": "ezra", "kind": "docs", "scores": scores}
    events.emit_sync(EventKind.ISSUE_ROUTED, "r7", repository="org/repo", number=7, data=data)
    events.emit_sync(EventKind.ISSUE_ROUTED, "r8", repository="org/repo", number=8, data={"house": "bezalel"})
    runtime.approvals.request(
        house="ezra", tool="git_push", args_digest="a" * 64, args_json='{"branch": "main"}', task="org/repo#7",
        reason="sovereign mode",
    )  # fmt: skip

    async def now() -> NowSnapshot:
        return _snapshot()

    async def decide(number: int, approve: bool, reason: str) -> Upgrade:
        """The upgrade state machine of the store (the forge side is ``assembly/dashboard.py``'s, tested with a
        real reviewer in the system tests)."""
        upgrade = upgrades.get("mesh/uni-wizard", number)
        if upgrade is None:
            raise TransitionRefused(f"no upgrade #{number}")
        wanted = State.APPROVED if approve else State.REJECTED
        return upgrades.transition(upgrade.id, upgrade.state, wanted, actor="alex", reason=reason or "approved")

    dashboard = Dashboard(
        runtime, owner="alex", forge_url="http://forge.test/", now=now,
        cascade=lambda: {"required": False, "providers": [{"name": "ollama", "kind": "ollama", "breaker": "open"}]},
        upgrades=upgrades, decide_upgrade=decide, merge_queue=lambda: QUEUE, escalations=lambda: ESCALATIONS,
    )  # fmt: skip
    app = create_app(
        runtime, api_token=API_TOKEN, webhook_secret=WEBHOOK_SECRET, viewer_token=VIEWER_TOKEN, dashboard=dashboard
    )
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def login(client: TestClient, token: str) -> str:
    """Log in with ``token``; the CSRF token of the pages' forms."""
    form = client.get("/login")
    assert form.status_code == 200
    nonce = CSRF.search(form.text)
    assert nonce is not None
    answer = client.post("/login", data={"token": token, "csrf": nonce.group(1), "next": "/approvals"})
    assert answer.status_code == 303 and answer.headers["location"] == "/approvals"
    assert client.cookies.get(COOKIE)
    page = client.get("/approvals")
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def test_every_page_redirects_to_the_login_without_one(client: TestClient) -> None:
    for page in PAGES:
        answer = client.get(page)
        assert answer.status_code == 303, page
        assert answer.headers["location"].startswith("/login?next=%2F"), page
    assert client.get("/now/fragment", headers={"HX-Request": "true"}).headers["HX-Redirect"].startswith("/login")
    assert client.get("/api/v1/now").status_code == 401
    assert client.get("/api/v1/events").status_code == 401
    assert client.post("/approvals/1", data={"decision": "approve"}).status_code == 303


def test_the_owner_logs_in_sees_every_page_and_logs_out(client: TestClient) -> None:
    csrf = login(client, API_TOKEN)
    for page in PAGES:
        answer = client.get(page)
        assert answer.status_code == 200, page
        assert "fragment" in page or "alex (owner)" in answer.text, page
    now = client.get("/now").text
    assert "org/repo#7" in now and "ezra" in now and "epoch <strong>4</strong>" in now and "ollama: open" in now
    assert 'hx-trigger="every 2s"' in now and "/static/htmx.min.js" in now
    assert '<table id="merge-queue">' in now and 'href="http://forge.test/org/repo/issues/9">#9</a> Add farewell' in now
    assert "the `hold` label is set" in now
    approvals = client.get("/approvals").text
    assert '<table id="escalations">' in approvals and "ignored 6 of the last 6" in approvals
    assert client.get("/api/v1/now").json()["houses"][0]["work"][0]["issue"] == "org/repo#7"
    activity = client.get("/activity?house=ezra").text
    assert 'href="http://forge.test/org/repo/issues/7"' in activity and "org/repo#8" not in activity
    issue = client.get("/issues/org/repo/7").text
    assert '<table class="scores">' in issue and "<td>0.82</td>" in issue and "no: never takes issues" in issue
    assert "ok: 0 provenance records verified" in client.get("/provenance/verify").text
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/now").status_code == 303


def test_a_logged_out_cookie_is_refused_even_when_replayed(client: TestClient) -> None:
    csrf = login(client, API_TOKEN)
    cookie = client.cookies.get(COOKIE)
    client.post("/logout", data={"csrf": csrf})
    client.cookies.set(COOKIE, cookie or "")
    assert client.get("/now").status_code == 303


def test_a_wrong_token_or_a_forged_cookie_opens_nothing(client: TestClient) -> None:
    form = client.get("/login")
    nonce = CSRF.search(form.text)
    assert nonce is not None
    answer = client.post("/login", data={"token": "guess", "csrf": nonce.group(1)})
    assert answer.status_code == 401 and "neither the API token nor the viewer token" in answer.text
    assert not client.cookies.get(COOKIE)
    forged = Auth(api_token="another-token").issue(Identity("owner", "alex", "session"))
    client.cookies.set(COOKIE, forged)
    assert client.get("/now").status_code == 303
    auth = Auth(api_token=API_TOKEN, clock=lambda: time.time() - 13 * 3600)  # issued 13 h ago: expired
    client.cookies.set(COOKIE, auth.issue(Identity("owner", "alex", "session")))
    assert client.get("/now").status_code == 303


def test_forms_without_their_csrf_token_are_refused(client: TestClient) -> None:
    assert client.get("/login").status_code == 200
    assert client.post("/login", data={"token": API_TOKEN}).status_code == 403
    client.cookies.clear()
    assert client.post("/login", data={"token": API_TOKEN, "csrf": "made-up"}).status_code == 403
    csrf = login(client, API_TOKEN)
    assert client.post("/approvals/1", data={"decision": "approve"}).status_code == 403
    assert client.post("/approvals/1", data={"decision": "approve", "csrf": "x" * 64}).status_code == 403
    assert client.post("/upgrades/11", data={"decision": "approve"}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/now").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303


def test_a_viewer_sees_the_pages_but_may_not_decide(client: TestClient, runtime: Runtime) -> None:
    csrf = login(client, VIEWER_TOKEN)
    for page in PAGES:
        assert client.get(page).status_code == 200, page
    page = client.get("/approvals").text
    assert "viewer (viewer)" in page and "the owner decides" in page and 'value="approve"' not in page
    assert client.post("/approvals/1", data={"decision": "approve", "csrf": csrf}).status_code == 403
    assert client.post("/upgrades/11", data={"decision": "reject", "reason": "no", "csrf": csrf}).status_code == 403
    assert runtime.approvals.get(1).state == ApprovalState.PENDING
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}).status_code == 200


def test_the_owner_approves_and_rejects_from_the_forms(
    client: TestClient, runtime: Runtime, upgrades: UpgradeStore
) -> None:
    csrf = login(client, API_TOKEN)
    page = client.get("/approvals").text
    assert "{&#34;branch&#34;: &#34;main&#34;}" in page  # the exact arguments, escaped
    answer = client.post("/approvals/1", data={"decision": "approve", "note": "go", "csrf": csrf})
    assert answer.status_code == 303
    approval = runtime.approvals.get(1)
    assert approval.state == ApprovalState.APPROVED and approval.decided_by == "alex" and approval.note == "go"
    again = client.get(client.post("/approvals/1", data={"decision": "reject", "csrf": csrf}).headers["location"])
    assert "not pending" in again.text
    client.post("/upgrades/11", data={"decision": "approve", "csrf": csrf})
    client.post("/upgrades/12", data={"decision": "reject", "reason": "too risky", "csrf": csrf})
    first, second = upgrades.get("mesh/uni-wizard", 11), upgrades.get("mesh/uni-wizard", 12)
    assert first is not None and first.state is State.APPROVED
    assert second is not None and second.state is State.REJECTED and second.history[-1].reason == "too risky"
    shown = client.get("/approvals").text
    assert 'data-upgrade="12"' in shown and "rejected" in shown


def test_no_page_ever_shows_a_secret(client: TestClient) -> None:
    bodies = []
    for token in (API_TOKEN, VIEWER_TOKEN):
        login(client, token)
        bodies += [client.get(page).text for page in (*PAGES, "/login")]
        client.cookies.clear()
    bodies.append(client.get("/login").text)
    for body in bodies:
        for secret in SECRETS:
            assert secret not in body


def test_next_never_leaves_the_site(client: TestClient) -> None:
    form = client.get("/login")
    nonce = CSRF.search(form.text)
    assert nonce is not None
    answer = client.post("/login", data={"token": API_TOKEN, "csrf": nonce.group(1), "next": "//evil.test/x"})
    assert answer.headers["location"] == "/now"
