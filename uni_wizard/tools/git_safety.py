"""Every git the package runs goes through :func:`run_git`, which no repository can turn against us.

Houses write files in their clones, and a clone's ``.git/config`` or ``.gitattributes`` can name
programs (``core.fsmonitor``, hooks, filter drivers, ``diff.external``...). Three layers make sure
git never runs one, whatever the repository says:

1. **A fixed environment**, built from nothing (the daemon's ``GIT_*``, ``HOME`` and proxies are not
   passed on; only its ``PATH``): no system or global config, no terminal prompt, an askpass that
   answers nothing, ``cat`` as pager, ``true`` as editor, only the ``http`` and ``https`` transports
   (``GIT_ALLOW_PROTOCOL``: ``ext::``, ``file://``, local paths and ssh are refused; ``run_git(local=True)``
   allows the file protocol for one call without a token: a worker's clone from its daemon-owned mirror),
   the C locale.
2. **Command-line overrides** (``git -c``, which beat every config file) of each single-valued key that
   names a program or switches one on: ``core.fsmonitor``, ``core.hooksPath`` (no hook ever runs),
   pager, editor, ssh command, askpass, ``credential.helper`` (empty resets the list), signing,
   submodule recursion, ``protocol.allow``, the proxy, redirects, ``safe.bareRepository=explicit``
   (a bare repository is used only when addressed with ``git_dir=``).
3. **The repository's own config is read before every invocation** (``git config --list --show-scope
   --no-includes``, in the same environment) and every key outside ``ALLOWED_KEYS`` refuses the call
   with ``GitRefused`` naming the repository and the key (never the value). Keys whose names the
   repository chooses (``filter.<driver>.*``, ``diff.<driver>.textconv``, ``merge.<driver>.driver``,
   ``url.<base>.insteadOf``, ``http.<url>.*``, ``include.path``, ``includeIf.*``,
   ``remote.<name>.pushurl``/``uploadpack``/``receivepack``/``proxy``, ``core.worktree``...) cannot be
   overridden from the command line, so they are refused instead. A working tree (``repo=``) must also
   hold its own git directory: discovery stops at the given directory (``GIT_CEILING_DIRECTORIES``), and
   a ``.git`` file pointing elsewhere, or objects borrowed from elsewhere (``objects/info/alternates``),
   are refused.

The allowlist is what git writes on ``init``/``clone`` and what the product itself writes: core
layout keys, ``remote.<name>.url``/``fetch``, ``branch.<name>.remote``/``merge``, ``user.name``/
``email``, ``extensions.objectformat``/``worktreeconfig``, ``init.defaultbranch``.

The forge token (``ForgeAuth``) goes to git only through ``GIT_CONFIG_COUNT``/``KEY``/``VALUE``
environment variables (never argv, never a URL, never a config file), as an
``http.<forge>.extraHeader`` scoped to the forge's own URL, and only when the URL the call contacts is
on the forge (same scheme, host, port, under its path).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import GitRefused, ToolExecutionError
from ..reporef import RepoRef
from . import process
from .anchor import AnchoredPath

__all__ = [
    "ALLOWED_KEYS",
    "OVERRIDES",
    "ForgeAuth",
    "allowed_key",
    "forge_origin",
    "forge_repository",
    "git_argv",
    "git_env",
    "on_forge",
    "parse_config_list",
    "repository_url",
    "run_git",
]

OVERRIDES: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("sequence.editor", "true"),
    ("core.sshCommand", "false"),
    ("core.askPass", "true"),
    ("core.attributesFile", os.devnull),
    ("core.protectNTFS", "true"),
    ("core.protectHFS", "true"),
    ("credential.helper", ""),
    ("safe.bareRepository", "explicit"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("push.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("merge.verifySignatures", "false"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("push.recurseSubmodules", "no"),
    ("protocol.allow", "never"),
    ("protocol.http.allow", "always"),
    ("protocol.https.allow", "always"),
    ("http.proxy", ""),
    ("http.followRedirects", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("color.ui", "false"),
)
"""``git -c`` pairs on every invocation: each single-valued key that could start a program, prompt,
sign, recurse, or reach another host, set to what does none of that."""

ALLOWED_KEYS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.DOTALL)
    for pattern in (
        r"core\.(repositoryformatversion|filemode|bare|logallrefupdates|symlinks|ignorecase|precomposeunicode)",
        r"remote\..+\.(url|fetch)",
        r"branch\..+\.(remote|merge)",
        r"user\.(name|email)",
        r"extensions\.(objectformat|worktreeconfig)",
        r"init\.defaultbranch",
    )
)
"""The repository config keys git may run with (as ``git config --list`` prints them: section and key
lower-case). Anything else is refused."""

_FIXED_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "EDITOR": "true",
    "VISUAL": "true",
    "GIT_SSH_COMMAND": "false",
    "GIT_ALLOW_PROTOCOL": "http:https",
    "GIT_PROTOCOL_FROM_USER": "0",
    "GIT_NO_REPLACE_OBJECTS": "1",
}
_EXTRA_ENV = frozenset({"GIT_INDEX_FILE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
                        "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE"})  # fmt: skip
_INSPECT_TIMEOUT = 15.0
_TOKEN_RE = re.compile(r"[!#-~]+")  # printable ASCII, no space, no double quote
_PORTS = {"http": 80, "https": 443}


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a git process: ``_FIXED_ENV``, the daemon's ``PATH`` (to find git and
    its helpers) and ``extra`` (index and identity variables only; ``run_git`` adds the auth ones)."""
    unknown = set(extra or {}) - _EXTRA_ENV
    if unknown:
        raise ValueError(f"git_env: {sorted(unknown)} may not be set for git")
    return {"PATH": os.environ.get("PATH") or os.defpath, **_FIXED_ENV, **(extra or {})}


