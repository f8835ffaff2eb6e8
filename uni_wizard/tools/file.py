"""File tools: read, write (atomically), list and search files.

They are plain synchronous functions; the Harness runs them in its per-house thread pool. Every path
argument is a ``ReadPath`` or ``WritePath`` so the policy confines it, and the tool acts on the path
the policy checked, opened without following a symlink (``anchor.py``): a directory swapped for a
symlink after the check makes the call fail, never escape. Only regular files are read or written:
a FIFO, a device or a socket is refused before anything could block on it. Listing and searching
open each directory relative to its parent, never follow a symlink and skip anything else that is
not a regular file.

Every caller-set limit has a ceiling (``MAX_*``), and each chunk of work checks the call's deadline
(``cancel.check``), so a call that timed out gives its thread back at once.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Annotated, Any

import regex as timed_regex
from pydantic import Field

from ..errors import ToolCallError, ToolExecutionError, ToolTimeout
from . import cancel
from .anchor import AnchoredPath, anchored, git_metadata
from .spec import ReadPath, Risk, WritePath, tool

__all__ = [
    "MAX_ENTRIES",
    "MAX_FILE_BYTES",
    "MAX_MATCHES",
    "MAX_READ_BYTES",
    "MAX_VISITED",
    "file_list",
    "file_read",
    "file_search",
    "file_write",
]

_CHUNK = 1 << 16
_MAX_LINE_CHARS = 500
MAX_READ_BYTES = 10 * 1024 * 1024  # file_read's max_bytes ceiling
MAX_ENTRIES = 10_000  # file_list's max_entries ceiling
MAX_MATCHES = 10_000  # file_search's max_matches ceiling
MAX_FILE_BYTES = 10 * 1024 * 1024  # file_search's max_file_bytes ceiling
MAX_VISITED = 200_000  # directory entries a listing or a search looks at before it stops (truncated)
_SEARCH_SECONDS = 10.0  # a regular expression's budget per file when the call has no deadline
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _read_into(fd: int, max_bytes: int) -> tuple[bytes, int, str]:
    """``(the first max_bytes bytes, the size, sha256 of everything)``, checking the deadline per chunk."""
    digest = hashlib.sha256()
    kept = bytearray()
    size = 0
    while chunk := os.read(fd, _CHUNK):
        cancel.check()
        digest.update(chunk)
        size += len(chunk)
        if len(kept) < max_bytes:
            kept += chunk[: max_bytes - len(kept)]
    return bytes(kept), size, digest.hexdigest()


@tool(group="file")
def file_read(
    path: ReadPath,
    max_bytes: Annotated[int, Field(ge=1, le=MAX_READ_BYTES)] = 1_000_000,
    encoding: str = "utf-8",
) -> dict[str, Any]:
    """Read a text file, up to a byte limit.

    Args:
        path: The file to read (a regular file; FIFOs, devices and sockets are refused).
        max_bytes: Largest number of bytes returned (at most 10 MiB); longer files are cut and flagged
            truncated.
        encoding: Text encoding of the file; undecodable bytes are replaced and the file is
            flagged binary.
    """
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise ToolCallError(f"unknown encoding {encoding!r}") from None
    with anchored(path) as where:
        if where.exists and stat.S_ISDIR(where.stat().st_mode):
            raise ToolExecutionError(f"{path} is a directory, not a file; use file_list to see its entries")
        if not where.exists:
            raise ToolExecutionError(f"{path}: no such file or directory")
        try:
            with where.open_regular(os.O_RDONLY) as fd:
                kept, size, sha = _read_into(fd, max_bytes)
        except OSError as exc:
            raise ToolExecutionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    truncated = size > max_bytes
    binary = False
    try:
        # A cut in the middle of a multi-byte character is not an error: the decoder keeps it pending.
        content = decoder.decode(kept, final=not truncated)
    except UnicodeDecodeError:
        content = kept.decode(encoding, errors="replace")
        binary = True
    return {
        "path": str(where),
        "content": content,
        "size": size,
        "truncated": truncated,
        "binary": binary,
        "sha256": sha,
    }


@tool(group="file", mutates=True, risk=Risk.MEDIUM)
def file_write(path: WritePath, content: str, append: bool = False, create_dirs: bool = False) -> dict[str, Any]:
    """Write text to a file, atomically replacing it unless appending.

    Args:
        path: The file to write; a symlink is followed and its target written. Nothing inside git's
            own metadata (a `.git` directory or a git directory) may be written.
        content: Text to write, encoded as UTF-8.
        append: Add the text at the end of the file instead of replacing the file.
        create_dirs: Create missing parent directories.
    """
    with anchored(path) as where:
        metadata = git_metadata(str(where))
        if metadata is not None:
            raise ToolExecutionError(f"{path} is inside git's metadata ({metadata}); no file tool writes there")
        if where.exists:
            kind = where.stat().st_mode
            if stat.S_ISDIR(kind):
                raise ToolExecutionError(f"{path} is a directory; give a file path to write")
            if not stat.S_ISREG(kind):
                raise ToolExecutionError(f"{path} is not a regular file; only regular files are written")
        if len(where.missing) > 1:
            if not create_dirs:
                parent = os.path.dirname(where)
                raise ToolExecutionError(
                    f"cannot write {path}: parent directory {parent} does not exist (pass create_dirs=true)"
                )
            where.make_dirs()
        data = content.encode("utf-8")
        try:
            sha = _append(where, data) if append else _replace(where, data)
        except OSError as exc:
            raise ToolExecutionError(f"cannot write {path}: {exc.strerror or exc}") from None
    return {"path": str(where), "bytes_written": len(data), "sha256": sha}


def _append(where: AnchoredPath, data: bytes) -> str:
    with where.open_regular(os.O_RDWR | os.O_APPEND | os.O_CREAT) as fd:
        os.write(fd, data)
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
        return _read_into(fd, 0)[2]


def _replace(where: AnchoredPath, data: bytes) -> str:
    """Write a temporary file beside the target, fsync it, rename it over the target, fsync the directory."""
    directory, name = where.parent_fd()
    old_mode = stat.S_IMODE(where.stat().st_mode) if where.exists else None
    tmp = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                cancel.check()
                view = view[os.write(fd, view[:_CHUNK]) :]
            if old_mode is not None:
                os.fchmod(fd, old_mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=directory)
        raise
    sync = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory)
    try:
        os.fsync(sync)
    finally:
        os.close(sync)
    return hashlib.sha256(data).hexdigest()


# -- walking a tree by descriptors --------------------------------------------------------------


@dataclass
class _Walk:
    """What a walk saw: entries it could not read, and whether it stopped at ``MAX_VISITED``."""

    skipped: list[str] = field(default_factory=list)
    visited: int = 0
    stopped: bool = False


@dataclass(frozen=True)
class _Entry:
    rel: str
    name: str
    kind: str  # file, dir, symlink or other
    size: int | None
    dir_fd: int  # the directory holding it (valid while the walk is at it)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _entries(fd: int, prefix: str, walk: _Walk) -> list[tuple[str, os.stat_result]]:
    """A directory's entries in name order with their ``lstat``, at most what the walk may still visit."""
    found: list[tuple[str, os.stat_result]] = []
    with os.scandir(fd) as it:
        for entry in it:
            cancel.check()
            if walk.visited + len(found) >= MAX_VISITED:
                walk.stopped = True
                break
            try:
                found.append((entry.name, entry.stat(follow_symlinks=False)))
            except FileNotFoundError:
                continue  # removed while we listed
            except OSError as exc:
                walk.skipped.append(f"{prefix}{entry.name}: {exc.strerror or exc}")
    walk.visited += len(found)
    return sorted(found, key=lambda item: item[0])


