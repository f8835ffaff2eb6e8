"""The devforge behaves like Gitea: GITEA_FACTS §2-§6 and every item of §9, over real loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
import time

import httpx
import pytest
from conftest_devforge import ADMIN, Forge, forge_fixture, gitea_schema_fixture  # noqa: F401
from loopback_http import LoopbackServer, text_reply

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def git_hash_object(data: bytes) -> str:
    return (
        subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


def assert_error(r: httpx.Response, status: int, forge: Forge, message: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"message", "url"}
    assert body["url"] == forge.url + "api/swagger"
    if message is not None:
        assert body["message"] == message


def make_branch_with_change(forge: Forge, repo: str, branch: str, path: str = "f.txt", data: bytes = b"x\n") -> str:
    r = forge.alice.post(f"/repos/{repo}/branches", json={"new_branch_name": branch})
    assert r.status_code == 201, r.text
    r = forge.alice.post(f"/repos/{repo}/contents/{path}", json={"content": b64(data), "branch": branch})
    assert r.status_code == 201, r.text
    return str(r.json()["commit"]["sha"])


def open_pr(forge: Forge, repo: str, branch: str, title: str = "A change", body: str = "") -> dict:
    make_branch_with_change(forge, repo, branch, path=f"{branch}.txt")
    r = forge.alice.post(f"/repos/{repo}/pulls", json={"head": branch, "base": "main", "title": title, "body": body})
    assert r.status_code == 201, r.text
    return r.json()


# -- §2 conventions: version, authentication, error bodies -------------------------------------------------------------


def test_version_parses_as_at_least_1_23(forge: Forge, gitea_schema) -> None:
    r = forge.anon.get("/version")
    assert r.status_code == 200
    gitea_schema("ServerVersion", r.json())
    major, minor = (int(x) for x in r.json()["version"].split(".")[:2])
    assert (major, minor) >= (1, 23)


def test_authentication_schemes(forge: Forge, gitea_schema) -> None:
    token = forge.alice.token
    api = forge.server.api
    for header in (f"token {token}", f"bearer {token}", f"ToKeN {token}", f"Bearer {token}"):
        r = httpx.get(f"{api}/user", headers={"Authorization": header})
        assert r.status_code == 200, header
        assert r.json()["login"] == "alice"
    gitea_schema("User", r.json())
    assert httpx.get(f"{api}/user", auth=("alice", forge.alice.password)).json()["login"] == "alice"
    assert httpx.get(f"{api}/user", auth=("alice", token)).json()["login"] == "alice"
    assert_error(
        httpx.get(f"{api}/user", headers={"Authorization": "token nope"}),
        401,
        forge,
        "invalid username, password or token",
    )
    assert_error(httpx.get(f"{api}/user", auth=("alice", "wrong")), 401, forge, "invalid username, password or token")
    assert_error(forge.anon.get("/user"), 401, forge, "token is required")
    assert_error(forge.anon.post("/user/repos", json={"name": "x"}), 401, forge, "token is required")


def test_token_creation_needs_basic_auth_with_password(forge: Forge, gitea_schema) -> None:
    api = forge.server.api
    body = {"name": "second", "scopes": ["read:user"]}
    assert_error(forge.alice.post("/users/alice/tokens", json=body), 401, forge, "auth required")
    assert_error(httpx.post(f"{api}/users/alice/tokens", auth=("alice", forge.alice.token), json=body), 401, forge)
    r = httpx.post(f"{api}/users/alice/tokens", auth=("alice", forge.alice.password), json=body)
    assert r.status_code == 201
    gitea_schema("AccessToken", r.json())
    token = r.json()["sha1"]
    assert len(token) == 40 and r.json()["token_last_eight"] == token[-8:]
    assert httpx.get(f"{api}/user", headers={"Authorization": f"token {token}"}).status_code == 200
    # a read:user token may not write repositories
    r = httpx.post(f"{api}/user/repos", headers={"Authorization": f"token {token}"}, json={"name": "nope"})
    assert r.status_code == 403 and "required=[write:repository]" in r.json()["message"]
    again = httpx.post(f"{api}/users/alice/tokens", auth=("alice", forge.alice.password), json=body)
    assert again.status_code == 400


def test_admin_users_orgs_and_visibility(forge: Forge, gitea_schema) -> None:
    r = forge.alice.post("/admin/users", json={"username": "mallory", "email": "m@example.com", "password": "x"})
    assert_error(r, 403, forge)
    assert_error(forge.root.post("/admin/users", json={"email": "e@example.com"}), 422, forge, "[Username]: Required")
    r = forge.alice.post("/orgs", json={"username": "guild"})
    assert r.status_code == 201
    r = forge.alice.post("/orgs/guild/repos", json={"name": "shared", "private": True, "auto_init": True})
    assert r.status_code == 201
    repo = r.json()
    gitea_schema("Repository", repo)
    assert repo["default_branch"] == "main" and repo["private"] is True
    assert repo["clone_url"] == forge.url + "guild/shared.git"
    assert repo["permissions"] == {"admin": True, "push": True, "pull": True}
    assert forge.bob.post("/orgs/guild/repos", json={"name": "x"}).status_code == 403
    # private: invisible (404, not 403) to others
    assert_error(forge.bob.get("/repos/guild/shared"), 404, forge)
    assert_error(forge.anon.get("/repos/guild/shared"), 404, forge)
    assert forge.root.get("/repos/guild/shared").status_code == 200
    assert forge.alice.post("/user/repos", json={"name": repo["name"]}).status_code == 201
    assert_error(forge.alice.post("/user/repos", json={"name": repo["name"]}), 409, forge)
    assert forge.bob.get("/users/alice").json()["login"] == "alice"
    assert_error(forge.bob.get("/users/nobody-here"), 404, forge)


def test_collaborators_permissions_and_assignees(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo(private=True)
    r = forge.alice.get(f"/repos/{repo}/collaborators/bob/permission")
    gitea_schema("RepoCollaboratorPermission", r.json())
    assert r.json()["permission"] == "write"
    assert forge.carol.get(f"/repos/{repo}/collaborators/carol/permission").json()["permission"] == "read"
    assert forge.alice.get(f"/repos/{repo}/collaborators/alice/permission").json()["permission"] == "owner"
    logins = [u["login"] for u in forge.carol.get(f"/repos/{repo}/assignees").json()]
    assert logins == ["alice", "bob"]
    # carol reads but may not write: 403 with a body
    assert forge.carol.get(f"/repos/{repo}").json()["permissions"] == {"admin": False, "push": False, "pull": True}
    assert_error(forge.carol.post(f"/repos/{repo}/labels", json={"name": "x", "color": "fff"}), 403, forge)
    assert forge.carol.delete(f"/repos/{repo}").status_code == 403
    assert forge.alice.delete(f"/repos/{repo}").status_code == 204
    assert forge.alice.get(f"/repos/{repo}").status_code == 404


def test_empty_repository_has_no_branches_until_first_write(forge: Forge) -> None:
    repo = forge.new_repo(auto_init=False)
    info = forge.alice.get(f"/repos/{repo}").json()
    assert info["empty"] is True and info["default_branch"] == "main"
    assert_error(forge.alice.get(f"/repos/{repo}/branches"), 404, forge, "Git Repository is empty.")
    assert_error(forge.alice.get(f"/repos/{repo}/branches/main"), 404, forge)
    r = forge.alice.post(f"/repos/{repo}/contents/first.txt", json={"content": b64(b"1\n")})
    assert r.status_code == 201
    assert [b["name"] for b in forge.alice.get(f"/repos/{repo}/branches").json()] == ["main"]
    assert forge.alice.get(f"/repos/{repo}").json()["empty"] is False


def test_an_archived_repository_refuses_every_write_with_423_and_still_reads(forge: Forge) -> None:
    repo = forge.new_repo(auto_init=True)
    number = forge.alice.post(f"/repos/{repo}/issues", json={"title": "before"}).json()["number"]
    assert forge.alice.patch(f"/repos/{repo}", json={"archived": True}).status_code == 200
    writes = [
        forge.alice.post(f"/repos/{repo}/issues", json={"title": "after"}),
        forge.alice.patch(f"/repos/{repo}/issues/{number}", json={"title": "x"}),
        forge.alice.post(f"/repos/{repo}/issues/{number}/comments", json={"body": "x"}),
        forge.alice.post(f"/repos/{repo}/issues/{number}/labels", json={"labels": []}),
        forge.alice.post(f"/repos/{repo}/contents/x.txt", json={"content": b64(b"x")}),
    ]
    for r in writes:
        assert_error(r, 423, forge, "repo is archived")
    assert forge.alice.get(f"/repos/{repo}/issues/{number}").status_code == 200


# -- §9.1 one number counter; separate id spaces ----------------------------------------------------------------------


def test_issues_and_pulls_share_one_number_counter(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    issue1 = forge.alice.post(f"/repos/{repo}/issues", json={"title": "first"}).json()
    pr = open_pr(forge, repo, "feature")
    issue3 = forge.alice.post(f"/repos/{repo}/issues", json={"title": "third"}).json()
    assert (issue1["number"], pr["number"], issue3["number"]) == (1, 2, 3)
    gitea_schema("Issue", issue1)
    gitea_schema("PullRequest", pr)
    as_issue = forge.alice.get(f"/repos/{repo}/issues/2").json()
    assert as_issue["pull_request"] is not None and as_issue["pull_request"]["merged"] is False
    assert as_issue["id"] != pr["id"]
    assert_error(forge.alice.get(f"/repos/{repo}/pulls/1"), 404, forge)
    every = [i["number"] for i in forge.alice.get(f"/repos/{repo}/issues").json()]
    assert every == [3, 2, 1]  # newest first, PRs included
    assert [i["number"] for i in forge.alice.get(f"/repos/{repo}/issues?type=issues").json()] == [3, 1]
    assert [i["number"] for i in forge.alice.get(f"/repos/{repo}/issues?type=pulls").json()] == [2]


# -- §9.3/§9.4 states and success codes -------------------------------------------------------------------------------


def test_patch_issue_answers_201_and_state_rules(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    forge.alice.post(f"/repos/{repo}/issues", json={"title": "t"})
    r = forge.alice.patch(f"/repos/{repo}/issues/1", json={"title": "renamed", "state": "closed"})
    assert r.status_code == 201
    gitea_schema("Issue", r.json())
    assert r.json()["state"] == "closed" and r.json()["title"] == "renamed"
    assert RFC3339.match(r.json()["closed_at"])
    assert_error(
        forge.alice.patch(f"/repos/{repo}/issues/1", json={"state": "done"}), 412, forge, "unknown state: done"
    )
    assert forge.alice.get(f"/repos/{repo}/issues").json() == []  # state defaults to open
    assert len(forge.alice.get(f"/repos/{repo}/issues?state=all").json()) == 1
    # neither poster nor writer: 403 without a body
    r = forge.carol.patch(f"/repos/{repo}/issues/1", json={"title": "mine"})
    assert r.status_code == 403 and r.content == b""


def test_assignees_must_be_writers(forge: Forge) -> None:
    repo = forge.new_repo()
    r = forge.alice.post(f"/repos/{repo}/issues", json={"title": "t", "assignees": ["carol"]})
    assert r.status_code == 422
    r = forge.alice.post(f"/repos/{repo}/issues", json={"title": "t", "assignees": ["nobody"]})
    assert r.status_code == 422 and r.json()["message"].startswith("Assignee does not exist")
    r = forge.alice.post(f"/repos/{repo}/issues", json={"title": "t", "assignees": ["bob"]})
    assert r.status_code == 201 and r.json()["assignee"]["login"] == "bob"
    r = forge.alice.patch(f"/repos/{repo}/issues/1", json={"assignees": []})
    assert r.status_code == 201 and r.json()["assignees"] is None
    # a reader's labels and assignees are silently ignored
    label = forge.alice.post(f"/repos/{repo}/labels", json={"name": "bug", "color": "ff0000"}).json()
    r = forge.carol.post(f"/repos/{repo}/issues", json={"title": "c", "labels": [label["id"]], "assignees": ["bob"]})
    assert r.status_code == 201 and r.json()["labels"] == [] and r.json()["assignees"] is None


# -- §9.2 labels ------------------------------------------------------------------------------------------------------


def test_label_colours_duplicates_and_list_headers(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    colours = {"#AbCdEf": "abcdef", "00ff00": "00ff00", "#f0a": "ff00aa"}
    for given, stored in colours.items():
        r = forge.alice.post(f"/repos/{repo}/labels", json={"name": "dup", "color": given})
        assert r.status_code == 201
        gitea_schema("Label", r.json())
        assert r.json()["color"] == stored
    assert_error(forge.alice.post(f"/repos/{repo}/labels", json={"name": "x", "color": "red"}), 422, forge)
    assert_error(forge.alice.post(f"/repos/{repo}/labels", json={"color": "fff"}), 422, forge, "[Name]: Required")
    r = forge.alice.get(f"/repos/{repo}/labels?limit=2")
    assert [label["name"] for label in r.json()] == ["dup", "dup"]  # duplicate names are allowed
    assert r.headers["X-Total-Count"] == "3" and "Link" not in r.headers


def test_issue_labels_by_ids_or_names_and_scoped_eviction(forge: Forge) -> None:
    repo = forge.new_repo()
    ids = {}
    for name, exclusive in (("status/todo", True), ("status/doing", True), ("kind/bug", False), ("prio", False)):
        ids[name] = forge.alice.post(
            f"/repos/{repo}/labels", json={"name": name, "color": "123456", "exclusive": exclusive}
        ).json()["id"]
    forge.alice.post(f"/repos/{repo}/issues", json={"title": "t"})
    r = forge.alice.post(
        f"/repos/{repo}/issues/1/labels", json={"labels": [ids["status/todo"], ids["kind/bug"], 99999]}
    )
    assert r.status_code == 200
    assert sorted(label["name"] for label in r.json()) == ["kind/bug", "status/todo"]
    r = forge.alice.post(f"/repos/{repo}/issues/1/labels", json={"labels": ["status/doing", "no-such-label"]})
    assert r.status_code == 200  # full list, the sibling in scope "status" evicted
    assert sorted(label["name"] for label in r.json()) == ["kind/bug", "status/doing"]
    assert_error(forge.alice.post(f"/repos/{repo}/issues/1/labels", json={"labels": ["prio", ids["prio"]]}), 400, forge)
    r = forge.alice.put(f"/repos/{repo}/issues/1/labels", json={"labels": ["prio"]})
    assert [label["name"] for label in r.json()] == ["prio"]
    assert_error(forge.alice.delete(f"/repos/{repo}/issues/1/labels/987654"), 422, forge)
    r = forge.carol.delete(f"/repos/{repo}/issues/1/labels/{ids['prio']}")
    assert r.status_code == 403 and r.content == b""
    assert forge.carol.post(f"/repos/{repo}/issues/1/labels", json={"labels": ["prio"]}).status_code == 403
    assert forge.alice.delete(f"/repos/{repo}/issues/1/labels/{ids['prio']}").status_code == 204
    assert forge.alice.delete(f"/repos/{repo}/issues/1/labels").status_code == 204


def test_issue_list_filters(forge: Forge) -> None:
    repo = forge.new_repo()
    a = forge.alice.post(f"/repos/{repo}/labels", json={"name": "a", "color": "111111"}).json()["id"]
    b = forge.alice.post(f"/repos/{repo}/labels", json={"name": "b", "color": "222222"}).json()["id"]
    forge.alice.post(f"/repos/{repo}/issues", json={"title": "1", "labels": [a]})
    forge.alice.post(f"/repos/{repo}/issues", json={"title": "2", "labels": [a, b], "assignees": ["bob"]})
    forge.bob.post(f"/repos/{repo}/issues", json={"title": "3"})

    def numbers(query: str) -> list[int]:
        r = forge.alice.get(f"/repos/{repo}/issues?{query}")
        assert r.status_code == 200, r.text
        return [i["number"] for i in r.json()]

    assert numbers("labels=a") == [2, 1]
    assert numbers("labels=a,b") == [2]  # AND
    assert numbers("labels=a,nope") == [2, 1]  # unknown names dropped
    assert numbers("labels=nope,zilch") == [3, 2, 1]  # all unknown: no filter at all
    assert numbers("assigned_by=bob") == [2]
    assert numbers("created_by=bob") == [3]
    assert forge.alice.get(f"/repos/{repo}/issues?created_by=ghost").status_code == 404
    assert_error(forge.alice.get(f"/repos/{repo}/issues?since=yesterday"), 422, forge)
    # PR list: labels are ids, repeated, OR; state omitted means every state
    pr = open_pr(forge, repo, "f1")
    forge.alice.patch(f"/repos/{repo}/pulls/{pr['number']}", json={"labels": [a]})
    pr2 = open_pr(forge, repo, "f2")
    forge.alice.patch(f"/repos/{repo}/pulls/{pr2['number']}", json={"labels": [b], "state": "closed"})
    r = forge.alice.get(f"/repos/{repo}/pulls?labels={a}&labels={b}")
    assert sorted(p["number"] for p in r.json()) == [pr["number"], pr2["number"]]
    assert [p["number"] for p in forge.alice.get(f"/repos/{repo}/pulls?state=open").json()] == [pr["number"]]
    assert forge.alice.get(f"/repos/{repo}/pulls?labels=x").status_code == 500


def test_pagination_defaults_clamp_and_link_header(forge: Forge) -> None:
    repo = forge.new_repo()
    for n in range(55):
        assert forge.alice.post(f"/repos/{repo}/issues", json={"title": f"i{n}"}).status_code == 201
    r = forge.alice.get(f"/repos/{repo}/issues")
    assert len(r.json()) == 30 and r.headers["X-Total-Count"] == "55"
    r = forge.alice.get(f"/repos/{repo}/issues?limit=100")
    assert len(r.json()) == 50  # silently clamped
    base = f"{forge.url}api/v1/repos/{repo}/issues"
    assert r.headers["Link"] == f'<{base}?limit=100&page=2>; rel="next",<{base}?limit=100&page=2>; rel="last"'
    r = forge.alice.get(f"/repos/{repo}/issues?limit=20&page=2&state=open")
    assert r.headers["Link"] == (
        f'<{base}?limit=20&page=3&state=open>; rel="next",<{base}?limit=20&page=3&state=open>; rel="last",'
        f'<{base}?limit=20&page=1&state=open>; rel="first",<{base}?limit=20&page=1&state=open>; rel="prev"'
    )
    assert [i["number"] for i in r.json()][:2] == [35, 34]
    # one issue's comments are not paginated
    for n in range(35):
        forge.bob.post(f"/repos/{repo}/issues/1/comments", json={"body": f"c{n}"})
    r = forge.alice.get(f"/repos/{repo}/issues/1/comments?limit=5")
    assert len(r.json()) == 35 and r.headers["X-Total-Count"] == "35" and "Link" not in r.headers
    assert r.json()[0]["body"] == "c0"  # oldest first


def test_updated_at_bumps_and_inclusive_since(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    label = forge.alice.post(f"/repos/{repo}/labels", json={"name": "l", "color": "abc"}).json()["id"]
    created = forge.alice.post(f"/repos/{repo}/issues", json={"title": "t"}).json()
    assert RFC3339.match(created["created_at"]) and created["created_at"] == created["updated_at"]

    def updated() -> str:
        return forge.alice.get(f"/repos/{repo}/issues/1").json()["updated_at"]

    last = updated()
    for action in (
        lambda: forge.bob.post(f"/repos/{repo}/issues/1/comments", json={"body": "hi"}),
        lambda: forge.alice.post(f"/repos/{repo}/issues/1/labels", json={"labels": [label]}),
        lambda: forge.alice.patch(f"/repos/{repo}/issues/1", json={"assignees": ["bob"]}),
        lambda: forge.alice.patch(f"/repos/{repo}/issues/1", json={"state": "closed"}),
    ):
        forge.clock.advance(60)
        assert action().status_code in (200, 201)
        now = updated()
        assert now > last
        last = now
    comment = forge.alice.get(f"/repos/{repo}/issues/1/comments").json()[0]
    gitea_schema("Comment", comment)
    # since is inclusive: an issue updated exactly at `since` is returned
    r = forge.alice.get(f"/repos/{repo}/issues", params={"state": "all", "since": last})
    assert [i["number"] for i in r.json()] == [1]
    later = last.replace("Z", "+00:00")
    r = forge.alice.get(f"/repos/{repo}/issues", params={"state": "all", "since": later, "before": later})
    assert [i["number"] for i in r.json()] == [1]


# -- §9.6 contents ----------------------------------------------------------------------------------------------------


def test_contents_cas_with_real_blob_shas(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    data = b"lease: alice\n" + b"x" * 200  # long enough that a line-wrapping encoder would break it
    r = forge.alice.post(f"/repos/{repo}/contents/state/lease.yaml", json={"content": b64(data), "message": "take"})
    assert r.status_code == 201
    gitea_schema("FileResponse", r.json())
    sha = r.json()["content"]["sha"]
    assert sha == git_hash_object(data)
    got = forge.alice.get(f"/repos/{repo}/contents/state/lease.yaml").json()
    gitea_schema("ContentsResponse", got)
    assert "\n" not in got["content"] and base64.b64decode(got["content"]) == data
    assert got["last_commit_sha"] == r.json()["commit"]["sha"]
    assert_error(
        forge.alice.post(f"/repos/{repo}/contents/state/lease.yaml", json={"content": b64(b"y")}),
        422,
        forge,
        "repository file already exists [path: state/lease.yaml]",
    )
    stale = "0" * 40
    r = forge.bob.put(f"/repos/{repo}/contents/state/lease.yaml", json={"content": b64(b"bob"), "sha": stale})
    assert_error(r, 422, forge, f"sha does not match [given: {stale}, expected: {sha}]")
    r = forge.bob.put(f"/repos/{repo}/contents/state/lease.yaml", json={"content": b64(b"bob\n"), "sha": sha})
    assert r.status_code == 200 and r.json()["content"]["sha"] == git_hash_object(b"bob\n")
    new_sha = r.json()["content"]["sha"]
    r = forge.alice.put(f"/repos/{repo}/contents/other.txt", json={"content": b64(b"o")})
    assert r.status_code == 201  # PUT without sha creates (1.26+)
    assert forge.alice.get(f"/repos/{repo}/contents/missing.txt").status_code == 404
    assert forge.alice.get(f"/repos/{repo}/contents/state/lease.yaml?ref=nope").status_code == 404
    r = forge.alice.put(f"/repos/{repo}/contents/gone.txt", json={"content": b64(b"x"), "sha": new_sha})
    assert r.status_code == 404
    r = forge.alice.post(f"/repos/{repo}/contents/x.txt", json={"content": b64(b"x"), "branch": "nope"})
    assert_error(r, 404, forge)
    r = forge.alice.delete(f"/repos/{repo}/contents/state/lease.yaml", json={"sha": new_sha})
    assert r.status_code == 200 and r.json()["content"] is None
    gitea_schema("FileDeleteResponse", r.json())
    assert forge.carol.post(f"/repos/{repo}/contents/c.txt", json={"content": b64(b"c")}).status_code == 403


def test_contents_lost_race_fault_injection(forge: Forge) -> None:
    repo = forge.new_repo()
    forge.faults.contents_lost_race = 1
    r = forge.alice.post(f"/repos/{repo}/contents/a.txt", json={"content": b64(b"a")})
    assert_error(r, 500, forge, "")
    assert forge.alice.get(f"/repos/{repo}/contents/a.txt").status_code == 404  # nothing was committed
    assert forge.alice.post(f"/repos/{repo}/contents/a.txt", json={"content": b64(b"a")}).status_code == 201


# -- §9.7 reviews and merges ------------------------------------------------------------------------------------------


def test_review_rules(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    pr = open_pr(forge, repo, "feat")
    path = f"/repos/{repo}/pulls/{pr['number']}/reviews"
    assert_error(forge.alice.post(path, json={"event": "APPROVED"}), 422, forge, "approve your own pull is not allowed")
    r = forge.bob.post(path, json={"event": "REQUEST_CHANGES"})
    assert_error(r, 422, forge, "review event REQUEST_CHANGES requires a body")
    r = forge.bob.post(path, json={"event": "SHIP_IT", "body": "draft"})
    assert r.status_code == 200 and r.json()["state"] == "PENDING"
    r = forge.bob.post(path, json={"event": "APPROVED", "body": "lgtm"})
    assert r.status_code == 200  # not 201
    gitea_schema("PullReview", r.json())
    review = r.json()
    assert review["state"] == "APPROVED" and review["official"] is True and review["stale"] is False
    assert review["commit_id"] == pr["head"]["sha"]
    r = forge.carol.post(path, json={"event": "APPROVED"})
    assert r.status_code == 200 and r.json()["official"] is False  # a reader's approval does not count
    # a new head makes the approval stale
    head = forge.alice.get(f"/repos/{repo}/contents/feat.txt?ref=feat").json()["sha"]
    r = forge.alice.put(f"/repos/{repo}/contents/feat.txt", json={"content": b64(b"v2"), "sha": head, "branch": "feat"})
    assert r.status_code == 200
    reviews = {rv["id"]: rv for rv in forge.alice.get(path).json()}
    assert reviews[review["id"]]["stale"] is True
    assert forge.alice.get(f"/repos/{repo}/pulls/{pr['number']}").json()["head"]["sha"] == r.json()["commit"]["sha"]


def test_merge_gates_and_merge(forge: Forge) -> None:
    repo = forge.new_repo()
    issue = forge.alice.post(f"/repos/{repo}/issues", json={"title": "bug"}).json()
    pr = open_pr(forge, repo, "fix", title="Fix the bug", body=f"Closes #{issue['number']}")
    n = pr["number"]
    r = forge.alice.post(
        f"/repos/{repo}/branch_protections",
        json={"rule_name": "main", "required_approvals": 1, "enable_status_check": True,
              "status_check_contexts": ["ci/*"]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    merge = f"/repos/{repo}/pulls/{n}/merge"
    head = pr["head"]["sha"]
    assert_error(forge.alice.post(merge, json={"Do": "merge"}), 405, forge, "Not all required status checks successful")
    assert (
        forge.alice.post(f"/repos/{repo}/statuses/{head}", json={"state": "success", "context": "ci/tests"}).status_code
        == 201
    )
    assert_error(forge.alice.post(merge, json={"do": "merge"}), 405, forge, "Does not have enough approvals")
    forge.bob.post(f"/repos/{repo}/pulls/{n}/reviews", json={"event": "APPROVED"})
    assert forge.carol.post(merge, json={"Do": "merge"}).status_code == 405  # readers may not merge
    assert_error(
        forge.alice.post(merge, json={"Do": "merge", "head_commit_id": "1" * 40}), 409, forge, "head out of date"
    )
    assert forge.alice.get(merge).status_code == 404
    r = forge.alice.post(merge, json={"Do": "merge", "merge_title_field": "Merged!", "head_commit_id": head})
    assert r.status_code == 200 and r.content == b""
    assert forge.alice.get(merge).status_code == 204
    got = forge.alice.get(f"/repos/{repo}/pulls/{n}").json()
    assert got["state"] == "closed" and got["merged"] is True and got["merged_by"]["login"] == "alice"
    assert RFC3339.match(got["merged_at"]) and len(got["merge_commit_sha"]) == 40
    main = forge.alice.get(f"/repos/{repo}/branches/main").json()["commit"]
    assert main["id"] == got["merge_commit_sha"] and main["message"].startswith("Merged!")
    assert forge.alice.get(f"/repos/{repo}/issues/{issue['number']}").json()["state"] == "closed"
    assert_error(forge.alice.post(merge, json={"Do": "merge"}), 405, forge, "The PR is already merged")
    assert_error(forge.alice.patch(f"/repos/{repo}/pulls/{n}", json={"state": "open"}), 412, forge)


def test_merge_refuses_wip_and_stale_approvals(forge: Forge) -> None:
    repo = forge.new_repo()
    pr = open_pr(forge, repo, "wip", title="WIP: not yet")
    assert_error(
        forge.alice.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "merge"}),
        405,
        forge,
        "Work in progress PRs cannot be merged",
    )
    pr = open_pr(forge, repo, "stale")
    forge.alice.post(
        f"/repos/{repo}/branch_protections",
        json={"rule_name": "main", "required_approvals": 1, "ignore_stale_approvals": True},
    )
    forge.bob.post(f"/repos/{repo}/pulls/{pr['number']}/reviews", json={"event": "APPROVED"})
    sha = forge.alice.get(f"/repos/{repo}/contents/stale.txt?ref=stale").json()["sha"]
    forge.alice.put(f"/repos/{repo}/contents/stale.txt", json={"content": b64(b"2"), "sha": sha, "branch": "stale"})
    assert_error(
        forge.alice.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "squash"}),
        405,
        forge,
        "Does not have enough approvals",
    )
    forge.bob.post(f"/repos/{repo}/pulls/{pr['number']}/reviews", json={"event": "APPROVED"})
    r = forge.alice.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "squash"})
    assert r.status_code == 200
    squashed = forge.alice.get(f"/repos/{repo}/branches/main").json()["commit"]
    assert squashed["message"].startswith("A change (#")


def test_existing_pull_and_same_branch_are_refused(forge: Forge) -> None:
    repo = forge.new_repo()
    pr = open_pr(forge, repo, "dup")
    r = forge.alice.post(f"/repos/{repo}/pulls", json={"head": "dup", "base": "main", "title": "again"})
    assert r.status_code == 409 and f"issue_id: {pr['number']}" in r.json()["message"]
    r = forge.alice.post(f"/repos/{repo}/pulls", json={"head": "main", "base": "main", "title": "same"})
    assert r.status_code == 422
    assert forge.alice.get(f"/repos/{repo}/pulls/main/dup").json()["number"] == pr["number"]


# -- §9.12 commit statuses --------------------------------------------------------------------------------------------


def test_commit_statuses_and_combined_state(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    sha = forge.alice.get(f"/repos/{repo}/branches/main").json()["commit"]["id"]
    combined = forge.alice.get(f"/repos/{repo}/commits/main/status").json()
    assert combined["state"] == "pending" and combined["total_count"] == 0  # zero statuses
    r = forge.alice.post(f"/repos/{repo}/statuses/{sha}", json={"state": "success", "context": "a"})
    assert r.status_code == 201 and r.json()["status"] == "success" and "state" not in r.json()
    gitea_schema("CommitStatus", r.json())
    assert forge.alice.get(f"/repos/{repo}/commits/{sha}/status").json()["state"] == "success"
    forge.alice.post(f"/repos/{repo}/statuses/{sha}", json={"state": "pending", "context": "b"})
    assert forge.alice.get(f"/repos/{repo}/commits/main/status").json()["state"] == "pending"
    forge.alice.post(f"/repos/{repo}/statuses/{sha}", json={"state": "failure", "context": "c"})
    combined = forge.alice.get(f"/repos/{repo}/commits/main/status").json()
    gitea_schema("CombinedStatus", combined)
    assert combined["state"] == "failure" and combined["total_count"] == 3
    forge.alice.post(f"/repos/{repo}/statuses/{sha}", json={"state": "success", "context": "c"})
    combined = forge.alice.get(f"/repos/{repo}/commits/main/status").json()
    assert combined["state"] == "pending" and combined["total_count"] == 3  # latest per context
    history = forge.alice.get(f"/repos/{repo}/statuses/{sha}")
    assert history.headers["X-Total-Count"] == "4"
    assert forge.alice.post(f"/repos/{repo}/statuses/{'e' * 40}", json={"state": "success"}).status_code == 500
    assert forge.carol.post(f"/repos/{repo}/statuses/{sha}", json={"state": "success"}).status_code == 403


# -- §9.10 webhooks ---------------------------------------------------------------------------------------------------


def test_hook_defaults_and_validation(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    path = f"/repos/{repo}/hooks"
    r = forge.alice.post(path, json={"type": "gitea", "config": {"url": "http://127.0.0.1:9/h", "content_type": "json",
                                                                 "secret": "s"}})  # fmt: skip
    assert r.status_code == 201
    gitea_schema("Hook", r.json())
    assert r.json()["active"] is False and r.json()["events"] == ["push"]
    assert "secret" not in r.json()["config"]
    cases = {
        "Missing config option: url": {"type": "gitea", "config": {"content_type": "json"}},
        "Missing config option: content_type": {"type": "gitea", "config": {"url": "http://x.test/"}},
        "Invalid content type": {"type": "gitea", "config": {"url": "http://x.test/", "content_type": "xml"}},
        "Invalid hook type: nope": {"type": "nope", "config": {"url": "http://x.test/", "content_type": "json"}},
        "Invalid url": {"type": "gitea", "config": {"url": "not a url", "content_type": "json"}},
    }
    for message, body in cases.items():
        assert_error(forge.alice.post(path, json=body), 422, forge, message)
    r = forge.alice.post(path, json={"type": "gitea", "events": ["issues"], "active": True,
                                     "config": {"url": "http://x.test/", "content_type": "form"}})  # fmt: skip
    assert "issue_comment" in r.json()["events"] and "issue_label" in r.json()["events"]
    listed = forge.alice.get(path)
    assert listed.headers["X-Total-Count"] == "2" and "Link" not in listed.headers
    assert forge.bob.get(path).status_code == 403
    assert forge.alice.delete(f"{path}/{r.json()['id']}").status_code == 204


def test_webhook_deliveries_for_issue_comment_review(forge: Forge) -> None:
    repo = forge.new_repo()
    with LoopbackServer() as receiver:
        receiver.route("POST", "/hook", text_reply("ok"))
        events = ["issues", "issue_comment", "pull_request", "pull_request_review", "status"]
        r = forge.alice.post(f"/repos/{repo}/hooks", json={
            "type": "gitea", "active": True, "events": events,
            "config": {"url": receiver.url + "/hook", "content_type": "json", "secret": "s3"},
        })  # fmt: skip
        hook_id = r.json()["id"]
        label = forge.alice.post(f"/repos/{repo}/labels", json={"name": "l", "color": "fff"}).json()["id"]
        forge.alice.post(f"/repos/{repo}/issues", json={"title": "hooked"})
        forge.alice.post(f"/repos/{repo}/issues/1/labels", json={"labels": [label]})
        forge.bob.post(f"/repos/{repo}/issues/1/comments", json={"body": "on the issue"})
        pr = open_pr(forge, repo, "hooks")
        forge.bob.post(f"/repos/{repo}/issues/{pr['number']}/comments", json={"body": "on the PR"})
        forge.bob.post(f"/repos/{repo}/pulls/{pr['number']}/reviews", json={"event": "APPROVED", "body": "yes"})
        assert forge.server.forge.deliverer is not None
        assert forge.server.forge.deliverer.wait_idle(10)
        seen = [(d["event"], d["event_type"], d["payload"].get("action")) for d in
                forge.server.forge.deliverer.deliveries(hook_id)]  # fmt: skip
        assert seen == [
            ("issues", "issues", "opened"),
            ("issues", "issue_label", "label_updated"),
            ("issue_comment", "issue_comment", "created"),
            ("pull_request", "pull_request", "opened"),
            ("issue_comment", "pull_request_comment", "created"),
            ("pull_request_approved", "pull_request_review_approved", "reviewed"),
        ]
        assert all(d["status_code"] == 200 for d in forge.server.forge.deliverer.deliveries(hook_id))
        requests = list(receiver.requests_to("POST", "/hook"))
        assert len(requests) == 6
        for req in requests:
            expected = hmac.new(b"s3", req.body, hashlib.sha256).hexdigest()
            assert req.headers["x-gitea-signature"] == expected
            assert req.headers["x-hub-signature-256"] == f"sha256={expected}"
            assert req.headers["content-type"] == "application/json"
            assert req.headers["x-gitea-delivery"] == req.headers["x-github-delivery"]
            assert req.headers["x-gogs-event"] == req.headers["x-gitea-event"]
        opened = requests[0].json()
        assert set(opened) >= {"action", "number", "issue", "repository", "sender"}
        comment = requests[4].json()
        assert comment["is_pull"] is True and "pull_request" in comment and "number" not in comment
        review = requests[5].json()
        assert review["review"] == {"type": "pull_request_review_approved", "content": "yes"}
        assert review["pull_request"]["number"] == pr["number"] and review["sender"]["login"] == "bob"


def test_webhook_is_tried_once_with_empty_signature_without_secret(forge: Forge) -> None:
    repo = forge.new_repo()
    with LoopbackServer() as receiver:
        receiver.route("POST", "/down", text_reply("no", status=503))
        r = forge.alice.post(f"/repos/{repo}/hooks", json={
            "type": "gitea", "active": True, "events": ["issues"],
            "config": {"url": receiver.url + "/down", "content_type": "json"},
        })  # fmt: skip
        forge.alice.post(f"/repos/{repo}/issues", json={"title": "x"})
        deliverer = forge.server.forge.deliverer
        assert deliverer is not None and deliverer.wait_idle(10)
        time.sleep(0.2)
        assert len(receiver.requests) == 1  # no retry
        assert receiver.requests[0].headers["x-gitea-signature"] == ""
        assert deliverer.deliveries(r.json()["id"])[0]["status_code"] == 503


def test_branch_endpoints_and_protection_crud(forge: Forge, gitea_schema) -> None:
    repo = forge.new_repo()
    r = forge.alice.post(f"/repos/{repo}/branches", json={"new_branch_name": "feature/x"})
    assert r.status_code == 201
    gitea_schema("Branch", r.json())
    assert forge.alice.get(f"/repos/{repo}/branches/feature/x").json()["name"] == "feature/x"
    assert_error(forge.alice.post(f"/repos/{repo}/branches", json={"new_branch_name": "feature/x"}), 409, forge)
    r = forge.alice.post(f"/repos/{repo}/branches", json={"new_branch_name": "y", "old_ref_name": "nope"})
    assert_error(r, 404, forge, "The old branch does not exist")
    listed = forge.alice.get(f"/repos/{repo}/branches?limit=1")
    assert listed.headers["X-Total-Count"] == "2" and 'rel="next"' in listed.headers["Link"]
    r = forge.alice.post(f"/repos/{repo}/branch_protections", json={"rule_name": "main", "required_approvals": 2})
    assert r.status_code == 201
    gitea_schema("BranchProtection", r.json())
    r = forge.alice.patch(f"/repos/{repo}/branch_protections/main", json={"enable_push": True})
    assert r.json()["enable_push"] is True and r.json()["required_approvals"] == 2
    branch = forge.alice.get(f"/repos/{repo}/branches/main").json()
    assert branch["protected"] is True and branch["required_approvals"] == 2
    assert forge.alice.delete(f"/repos/{repo}/branches/main").status_code == 403
    assert forge.alice.delete(f"/repos/{repo}/branch_protections/main").status_code == 204
    assert forge.alice.get(f"/repos/{repo}/branch_protections/main").status_code == 404
    assert forge.alice.delete(f"/repos/{repo}/branches/feature/x").status_code == 204


def test_protected_branch_refuses_direct_contents_writes(forge: Forge) -> None:
    repo = forge.new_repo()
    forge.alice.post(f"/repos/{repo}/branch_protections", json={"rule_name": "main"})
    r = forge.alice.post(f"/repos/{repo}/contents/x.txt", json={"content": b64(b"x")})
    assert r.status_code == 403
    r = forge.alice.post(f"/repos/{repo}/contents/x.txt", json={"content": b64(b"x"), "new_branch": "side"})
    assert r.status_code == 201


@pytest.mark.parametrize("path", ["/nope", "/repos/a/b/c/d/e"])
def test_unknown_routes_are_gitea_404s(forge: Forge, path: str) -> None:
    assert_error(forge.alice.get(path), 404, forge)


def test_admin_credentials_follow_the_configuration(forge: Forge) -> None:
    r = httpx.get(f"{forge.server.api}/user", auth=ADMIN)
    assert r.status_code == 200 and r.json()["is_admin"] is True


def test_mergeable_is_false_while_the_conflict_check_runs(forge: Forge) -> None:
    repo = forge.new_repo()
    forge.faults.mergeable_delay = 30
    try:
        pr = open_pr(forge, repo, "slow")
        assert pr["mergeable"] is False
        r = forge.alice.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "fast-forward-only"})
        assert_error(r, 405, forge, "Please try again later")
        forge.clock.advance(31)
        assert forge.alice.get(f"/repos/{repo}/pulls/{pr['number']}").json()["mergeable"] is True
        r = forge.alice.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "fast-forward-only"})
        assert r.status_code == 200
        merged = forge.alice.get(f"/repos/{repo}/pulls/{pr['number']}").json()
        assert merged["merge_commit_sha"] == merged["head"]["sha"]  # fast-forward: no merge commit
        assert forge.alice.get(f"/repos/{repo}/branches/main").json()["commit"]["id"] == merged["head"]["sha"]
    finally:
        forge.faults.mergeable_delay = 0


def test_conflicting_pull_is_not_mergeable(forge: Forge) -> None:
    repo = forge.new_repo()
    pr = open_pr(forge, repo, "clash")
    sha = forge.alice.get(f"/repos/{repo}/contents/clash.txt?ref=clash").json()["sha"]
    assert forge.alice.get(f"/repos/{repo}/pulls/{pr['number']}").json()["mergeable"] is True
    r = forge.alice.post(f"/repos/{repo}/contents/clash.txt", json={"content": b64(b"main side\n")})
    assert r.status_code == 201 and sha
    assert forge.alice.get(f"/repos/{repo}/pulls/{pr['number']}").json()["mergeable"] is False
    r = forge.alice.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "merge"})
    assert_error(r, 405, forge, "Please try again later")


def test_approvals_whitelist_decides_official(forge: Forge) -> None:
    repo = forge.new_repo()
    r = forge.alice.post(
        f"/repos/{repo}/branch_protections",
        json={"rule_name": "main", "required_approvals": 1, "enable_approvals_whitelist": True,
              "approvals_whitelist_username": ["root"]},
    )  # fmt: skip
    assert r.status_code == 201
    pr = open_pr(forge, repo, "wl")
    review = forge.bob.post(f"/repos/{repo}/pulls/{pr['number']}/reviews", json={"event": "APPROVED"}).json()
    assert review["official"] is False
    merge = f"/repos/{repo}/pulls/{pr['number']}/merge"
    assert_error(forge.alice.post(merge, json={"Do": "merge"}), 405, forge, "Does not have enough approvals")
    review = forge.root.post(f"/repos/{repo}/pulls/{pr['number']}/reviews", json={"event": "APPROVED"}).json()
    assert review["official"] is True
    assert forge.alice.post(merge, json={"Do": "merge"}).status_code == 200


def test_state_survives_a_restart(tmp_path) -> None:
    from uni_wizard.devforge import DevforgeServer

    with DevforgeServer(tmp_path, ADMIN) as first:
        r = httpx.post(f"{first.api}/user/repos", auth=ADMIN, json={"name": "keep", "auto_init": True})
        assert r.status_code == 201
        httpx.post(f"{first.api}/repos/root/keep/issues", auth=ADMIN, json={"title": "persisted"})
    assert (tmp_path / "devforge.db").exists() and (tmp_path / "repositories" / "root" / "keep.git").is_dir()
    with DevforgeServer(tmp_path, ADMIN) as second:
        issues = httpx.get(f"{second.api}/repos/root/keep/issues", auth=ADMIN).json()
        assert [i["title"] for i in issues] == ["persisted"]
        assert httpx.get(f"{second.api}/repos/root/keep/branches/main", auth=ADMIN).status_code == 200
