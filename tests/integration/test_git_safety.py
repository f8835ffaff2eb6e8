"""git that a repository cannot turn against the Harness (``tools/git_safety.py``), with real git.

Each attack is planted in a real clone and first fired with plain git (the control: the marker file
appears, so the reproduction is live); then every git tool is run on the same clone and the marker must
not appear. The layers are also tested one by one: the ``-c`` overrides alone (the config check
bypassed) and the fixed environment alone (transports).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback_http import LoopbackServer, Reply

from uni_wizard.errors import GitRefused, ToolExecutionError
from uni_wizard.harness.result import Status
from uni_wizard.testing import make_harness
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.git import (
    git_branch_list,
    git_checkout,
    git_commit,
    git_diff,
    git_log,
    git_pull,
    git_push,
    git_status,
)
from uni_wizard.tools.git_safety import ForgeAuth, allowed_key, git_argv, git_env, on_forge, run_git

FORGE = "http://127.0.0.1:9/"  # nothing listens there: no attack below may need the network
ENV = ToolEnv(gitea_url=FORGE, gitea_token="t0ken-never-sent")


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The controls run plain git: keep the user's and the system's config out of them."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def git(repo: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=check, timeout=60)
    return done.stdout.strip()


def fire(repo: Path, *args: str) -> None:
    """The control: plain git as the daemon ran it before (inherited environment, no overrides)."""
    subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=60)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A working tree with one commit of ``a.txt`` and an ``origin`` on the (unreachable) forge."""
    repo = tmp_path / "clone"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test Wizard")
    git(repo, "config", "user.email", "wizard@example.org")
    (repo / "a.txt").write_text("one\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "remote", "add", "origin", f"{FORGE}alice/clone.git")
    return repo


def append_config(repo: Path, text: str) -> None:
    """What a file tool could do: append to ``.git/config`` by hand."""
    with (repo / ".git" / "config").open("a", encoding="utf-8") as fh:
        fh.write(text)


ToolCall = Callable[[str], Coroutine[Any, Any, Any]]
EVERY_TOOL: list[tuple[str, ToolCall]] = [
    ("git_status", lambda r: git_status(repo_path=r)),
    ("git_log", lambda r: git_log(repo_path=r)),
    ("git_diff", lambda r: git_diff(repo_path=r)),
    ("git_branch_list", lambda r: git_branch_list(repo_path=r)),
    ("git_checkout", lambda r: git_checkout(repo_path=r, branch="topic", create=True)),
    ("git_commit", lambda r: git_commit(repo_path=r, message="m", add_all=True)),
    ("git_pull", lambda r: git_pull(repo_path=r, env=ENV, branch="main")),
    ("git_push", lambda r: git_push(repo_path=r, env=ENV, branch="main")),
]


REMOTE_TOOLS = [call for name, call in EVERY_TOOL if name in ("git_pull", "git_push")]


# -- the exact reproduction ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "call"), EVERY_TOOL, ids=[n for n, _ in EVERY_TOOL])
async def test_fsmonitor_in_the_clone_config_runs_nothing(clone: Path, marker: Path, name: str, call: ToolCall) -> None:
    append_config(clone, f'[core]\n\tfsmonitor = "id > {marker}; false"\n')
    (clone / "a.txt").write_text("changed\n")
    fire(clone, "status")
    assert marker.exists(), "the control did not fire: the reproduction is not live"
    marker.unlink()

    with pytest.raises(GitRefused) as info:
        await call(str(clone))
    assert not marker.exists()
    message = str(info.value)
    assert "\n" not in message and str(clone) in message and "core.fsmonitor" in message
    assert "id >" not in message  # the value is never shown
    assert (info.value.repository, info.value.key) == (str(clone), "core.fsmonitor")


async def test_through_the_harness_the_call_ends_in_a_clear_error(tmp_path: Path, marker: Path) -> None:
    """The finding as reported: a house's Harness runs git_status on a clone whose config was appended to."""
    harness = make_harness(tmp_path, "bezalel")
    repo = harness.runtime.settings.workspace / "clone"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    append_config(repo, f'[core]\n\tfsmonitor = "id > {marker}; false"\n')
    try:
        result = await harness.aexecute("git_status", repo_path=str(repo))
    finally:
        harness.runtime.close()
    assert (result.status, result.error_type) == (Status.ERROR, "GitRefused")
    assert "core.fsmonitor" in (result.error or "")
    assert not marker.exists()


# -- the same for every way a repository can name a program ----------------------------------------------


@dataclass(frozen=True)
class Attack:
    name: str
    plant: Callable[[Path, Path], None]  # (clone, marker)
    control: tuple[str, ...]  # plain git that fires it
    key: str  # what the refusal names


def _textconv(repo: Path, marker: Path) -> None:
    (repo / ".gitattributes").write_text("*.txt diff=conv\n")
    append_config(repo, f'[diff "conv"]\n\ttextconv = "touch {marker}; cat"\n')
    (repo / "a.txt").write_text("changed\n")


def _filter(repo: Path, marker: Path) -> None:
    (repo / ".gitattributes").write_text("*.txt filter=f\n")
    append_config(repo, f'[filter "f"]\n\tclean = "touch {marker}; cat"\n\tsmudge = "touch {marker}; cat"\n')
    (repo / "b.txt").write_text("new\n")


def _ssh(repo: Path, marker: Path) -> None:
    git(repo, "remote", "set-url", "origin", "ssh://git@example.invalid/alice/clone.git")
    append_config(repo, f'[core]\n\tsshCommand = "touch {marker}; false"\n')


def _upload_pack(repo: Path, marker: Path) -> None:
    git(repo, "remote", "set-url", "origin", str(repo))
    append_config(repo, f'[remote "origin"]\n\tuploadpack = "touch {marker}; false"\n')


def _insteadof(repo: Path, marker: Path) -> None:
    append_config(
        repo,
        f'[protocol "ext"]\n\tallow = always\n[url "ext::sh -c touch% {marker}"]\n\tinsteadOf = {FORGE}alice/clone.git\n',
    )


def _include(repo: Path, marker: Path) -> None:
    (repo / "evil.cfg").write_text(f'[core]\n\tfsmonitor = "touch {marker}; false"\n')
    append_config(repo, "[include]\n\tpath = ../evil.cfg\n")
    (repo / "a.txt").write_text("changed\n")


def _external_diff(repo: Path, marker: Path) -> None:
    append_config(repo, f'[diff]\n\texternal = "touch {marker}; true"\n')
    (repo / "a.txt").write_text("changed\n")


ATTACKS = [
    Attack("diff.external", _external_diff, ("diff",), "diff.external"),
    Attack("textconv", _textconv, ("diff",), "diff.conv.textconv"),
    Attack("filter", _filter, ("add", "b.txt"), "filter.f.clean"),
    Attack("sshCommand", _ssh, ("fetch", "origin"), "core.sshcommand"),
    Attack("uploadpack", _upload_pack, ("fetch", "origin"), "remote.origin.uploadpack"),
    Attack("insteadOf", _insteadof, ("fetch", "origin"), "protocol.ext.allow"),
    Attack("include.path", _include, ("status",), "include.path"),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
@pytest.mark.parametrize(("name", "call"), EVERY_TOOL, ids=[n for n, _ in EVERY_TOOL])
async def test_config_that_names_a_program_is_refused(
    clone: Path, marker: Path, attack: Attack, name: str, call: ToolCall
) -> None:
    attack.plant(clone, marker)
    fire(clone, *attack.control)
    assert marker.exists(), f"the control of {attack.name} did not fire"
    marker.unlink()

    with pytest.raises(GitRefused, match=f"in {clone}: its local config sets {attack.key}"):
        await call(str(clone))
    assert not marker.exists()


async def test_pager_editor_and_askpass_keys_are_refused(clone: Path, marker: Path) -> None:
    for key in ("core.pager", "core.editor", "core.askpass", "pager.status", "sequence.editor", "gpg.program"):
        git(clone, "config", key, f"touch {marker}")
        with pytest.raises(GitRefused, match=key.lower().replace(".", r"\.")):
            await git_status(repo_path=str(clone))
        git(clone, "config", "--unset-all", key)
    assert (await git_status(repo_path=str(clone)))["clean"] is True
    assert not marker.exists()


async def test_credential_helper_is_refused(clone: Path, marker: Path, loopback: LoopbackServer) -> None:
    loopback.route(
        "GET", "/alice/clone.git/info/refs", lambda _r: Reply(401, b"", {"WWW-Authenticate": 'Basic realm="x"'})
    )
    git(clone, "remote", "set-url", "origin", f"{loopback.url}/alice/clone.git")
    git(clone, "config", "credential.helper", f"!touch {marker}; echo")
    fire(clone, "fetch", "origin")
    assert marker.exists(), "the control did not fire"
    marker.unlink()

    env = ToolEnv(gitea_url=f"{loopback.url}/", gitea_token="t0ken")
    with pytest.raises(GitRefused, match="credential.helper"):
        await git_status(repo_path=str(clone))
    with pytest.raises(GitRefused, match="credential.helper"):
        await git_pull(repo_path=str(clone), env=env, branch="main")
    assert not marker.exists()


async def test_hooks_never_run(clone: Path, marker: Path) -> None:
    hooks = clone / ".git" / "hooks"
    for hook in ("pre-commit", "commit-msg", "post-commit", "post-checkout", "reference-transaction", "pre-push"):
        (hooks / hook).write_text(f"#!/bin/sh\necho {hook} >> {marker}\n")
        (hooks / hook).chmod(0o755)
    fire(clone, "commit", "-q", "--allow-empty", "-m", "control")
    assert marker.exists(), "the control did not fire"
    marker.unlink()

    await git_checkout(repo_path=str(clone), branch="topic", create=True)
    (clone / "b.txt").write_text("b\n")
    await git_commit(repo_path=str(clone), message="with hooks in place", add_all=True)
    await git_checkout(repo_path=str(clone), branch="main")
    assert not marker.exists()


async def test_a_worktree_elsewhere_is_refused(clone: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("not the house's\n")
    git(clone, "config", "core.worktree", str(elsewhere))
    assert "secret.txt" in git(clone, "status", "--porcelain")  # the control: plain git works over there

    for _, call in EVERY_TOOL:
        with pytest.raises(GitRefused, match="core.worktree"):
            await call(str(clone))
    assert git(clone, "log", "--format=%s") == "first"


async def test_a_git_file_pointing_elsewhere_is_refused(clone: Path, tmp_path: Path) -> None:
    """A ``.git`` file in the workspace that points at another repository's git directory (a cache)."""
    inside = tmp_path / "work" / "inside"
    inside.mkdir(parents=True)
    (inside / ".git").write_text(f"gitdir: {clone / '.git'}\n")
    with pytest.raises(GitRefused, match=r"git directory .* is outside it"):
        await git_status(repo_path=str(inside))
    with pytest.raises(GitRefused, match=r"is outside it"):
        await git_commit(repo_path=str(inside), message="into someone else's repository", add_all=True)


async def test_objects_borrowed_from_elsewhere_are_refused(clone: Path, tmp_path: Path) -> None:
    """``objects/info/alternates`` would let the clone read another repository's objects (a cache, a private
    repository of the mesh) through the git tools."""
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    (clone / ".git" / "objects" / "info" / "alternates").write_text(f"{other / '.git' / 'objects'}\n")
    with pytest.raises(GitRefused, match="objects/info/alternates"):
        await git_log(repo_path=str(clone))


async def test_a_bare_repository_in_the_workspace_is_not_discovered(tmp_path: Path, marker: Path) -> None:
    evil = tmp_path / "workspace" / "evil"
    subprocess.run(["git", "init", "-q", "--bare", str(evil)], check=True)
    checkout = tmp_path / "workspace" / "wt"
    checkout.mkdir()
    with (evil / "config").open("a", encoding="utf-8") as fh:
        fh.write(f'[core]\n\tbare = false\n\tworktree = {checkout}\n\tfsmonitor = "touch {marker}; false"\n')
    fire(evil, "status")
    assert marker.exists(), "the control did not fire"
    marker.unlink()

    for _, call in EVERY_TOOL:
        with pytest.raises(ToolExecutionError, match="is a bare repository"):
            await call(str(evil))
    assert not marker.exists()


async def test_a_subdirectory_is_not_its_enclosing_repository(clone: Path) -> None:
    """Discovery stops at the given directory: a path inside a repository (maybe outside the house's
    roots) is not taken for it."""
    (clone / "sub").mkdir()
    with pytest.raises(ToolExecutionError, match="not a git repository"):
        await git_status(repo_path=str(clone / "sub"))


# -- remotes: the forge's http(s) URLs only ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% {marker}", "file://{secret}", "{secret}", "ssh://git@127.0.0.1:9/alice/x.git",
     "http://user:pw@127.0.0.1:9/alice/x.git", "http://127.0.0.1:10/alice/x.git", "https://127.0.0.1:9/alice/x.git",
     "http://127.0.0.1:9/alice/x.git?u=1", "http://127.0.0.1:9/alice/x/y.git"],
)  # fmt: skip
async def test_a_remote_off_the_forge_is_refused(clone: Path, marker: Path, tmp_path: Path, url: str) -> None:
    secret = tmp_path / "secret"
    git(tmp_path, "init", "-q", str(secret))
    git(clone, "remote", "set-url", "origin", url.format(marker=marker, secret=secret))
    for call in REMOTE_TOOLS:
        with pytest.raises(
            GitRefused, match="not an http\\(s\\) URL on the configured forge|does not name a repository"
        ):
            await call(str(clone))
    assert not marker.exists()


async def test_the_environment_alone_refuses_ext_file_and_local_transports(
    clone: Path, marker: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    git(tmp_path, "init", "-q", str(secret))
    (secret / "s.txt").write_text("another repository's content\n")
    git(secret, "add", "s.txt")
    git(secret, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "-m", "secret")
    for url in (f"ext::sh -c touch% {marker}", f"file://{secret}", str(secret)):
        done = await run_git("fetch", "-q", url, "HEAD", repo=clone, timeout=30)
        assert not done.ok and "not allowed" in done.stderr, done.stderr
    assert not marker.exists()
    assert git(clone, "cat-file", "-t", git(secret, "rev-parse", "HEAD"), check=False) == ""


# -- each layer on its own ----------------------------------------------------------------------------------


def _bypass(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git with the overrides and the environment but WITHOUT the config check."""
    return subprocess.run(git_argv(*args, repo=repo), env=git_env(), capture_output=True, text=True, timeout=60)


def test_the_overrides_alone_neutralise_single_valued_keys(clone: Path, marker: Path, loopback: LoopbackServer) -> None:
    loopback.route(
        "GET", "/alice/clone.git/info/refs", lambda _r: Reply(401, b"", {"WWW-Authenticate": 'Basic realm="x"'})
    )
    append_config(clone, f'[core]\n\tfsmonitor = "touch {marker}; false"\n\tsshCommand = "touch {marker}; false"\n')
    append_config(clone, f'[credential]\n\thelper = "!touch {marker}; echo"\n[core]\n\taskPass = "touch {marker}"\n')
    hook = clone / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    (clone / "a.txt").write_text("changed\n")
    assert _bypass(clone, "status").returncode == 0
    assert _bypass(clone, "commit", "-q", "-am", "hooked").returncode == 0
    assert _bypass(clone, "fetch", "-q", f"{loopback.url}/alice/clone.git").returncode != 0  # 401, nobody asked
    assert _bypass(clone, "fetch", "-q", "ssh://git@127.0.0.1:9/x.git").returncode != 0  # ssh refused
    assert not marker.exists()


def test_allowlist() -> None:
    for key in ("core.repositoryformatversion", "core.bare", "remote.origin.url", "remote.my.fork.fetch",
                "branch.bezalel/issue-1.merge", "branch.main.remote", "user.name", "user.email",
                "extensions.objectformat", "init.defaultbranch"):  # fmt: skip
        assert allowed_key(key), key
    for key in ("core.fsmonitor", "core.hookspath", "core.worktree", "remote.origin.pushurl", "remote.a.url.x.vcs",
                "remote.origin.uploadpack", "remote.origin.receivepack", "remote.origin.proxy", "url.x.insteadof",
                "http.extraheader", "http.http://x/.extraheader", "include.path", "includeif.gitdir:/x.path",
                "filter.lfs.process", "diff.x.textconv", "merge.x.driver", "credential.helper", "core.sshcommand",
                "extensions.partialclone", "branch.main.rebase", "gc.auto", "protocol.ext.allow"):  # fmt: skip
        assert not allowed_key(key), key


# -- the token -----------------------------------------------------------------------------------------------


def test_the_token_is_offered_to_the_forge_only() -> None:
    auth = ForgeAuth("http://forge.example:3000/", "s3cret")
    on = auth.env_for("http://forge.example:3000/alice/x.git")
    assert on["GIT_CONFIG_KEY_0"] == "http.http://forge.example:3000/.extraHeader"
    assert on["GIT_CONFIG_VALUE_0"] == "Authorization: token s3cret"
    for url in ("http://forge.example:3001/alice/x.git", "https://forge.example:3000/alice/x.git",
                "http://evil.example:3000/alice/x.git", "http://user@forge.example:3000/alice/x.git",
                "ext::sh -c x", "/srv/x.git", None):  # fmt: skip
        assert auth.env_for(url) == {}, url
    assert on_forge("http://FORGE.example:3000/a/b.git", "http://forge.example:3000")
    assert on_forge("https://forge.example/gitea/a/b.git", "https://forge.example:443/gitea/")
    assert not on_forge("https://forge.example/other/a/b.git", "https://forge.example/gitea/")
    assert "s3cret" not in repr(auth)


async def test_no_authorization_header_reaches_a_url_off_the_forge(
    clone: Path, loopback: LoopbackServer, tmp_path: Path
) -> None:
    """A remote pointing at a loopback server that records headers: the tools refuse to contact it at all,
    and git given the URL directly with the forge's token sends it no Authorization header."""
    refs = "/alice/clone.git/info/refs"
    loopback.route("GET", refs, lambda _r: Reply(401, b"", {"WWW-Authenticate": 'Basic realm="x"'}))
    git(clone, "remote", "set-url", "origin", f"{loopback.url}/alice/clone.git")
    for call in REMOTE_TOOLS:
        with pytest.raises(GitRefused):
            await call(str(clone))
    assert loopback.requests == []

    url = f"{loopback.url}/alice/clone.git"
    done = await run_git("ls-remote", url, repo=clone, timeout=30, auth=ForgeAuth(FORGE, "s3cret-token"), url=url)
    assert not done.ok
    assert loopback.requests and all("authorization" not in r.headers for r in loopback.requests)

    # the control: when that server *is* the forge, the header does arrive
    loopback.requests.clear()
    await run_git("ls-remote", url, repo=clone, timeout=30, auth=ForgeAuth(loopback.url, "s3cret-token"), url=url)
    assert [r.headers.get("authorization") for r in loopback.requests][:1] == ["token s3cret-token"]


async def test_the_forge_cannot_redirect_git_elsewhere(clone: Path, loopback: LoopbackServer) -> None:
    with LoopbackServer() as other:
        target = f"{other.url}/alice/clone.git/info/refs?service=git-upload-pack"
        loopback.route("GET", "/alice/clone.git/info/refs", lambda _r: Reply(302, b"", {"Location": target}))
        url = f"{loopback.url}/alice/clone.git"
        auth = ForgeAuth(loopback.url, "s3cret-token")
        done = await run_git("ls-remote", url, repo=clone, timeout=30, auth=auth, url=url)
        assert not done.ok
        assert other.requests == []


def test_git_env_is_built_from_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/somewhere")
    monkeypatch.setenv("GIT_SSH_COMMAND", "touch /tmp/x")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:1")
    env = git_env()
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert "GIT_DIR" not in env and "HTTPS_PROXY" not in env and "HOME" not in env
    assert env["GIT_SSH_COMMAND"] == "false" and env["GIT_ALLOW_PROTOCOL"] == "http:https"
    with pytest.raises(ValueError, match="GIT_CONFIG_COUNT"):
        git_env({"GIT_CONFIG_COUNT": "1"})
