"""Paths the policy checked, opened without following a symlink: a tool acts on what was checked.

The Harness resolves a path argument (``os.path.realpath``) and the policy checks the result against
the house's roots. Resolving the text a second time when the tool runs would let a directory swapped
for a symlink in between lead the tool outside its roots. So the Harness then *anchors* the checked
path: it walks it from ``/`` one component at a time with ``openat(dir_fd, name, O_NOFOLLOW)``, and
hands the tool an :class:`AnchoredPath` — a ``str`` (the checked path) carrying the descriptors it
opened. A component that is a symlink now (it was not when the path was resolved) stops the walk
with :class:`PathChanged`: the call fails; it never follows.

    anchored = anchor("/srv/ws/repo/README.md")
    with anchored.open_regular(os.O_RDONLY) as fd:   # refuses FIFOs, devices, sockets, symlinks
        ...

Tools called directly (tests, the CLI's own code) get a plain ``str``; :func:`anchored` anchors it then.
The part of a path that does not exist yet (a file to create) is kept as ``missing`` components below
the deepest existing directory, created by the tool with ``mkdir``/``open`` relative to that directory.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import ToolCallError, ToolExecutionError

__all__ = [
    "MAX_COMPONENT_BYTES",
    "MAX_PATH_BYTES",
    "AnchoredPath",
    "PathChanged",
    "anchor",
    "anchored",
    "check_path_text",
    "git_metadata",
]

MAX_PATH_BYTES = 4096  # PATH_MAX
MAX_COMPONENT_BYTES = 255  # NAME_MAX
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ANY = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


class PathChanged(ToolExecutionError):
    """A checked path changed before the tool used it (a component became a symlink or a non-directory)."""


def check_path_text(name: str, value: str) -> None:
    """``ToolCallError`` unless ``value`` can name a file here: no NUL, encodable, within PATH_MAX/NAME_MAX."""
    if "\0" in value:
        raise ToolCallError(f"argument {name!r} contains a NUL byte, which no path can hold")
    try:
        raw = os.fsencode(value)
    except UnicodeEncodeError:
        raise ToolCallError(
            f"argument {name!r} is not a valid path: it holds characters that cannot be encoded"
        ) from None
    if len(raw) >= MAX_PATH_BYTES:
        raise ToolCallError(f"argument {name!r} is {len(raw)} bytes long; paths are at most {MAX_PATH_BYTES - 1}")
    longest = max((len(part) for part in raw.split(b"/")), default=0)
    if longest > MAX_COMPONENT_BYTES:
        raise ToolCallError(f"argument {name!r} has a name of {longest} bytes; names are at most {MAX_COMPONENT_BYTES}")


def git_metadata(resolved: str) -> str | None:
    """The part of ``resolved`` that is git's own metadata (a ``.git`` component, or a directory laid out
    as a git directory: ``HEAD``, ``objects/`` and ``refs/``), or ``None``. Writing there could make git
    run commands (``core.fsmonitor``, hooks), so no file tool may."""
    parts = resolved.split("/")
    for index, part in enumerate(parts):
        if part.casefold() == ".git":
            return "/".join(parts[: index + 1]) or "/"
    directory = os.path.dirname(resolved)
    while True:
        if _looks_like_git_dir(directory):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _looks_like_git_dir(directory: str) -> bool:
    try:
        return (
            os.path.isfile(os.path.join(directory, "HEAD"))
            and os.path.isdir(os.path.join(directory, "objects"))
            and os.path.isdir(os.path.join(directory, "refs"))
        )
    except (OSError, ValueError):
        return False


def _kind(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


@dataclass(eq=False)
class _Descriptors:
    """The descriptors of one anchor, closed once nobody uses them (a timed-out thread may still)."""

    fds: list[int] = field(default_factory=list)
    users: int = 1
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for fd in reversed(self.fds):
                os.close(fd)


class AnchoredPath(str):
    """A checked path (the ``str``), the deepest existing directory on it opened as ``dir_fd``, the target
    opened as ``fd`` (``O_PATH``; ``None`` when it does not exist) and the ``missing`` components between."""

    dir_fd: int
    fd: int | None
    missing: tuple[str, ...]
    _owned: _Descriptors

    def __new__(
        cls, resolved: str, dir_fd: int, fd: int | None, missing: tuple[str, ...], owned: _Descriptors
    ) -> AnchoredPath:
        self = super().__new__(cls, resolved)
        self.dir_fd, self.fd, self.missing, self._owned = dir_fd, fd, missing, owned
        return self

    # -- lifetime: the Harness holds one use; a thread running the tool holds another -------------
    def acquire(self) -> AnchoredPath:
        self._owned.users += 1
        return self

    def release(self) -> None:
        self._owned.users -= 1
        if self._owned.users <= 0:
            self._owned.close()

    # -- what tools ask of it ----------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return self.fd is not None

    def stat(self) -> os.stat_result:
        """The target's ``lstat`` through its descriptor; ``ToolExecutionError`` when it does not exist."""
        if self.fd is None:
            raise ToolExecutionError(f"{self}: no such file or directory")
        return os.fstat(self.fd)

    def parent_fd(self) -> tuple[int, str]:
        """``(descriptor of the target's directory, the target's name)``; the directory must exist."""
        if len(self.missing) > 1:
            raise ToolExecutionError(f"{self}: directory {os.path.dirname(self)} does not exist")
        return self.dir_fd, self.missing[0] if self.missing else os.path.basename(self)

    @contextmanager
    def open_regular(self, flags: int, mode: int = 0o666) -> Iterator[int]:
        """Open the target, a regular file, with ``flags``: never through a symlink, and refusing FIFOs,
        devices and sockets before any read could block on them (``ToolExecutionError``)."""
        directory, name = self.parent_fd()
        if self.fd is not None and not self.missing:
            kind = os.fstat(self.fd).st_mode
            if not stat.S_ISREG(kind):
                raise ToolExecutionError(f"{self} is {_kind(kind)}, not a regular file")
        fd = _open_at(directory, name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, mode, self)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ToolExecutionError(f"{self} is {_kind(info.st_mode)}, not a regular file")
            if self.fd is not None and not self.missing and (info.st_dev, info.st_ino) != _identity(self.fd):
                raise PathChanged(f"{self} was replaced after the policy checked it; nothing was done")
            os.set_blocking(fd, True)
            yield fd
        finally:
            os.close(fd)

    def open_dir(self) -> int:
        """A readable descriptor of the target directory (the caller closes it)."""
        if self.fd is None or self.missing:
            raise ToolExecutionError(f"{self}: no such file or directory")
        if not stat.S_ISDIR(os.fstat(self.fd).st_mode):
            raise ToolExecutionError(f"{self} is not a directory")
        return _open_at(self.fd, ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, self)

    def make_dirs(self) -> int:
        """Create the missing directories above the target (``mkdir`` relative to the anchor, each opened
        without following) and return the descriptor of the target's directory (the anchor owns it)."""
        directory = self.dir_fd
        for name in self.missing[:-1]:
            try:
                os.mkdir(name, 0o777, dir_fd=directory)
            except FileExistsError:
                pass
            except OSError as exc:
                raise ToolExecutionError(f"cannot create directory {name!r} under {self}: {exc.strerror}") from None
            directory = _open_at(directory, name, _DIR, 0, self)
            self._owned.fds.append(directory)
        self.dir_fd, self.missing = directory, self.missing[-1:]
        return directory


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _open_at(directory: int, name: str, flags: int, mode: int, path: str) -> int:
    try:
        return os.open(name, flags, mode, dir_fd=directory)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
            raise PathChanged(
                f"{path}: {name!r} is a symbolic link or not a directory now (it was not when the policy "
                "checked the path); nothing was done"
            ) from None
        if exc.errno == errno.ENXIO:
            raise ToolExecutionError(f"{path} is a FIFO or a socket, not a regular file") from None
        raise ToolExecutionError(f"{path}: {exc.strerror or exc}") from None