def _walk(root_fd: int, recursive: bool, walk: _Walk) -> Iterator[_Entry]:
    """Depth-first in name order; directories are opened relative to their parent, never through a symlink."""
    stack: list[tuple[int, str, Iterator[tuple[str, os.stat_result]]]] = []

    def push(fd: int, prefix: str) -> None:
        try:
            stack.append((fd, prefix, iter(_entries(fd, prefix, walk))))
        except OSError as exc:
            walk.skipped.append(f"{prefix.rstrip('/') or '.'}: {exc.strerror or exc}")
            if prefix:
                os.close(fd)

    push(root_fd, "")
    try:
        while stack:
            fd, prefix, items = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                if prefix:  # the root descriptor belongs to the caller
                    os.close(fd)
                continue
            name, info = item
            kind = _kind(info.st_mode)
            yield _Entry(prefix + name, name, kind, None if kind == "dir" else info.st_size, fd)
            if recursive and kind == "dir":
                try:
                    child = os.open(name, _DIR, dir_fd=fd)
                except OSError as exc:  # swapped for a symlink meanwhile (ELOOP), removed, unreadable
                    walk.skipped.append(f"{prefix}{name}: {exc.strerror or exc}")
                    continue
                push(child, f"{prefix}{name}/")
    finally:
        for fd, prefix, _ in stack:
            if prefix:
                os.close(fd)