def git_argv(
    *args: str, git_dir: str | Path | None = None, repo: str | Path | None = None, local: bool = False
) -> list[str]:
    """``git --no-pager -c ... [--git-dir=D | -C R] args``; ``local`` also allows the file protocol (a clone
    from a mirror the daemon owns: ``run_git(local=True)``)."""
    argv = ["git", "--no-pager"]
    for key, value in OVERRIDES:
        argv += ["-c", f"{key}={value}"]
    if local:
        argv += ["-c", "protocol.file.allow=always"]
    if git_dir is not None:
        argv.append(f"--git-dir={git_dir}")
    elif repo is not None:
        argv += ["-C", str(repo)]
    return [*argv, *args]


def allowed_key(key: str) -> bool:
    return any(pattern.fullmatch(key) for pattern in ALLOWED_KEYS)


def parse_config_list(text: str) -> Iterator[tuple[str, str]]:
    """``(scope, key)`` pairs of ``git config --list --show-scope -z`` (values are dropped unread)."""
    tokens = text.split("\0")
    for i in range(0, len(tokens) - 1, 2):
        yield tokens[i], tokens[i + 1].split("\n", 1)[0]


# -- the forge -----------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int, str] | None:
    """``(scheme, host, port, path)`` of a plain http(s) URL; ``None`` for anything else (credentials,
    a query or a fragment in it, another scheme, no host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.query or parts.fragment or any(ch in url for ch in "\0\n\r\t "):
        return None
    return scheme, parts.hostname.lower(), port or _PORTS[scheme], parts.path


def _base_path(base: str) -> str:
    return base.rstrip("/") + "/"


def on_forge(url: str, forge_url: str | None) -> bool:
    """Whether ``url`` is an http(s) URL on the forge at ``forge_url``: same scheme, host and port,
    a path under the forge's, no credentials, query or fragment."""
    if not forge_url:
        return False
    there, forge = _origin(url), _origin(forge_url)
    if there is None or forge is None or there[:3] != forge[:3]:
        return False
    return _base_path(there[3]).startswith(_base_path(forge[3]))


def forge_repository(url: str, forge_url: str | None, *, repository: str = "") -> tuple[str, str]:
    """``(owner, name)`` of a repository URL on the forge (``<forge>/<owner>/<name>[.git]``), or
    ``GitRefused`` saying why the URL is not one."""
    where = repository or url
    if not forge_url:
        raise GitRefused(f"{where}: no forge is configured (gitea_url), so git may not contact {url}",
                         repository=repository, key="gitea_url")  # fmt: skip
    if not on_forge(url, forge_url):
        raise GitRefused(
            f"{where}: the remote URL {url} is not an http(s) URL on the configured forge {forge_url}; "
            "git pushes and fetches only there",
            repository=repository,
            key="remote.url",
        )
    forge = _origin(forge_url)
    there = _origin(url)
    assert forge is not None and there is not None  # on_forge checked both
    rest = there[3][len(_base_path(forge[3])) :].strip("/").removesuffix(".git")
    refused = GitRefused(
        f"{where}: {url} does not name a repository <owner>/<name> on the forge",
        repository=repository,
        key="remote.url",
    )
    return RepoRef.parse(rest, error=lambda _: refused)


