"""The pure parts of ``tools/git_safety.py``: the config listing, the forge's URLs, the error lines."""

from __future__ import annotations

import pytest

from uni_wizard.errors import GitRefused, ToolExecutionError
from uni_wizard.tools.git_output import git_error
from uni_wizard.tools.git_safety import (
    OVERRIDES,
    forge_origin,
    forge_repository,
    git_argv,
    parse_config_list,
    repository_url,
)

# recorded: git config --list --show-scope --no-includes -z (git 2.39), with two -c overrides
LISTING = (
    "local\0core.repositoryformatversion\n0\0local\0core.bare\nfalse\0local\0remote.origin.url\n"
    "http://forge/a/b.git\0local\0core.fsmonitor\nid > /tmp/x; false\0local\0core.novalue\0"
    "command\0core.hookspath\n/dev/null\0command\0safe.barerepository\nexplicit\0"
)


def test_parse_config_list_gives_scopes_and_keys_never_values() -> None:
    assert list(parse_config_list(LISTING)) == [
        ("local", "core.repositoryformatversion"),
        ("local", "core.bare"),
        ("local", "remote.origin.url"),
        ("local", "core.fsmonitor"),
        ("local", "core.novalue"),
        ("command", "core.hookspath"),
        ("command", "safe.barerepository"),
    ]


@pytest.mark.parametrize(
    ("url", "forge", "expected"),
    [
        ("http://forge.example:3000/alice/x.git", "http://forge.example:3000/", ("alice", "x")),
        ("http://forge.example:3000/alice/x", "http://forge.example:3000", ("alice", "x")),
        ("https://forge.example/git/mesh/work.git", "https://forge.example/git/", ("mesh", "work")),
    ],
)
def test_forge_repository(url: str, forge: str, expected: tuple[str, str]) -> None:
    assert forge_repository(url, forge) == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://forge.example:3000/alice/x/y.git", "does not name a repository"),
        ("http://forge.example:3000/alice/..", "does not name a repository"),
        ("http://forge.example:3000/alice", "does not name a repository"),
        ("http://other.example:3000/alice/x.git", "not an http(s) URL on the configured forge"),
        ("http://tok:en@forge.example:3000/alice/x.git", "not an http(s) URL on the configured forge"),
        ("ext::sh -c id", "not an http(s) URL on the configured forge"),
        ("/srv/git/alice/x.git", "not an http(s) URL on the configured forge"),
    ],
)
def test_forge_repository_refusals(url: str, words: str) -> None:
    with pytest.raises(GitRefused) as info:
        forge_repository(url, "http://forge.example:3000/", repository="/ws/clone")
    assert words in str(info.value) and info.value.repository == "/ws/clone"


def test_repository_url_keeps_the_forge() -> None:
    forge = "http://forge.example:3000/"
    assert repository_url(forge, "a/b", "http://forge.example:3000/a/b.git") == "http://forge.example:3000/a/b.git"
    assert repository_url(forge, "a/b", "https://public.example/a/b.git") == "http://forge.example:3000/a/b.git"
    assert repository_url(forge.rstrip("/"), "a/b") == "http://forge.example:3000/a/b.git"
    assert forge_origin("https://forge.example/x/y.git") == "https://forge.example:443/"


def test_every_invocation_carries_the_overrides_before_the_command() -> None:
    argv = git_argv("status", repo="/ws/r")
    assert argv[:2] == ["git", "--no-pager"]
    assert argv[-3:] == ["-C", "/ws/r", "status"]
    pairs = {argv[i + 1] for i, a in enumerate(argv) if a == "-c"}
    assert {f"{k}={v}" for k, v in OVERRIDES} == pairs
    assert "core.hooksPath=/dev/null" in pairs and "safe.bareRepository=explicit" in pairs
    assert "credential.helper=" in pairs and "protocol.allow=never" in pairs
    assert git_argv("fetch", git_dir="/data/c.git")[-2:] == ["--git-dir=/data/c.git", "fetch"]


def test_git_error_lines_for_the_refusals_of_the_environment() -> None:
    bare = git_error(
        "/ws/evil", "status", "fatal: cannot use bare repository '/ws/evil' (safe.bareRepository is 'explicit')", 128
    )
    assert isinstance(bare, ToolExecutionError) and "is a bare repository" in str(bare)
    ext = git_error("/ws/r", "pull", "fatal: transport 'ext' not allowed\n", 128)
    assert str(ext) == "git pull: transport 'ext' not allowed; git contacts remotes over http and https only"
