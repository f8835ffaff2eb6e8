"""Git over smart HTTP against the devforge: clone, commit, push with a token, and what a push sets off
(branches API, PR head, stale reviews, ``push`` and ``pull_request_sync`` webhooks with a correct HMAC)."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest_devforge import Forge, forge_fixture  # noqa: F401
from loopback_http import LoopbackServer, text_reply

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="git is not installed"
)


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd or Path.cwd()),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Alice",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc


def remote(forge: Forge, login: str, secret: str, repo: str) -> str:
    return f"http://{login}:{secret}@127.0.0.1:{forge.server.port}/{repo}.git"


def commit_file(work: Path, name: str, text: str, message: str) -> str:
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def test_clone_commit_push_with_token(forge: Forge, tmp_path: Path) -> None:
    repo = forge.new_repo()
    work = tmp_path / "work"
    git("clone", "-q", remote(forge, "alice", forge.alice.token, repo), str(work))
    assert (work / "README.md").exists()
    head = commit_file(work, "notes.txt", "hello\n", "Add notes")
    git("push", "-q", "origin", "HEAD:refs/heads/topic", cwd=work)
    branch = forge.alice.get(f"/repos/{repo}/branches/topic").json()
    assert branch["commit"]["id"] == head and branch["commit"]["message"] == "Add notes\n"
    got = forge.alice.get(f"/repos/{repo}/contents/notes.txt?ref=topic").json()
    assert got["sha"] == git("rev-parse", "HEAD:notes.txt", cwd=work).stdout.strip()
    # the password works as well as a token
    git("push", "-q", remote(forge, "alice", forge.alice.password, repo), "HEAD:refs/heads/topic2", cwd=work)
    assert forge.alice.get(f"/repos/{repo}/branches/topic2").status_code == 200


def test_push_moves_pr_head_marks_reviews_stale_and_fires_sync(forge: Forge, tmp_path: Path) -> None:
    repo = forge.new_repo()
    with LoopbackServer() as receiver:
        receiver.route("POST", "/hook", text_reply("ok"))
        r = forge.alice.post(f"/repos/{repo}/hooks", json={
            "type": "gitea", "active": True, "events": ["push", "pull_request", "pull_request_review"],
            "config": {"url": receiver.url + "/hook", "content_type": "json", "secret": "hush"},
        })  # fmt: skip
        assert r.status_code == 201
        work = tmp_path / "work"
        git("clone", "-q", remote(forge, "alice", forge.alice.token, repo), str(work))
        first = commit_file(work, "a.txt", "1\n", "first")
        git("push", "-q", "origin", "HEAD:refs/heads/feature", cwd=work)
        pr = forge.alice.post(
            f"/repos/{repo}/pulls", json={"head": "feature", "base": "main", "title": "Feature"}
        ).json()
        assert pr["head"]["sha"] == first
        review = forge.bob.post(f"/repos/{repo}/pulls/{pr['number']}/reviews", json={"event": "APPROVED"}).json()
        assert review["stale"] is False

        second = commit_file(work, "a.txt", "2\n", "second")
        git("push", "-q", "origin", "HEAD:refs/heads/feature", cwd=work)
        got = forge.alice.get(f"/repos/{repo}/pulls/{pr['number']}").json()
        assert got["head"]["sha"] == second  # updated before the push returned
        reviews = forge.alice.get(f"/repos/{repo}/pulls/{pr['number']}/reviews").json()
        assert [rv["stale"] for rv in reviews] == [True]

        deliverer = forge.server.forge.deliverer
        assert deliverer is not None and deliverer.wait_idle(10)
        kinds = [(req.headers["x-gitea-event"], req.headers["x-gitea-event-type"]) for req in receiver.requests]
        assert kinds == [
            ("push", "push"),
            ("pull_request", "pull_request"),
            ("pull_request_approved", "pull_request_review_approved"),
            ("push", "push"),
            ("pull_request", "pull_request_sync"),
        ]
        for req in receiver.requests:
            expected = hmac.new(b"hush", req.body, hashlib.sha256).hexdigest()
            assert req.headers["x-gitea-signature"] == expected
        sync = receiver.requests[-1].json()
        assert sync["action"] == "synchronized" and sync["number"] == pr["number"]
        assert sync["pull_request"]["head"]["sha"] == second
        push = receiver.requests[3].json()
        assert push["ref"] == "refs/heads/feature" and (push["before"], push["after"]) == (first, second)
        assert [c["id"] for c in push["commits"]] == [second] and push["pusher"]["login"] == "alice"


def test_smart_http_auth_rules(forge: Forge, tmp_path: Path) -> None:
    public = forge.new_repo()
    private = forge.new_repo(private=True)
    base = forge.url
    r = httpx.get(f"{base}{public}.git/info/refs", params={"service": "git-upload-pack"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    for repo, service in ((private, "git-upload-pack"), (public, "git-receive-pack")):
        r = httpx.get(f"{base}{repo}.git/info/refs", params={"service": service})
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="Gitea"'
    r = httpx.get(f"{base}{private}.git/info/refs", params={"service": "git-upload-pack"}, auth=("alice", "bad"))
    assert r.status_code == 401
    # anonymous clone of a public repository works; of a private one it does not
    git("clone", "-q", f"{base}{public}.git", str(tmp_path / "pub"))
    failed = git("clone", "-q", f"{base}{private}.git", str(tmp_path / "priv"), check=False)
    assert failed.returncode != 0
    # a reader may clone but not push
    work = tmp_path / "carol"
    git("clone", "-q", remote(forge, "carol", forge.carol.token, private), str(work))
    commit_file(work, "c.txt", "c\n", "carol's")
    refused = git("push", "-q", "origin", "HEAD:refs/heads/carol", cwd=work, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr


def test_protected_branch_refuses_pushes(forge: Forge, tmp_path: Path) -> None:
    repo = forge.new_repo()
    assert forge.alice.post(f"/repos/{repo}/branch_protections", json={"rule_name": "main"}).status_code == 201
    work = tmp_path / "work"
    git("clone", "-q", remote(forge, "alice", forge.alice.token, repo), str(work))
    before = forge.alice.get(f"/repos/{repo}/branches/main").json()["commit"]["id"]
    commit_file(work, "x.txt", "x\n", "direct")
    refused = git("push", "origin", "HEAD:refs/heads/main", cwd=work, check=False)
    assert refused.returncode != 0 and "protected branch" in refused.stderr
    assert forge.alice.get(f"/repos/{repo}/branches/main").json()["commit"]["id"] == before
    git("push", "-q", "origin", "HEAD:refs/heads/other", cwd=work)  # other branches are not protected


def test_first_push_into_an_empty_repository(forge: Forge, tmp_path: Path) -> None:
    repo = forge.new_repo(auto_init=False)
    work = tmp_path / "fresh"
    work.mkdir()
    git("init", "-q", "-b", "trunk", cwd=work)
    commit_file(work, "a.txt", "a\n", "start")
    git("push", "-q", remote(forge, "alice", forge.alice.token, repo), "trunk", cwd=work)
    info = forge.alice.get(f"/repos/{repo}").json()
    assert info["empty"] is False and info["default_branch"] == "trunk"
    assert [b["name"] for b in forge.alice.get(f"/repos/{repo}/branches").json()] == ["trunk"]