def repository_url(forge_url: str, repository: str, given: str = "") -> str:
    """The URL to fetch ``repository`` ("owner/name") from: ``given`` (the forge's own ``clone_url``)
    when it is on the forge at ``forge_url``, else ``<forge_url>/<owner>/<name>.git``."""
    return given if given and on_forge(given, forge_url) else f"{_base(forge_url)}{repository}.git"


def forge_origin(url: str) -> str:
    """``scheme://host:port/`` of ``url``: the forge a URL the forge itself gave belongs to."""
    parts = _origin(url)
    if parts is None:
        raise GitRefused(f"{url} is not a plain http(s) URL", key="url")
    return f"{parts[0]}://{_host(parts[1])}:{parts[2]}/"


def _base(forge_url: str) -> str:
    return forge_url.rstrip("/") + "/"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # an IPv6 address goes back in brackets


@dataclass(frozen=True)
class ForgeAuth:
    """The forge at ``base_url`` and the token a house acts with there; git gets the token only for
    URLs on that forge."""

    base_url: str
    token: str = field(repr=False)

    def env_for(self, url: str | None) -> dict[str, str]:
        """The ``GIT_CONFIG_*`` variables that authenticate a call contacting ``url`` (none when it
        is not on the forge)."""
        if url is None or not self.token or not on_forge(url, self.base_url):
            return {}
        if not _TOKEN_RE.fullmatch(self.token):
            raise GitRefused("the forge token must be one word of printable ASCII", key="gitea_token")
        forge = _origin(self.base_url)
        assert forge is not None  # on_forge checked it
        scheme, host, port, path = forge
        scope = f"{scheme}://{_host(host)}:{port}{_base_path(path)}"
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{scope}.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: token {self.token}",
        }


# -- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """Where a git call works: a working tree (``repo``), a git directory (``git_dir``), or neither.

    A working tree the Harness anchored (``tools/anchor.py``) carries the descriptor of the directory the
    policy checked, and git is sent there through ``/proc/self/fd/<n>`` (the descriptor passed to the
    child). git itself then works with path strings (its working tree and git directory resolved to
    absolute paths), so what keeps it on the checked repository is that nothing a house can do renames
    a working tree's root: file tools never rename or create symlinks, and git changes only the inside of
    a working tree, which is why a repository inside another one's working tree is refused (``_check_nesting``)."""

    repo: str | None
    git_dir: str | None
    fd: int | None = None

    @property
    def name(self) -> str:
        return self.repo or self.git_dir or "."

    @property
    def where(self) -> str | None:
        """What ``git -C`` is given: the anchored directory's descriptor, else the path."""
        return f"/proc/self/fd/{self.fd}" if self.fd is not None else self.repo

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return () if self.fd is None else (self.fd,)

    def env(self) -> dict[str, str]:
        if self.repo is None:
            return {}
        # discovery stops at the given directory: git works on exactly that repository, never on one above it
        parent = os.path.dirname(self.repo if self.fd is not None else os.path.realpath(self.repo)) or os.sep
        return {"GIT_CEILING_DIRECTORIES": parent}


def _target(repo: str | Path | None, git_dir: str | Path | None) -> _Target:
    fd = None
    if isinstance(repo, AnchoredPath):  # never fall back to the name: it may lead elsewhere by now
        if repo.fd is None or repo.missing:
            raise ToolExecutionError(f"{repo}: no such directory")
        _check_nesting(str(repo))
        fd = repo.fd
    return _Target(str(repo) if repo is not None else None, str(git_dir) if git_dir is not None else None, fd)


def _check_nesting(repo: str) -> None:
    """``GitRefused`` when ``repo`` lies inside another repository's working tree: a checkout there could
    replace it with a symlink to anywhere while git runs on it."""
    parent = os.path.dirname(repo)
    while True:
        if os.path.lexists(os.path.join(parent, ".git")):
            raise GitRefused(
                f"refusing to run git in {repo}: it is inside the working tree of {parent}, whose checkouts "
                "could swap it for something else while git runs; work on that repository instead",
                repository=repo,
                key=".git",
            )
        up = os.path.dirname(parent)
        if up == parent:
            return
        parent = up