def anchor(resolved: str) -> AnchoredPath:
    """Anchor an absolute, resolved path: open every existing component without following symlinks.

    Raises ``PathChanged`` when a component is a symlink or not a directory, ``ToolExecutionError``
    for any other failure to open a directory on the way.
    """
    if not os.path.isabs(resolved):
        raise ToolCallError(f"cannot anchor the relative path {resolved!r}")
    parts = [part for part in resolved.split("/") if part]
    owned = _Descriptors([os.open("/", _DIR)])
    try:
        for index, name in enumerate(parts):
            last = index == len(parts) - 1
            try:
                fd = os.open(name, _ANY if last else _DIR, dir_fd=owned.fds[-1])
            except FileNotFoundError:
                return AnchoredPath(resolved, owned.fds[-1], None, tuple(parts[index:]), owned)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise PathChanged(
                        f"{resolved}: {name!r} is a symbolic link or not a directory now (it was not when the "
                        "policy checked the path); nothing was done"
                    ) from None
                raise ToolExecutionError(f"{resolved}: {exc.strerror or exc}") from None
            owned.fds.append(fd)
            if last and stat.S_ISLNK(os.fstat(fd).st_mode):
                raise PathChanged(f"{resolved} is a symbolic link now (it was not when the policy checked it)")
        target = owned.fds[-1] if parts else owned.fds[0]
        parent = owned.fds[-2] if len(owned.fds) > 1 else owned.fds[0]
        return AnchoredPath(resolved, parent, target, (), owned)
    except BaseException:
        owned.close()
        raise


@contextmanager
def anchored(path: str) -> Iterator[AnchoredPath]:
    """``path`` as an ``AnchoredPath``: itself when the Harness anchored it, else anchored now (resolved
    first: a direct caller is not under a policy) and closed on exit."""
    if isinstance(path, AnchoredPath):
        yield path
        return
    check_path_text("path", path)
    fresh = anchor(os.path.realpath(os.path.expanduser(path)))
    try:
        yield fresh
    finally:
        fresh.release()