@tool(group="file")
def file_list(
    path: ReadPath,
    pattern: str = "*",
    recursive: bool = False,
    max_entries: Annotated[int, Field(ge=1, le=MAX_ENTRIES)] = 1000,
) -> dict[str, Any]:
    """List the entries of a directory, optionally recursively.

    Args:
        path: The directory to list.
        pattern: Shell glob the entry names must match, such as ``*.py``.
        recursive: Descend into subdirectories (symlinked directories are listed, not entered).
        max_entries: Largest number of entries returned (at most 10,000); more are flagged truncated.
    """
    entries: list[dict[str, Any]] = []
    walk = _Walk()
    truncated = False
    with anchored(path) as where:
        root = where.open_dir()
        try:
            for entry in _walk(root, recursive, walk):
                if not fnmatchcase(entry.name, pattern):
                    continue
                if len(entries) >= max_entries:
                    truncated = True
                    break
                entries.append({"path": entry.rel, "type": entry.kind, "size": entry.size})
        finally:
            os.close(root)
    return {
        "path": str(where),
        "entries": entries,
        "truncated": truncated or walk.stopped,
        "skipped": walk.skipped,
    }


# -- search ----------------------------------------------------------------------------------------


def _compile(pattern: str) -> Any:
    """The pattern compiled for a search that can time out; ``re``'s own message when it is invalid."""
    try:
        re.compile(pattern)
        return timed_regex.compile(pattern)
    except (re.error, timed_regex.error, OverflowError, RecursionError) as exc:
        raise ToolCallError(f"invalid regex {pattern!r}: {exc}") from None


def _searchable_text(dir_fd: int, name: str, max_bytes: int, skipped: list[str], rel: str) -> str | None:
    """The file's text, or ``None`` (noted in ``skipped``) if not regular, too large, binary or unreadable."""
    try:
        fd = os.open(name, _FILE, dir_fd=dir_fd)
    except OSError as exc:
        skipped.append(f"{rel}: {exc.strerror or exc}")
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            skipped.append(f"{rel}: not a regular file")
            return None
        if info.st_size > max_bytes:
            skipped.append(f"{rel}: larger than {max_bytes} bytes")
            return None
        os.set_blocking(fd, True)
        data, size, _ = _read_into(fd, max_bytes + 1)
    except OSError as exc:
        skipped.append(f"{rel}: {exc.strerror or exc}")
        return None
    finally:
        os.close(fd)
    if size > max_bytes:
        skipped.append(f"{rel}: larger than {max_bytes} bytes")
        return None
    if b"\0" in data[:8192]:
        skipped.append(f"{rel}: binary")
        return None
    return data.decode("utf-8", errors="replace")


def _matching_lines(compiled: Any, text: str, rel: str) -> Iterator[tuple[int, str]]:
    budget = cancel.remaining()
    timeout = _SEARCH_SECONDS if budget is None else max(budget, 0.001)
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            found = compiled.search(line, timeout=timeout, concurrent=True)
        except TimeoutError:
            raise ToolTimeout(f"the regular expression ran out of time on {rel} line {number}") from None
        if found:
            yield number, line


@tool(group="file")
def file_search(
    path: ReadPath,
    regex: str,
    glob: str = "*",
    max_matches: Annotated[int, Field(ge=1, le=MAX_MATCHES)] = 200,
    max_file_bytes: Annotated[int, Field(ge=1, le=MAX_FILE_BYTES)] = 2_000_000,
) -> dict[str, Any]:
    """Search files under a directory (or one file) for lines matching a regular expression.

    Args:
        path: A directory searched recursively, or a single file.
        regex: Python regular expression searched for in each line (it runs with a time limit).
        glob: Shell glob the file names must match, such as ``*.py``.
        max_matches: Largest number of matching lines returned (at most 10,000); more are flagged truncated.
        max_file_bytes: Files larger than this are skipped (at most 10 MiB).
    """
    compiled = _compile(regex)
    matches: list[dict[str, Any]] = []
    walk = _Walk()
    searched = 0
    truncated = False
    with anchored(path) as where:
        is_dir = where.exists and stat.S_ISDIR(where.stat().st_mode)
        if not where.exists:
            raise ToolExecutionError(f"{path}: no such file or directory")
        root = where.open_dir() if is_dir else None
        candidates: Iterable[tuple[str, int, str]]
        try:
            if root is not None:
                candidates = (
                    (e.rel, e.dir_fd, e.name)
                    for e in _walk(root, True, walk)
                    if e.kind in ("file", "other") and fnmatchcase(e.name, glob)
                )
            else:
                directory, name = where.parent_fd()
                candidates = [(os.path.basename(where), directory, name)]
            for rel, dir_fd, name in candidates:
                text = _searchable_text(dir_fd, name, max_file_bytes, walk.skipped, rel)
                if text is None:
                    continue
                searched += 1
                for number, line in _matching_lines(compiled, text, rel):
                    if len(matches) >= max_matches:
                        truncated = True
                        break
                    matches.append({"path": rel, "line": number, "text": line[:_MAX_LINE_CHARS]})
                if truncated:
                    break
        finally:
            if root is not None:
                os.close(root)
    return {
        "path": str(where),
        "matches": matches,
        "truncated": truncated or walk.stopped,
        "files_searched": searched,
        "skipped": walk.skipped,
    }