async def _raw(
    target: _Target, *args: str, timeout: float, max_output: int = 1_000_000, env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None, local: bool = False,
) -> process.Completed:  # fmt: skip
    """git ``args`` on ``target`` in the fixed environment, ``env`` being the whole of it when given."""
    argv = git_argv(*args, git_dir=target.git_dir, repo=target.where, local=local)
    full = {**(env or git_env()), **target.env()}
    return await process.run(
        argv, timeout=timeout, env=full, max_output=max_output, cwd=cwd, inherit_env=False, pass_fds=target.pass_fds
    )


async def _inspect(target: _Target) -> process.Completed | None:
    """Check ``target`` before git works on it: ``None`` when it may, a failed ``Completed`` when git
    cannot even find the repository (the caller reports it as for any git failure), ``GitRefused``
    when the repository carries what git must not act on."""
    # the two read-only queries run side by side (neither can start a program: the overrides hold for both)
    listing = _raw(target, "config", "--list", "--show-scope", "--no-includes", "-z", timeout=_INSPECT_TIMEOUT)
    layout = (
        _raw(
            target,
            "rev-parse",
            "--path-format=absolute",
            "--absolute-git-dir",
            "--git-common-dir",
            "--show-toplevel",
            timeout=_INSPECT_TIMEOUT,
        )
        if target.repo is not None
        else None
    )
    listed, where = await asyncio.gather(listing, layout) if layout is not None else (await listing, None)
    if not listed.ok:
        return listed
    for scope, key in parse_config_list(listed.stdout):
        if scope != "command" and not allowed_key(key):
            raise GitRefused(
                f"refusing to run git in {target.name}: its {scope} config sets {key}, which uni-wizard "
                f"does not let git run with; remove it (git config --unset-all {key}) or clone again",
                repository=target.name,
                key=key,
            )
    if target.repo is not None and where is not None:
        if not where.ok:
            return where
        _check_layout(target.repo, where.stdout.splitlines())
    return None


def _check_layout(repo: str, lines: list[str]) -> None:
    """The working tree must be the given directory and hold its own git directory."""
    root = os.path.realpath(repo)
    if len(lines) != 3:
        raise GitRefused(f"refusing to run git in {repo}: it is not a working tree", repository=repo)
    git_dir, common_dir, top = (os.path.realpath(line) for line in lines)
    if top != root:
        raise GitRefused(f"refusing to run git in {repo}: git would work in {top} instead (core.worktree)",
                         repository=repo, key="core.worktree")  # fmt: skip
    if os.path.lexists(os.path.join(common_dir, "objects", "info", "alternates")):
        raise GitRefused(f"refusing to run git in {repo}: it borrows objects from elsewhere (objects/info/alternates)",
                         repository=repo, key="objects/info/alternates")  # fmt: skip
    for path in (git_dir, common_dir):
        if not path.startswith(root + os.sep):
            raise GitRefused(
                f"refusing to run git in {repo}: its git directory {path} is outside it (a .git file points elsewhere)",
                repository=repo,
                key=".git",
            )


async def run_git(
    *args: str,
    timeout: float,
    repo: str | Path | None = None,
    git_dir: str | Path | None = None,
    cwd: str | Path | None = None,
    max_output: int = 1_000_000,
    auth: ForgeAuth | None = None,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    local: bool = False,
) -> process.Completed:
    """Run ``git args`` the safe way (see the module docstring) and return what it left.

    ``repo`` is a working tree (``git -C``), ``git_dir`` a git directory such as a bare cache
    (``--git-dir``); with neither (``clone``, ``init``) git runs in ``cwd``. The repository is checked
    first: ``GitRefused`` when it carries what git must not act on; when git cannot find it, that
    failure is returned like any other. ``url`` is the URL the call contacts (``clone``, ``fetch``,
    ``push``): ``auth``'s token is offered only when it is on the forge. ``env`` may carry index and
    identity variables only.

    ``local`` allows the file protocol for this call (``file://`` URLs and local paths), which is otherwise
    refused: a worker's clone from the bare mirror the daemon keeps out of every house's reach
    (``work/mirror.py``). Such a call gets no token (``auth`` must be None).
    """
    if local and auth is not None:
        raise ValueError("run_git: a call over the file protocol gets no forge token")
    target = _target(repo, git_dir)
    if target.repo is not None or target.git_dir is not None:
        failed = await _inspect(target)
        if failed is not None:
            return failed
    full = git_env(env) | (auth.env_for(url) if auth is not None else {})
    if local:
        full["GIT_ALLOW_PROTOCOL"] = "http:https:file"
    return await _raw(target, *args, timeout=timeout, max_output=max_output, env=full, cwd=cwd, local=local)
