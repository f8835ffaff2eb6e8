"""File tools: read, write (atomically), list and search files.

They are plain synchronous functions; the Harness runs them in a worker thread.
Every path argument is a ``ReadPath`` or ``WritePath`` so the policy confines it.
Listing and searching never follow symlinked directories; searching skips
symlinks altogether so it cannot read outside the tree it was pointed at.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..errors import ToolCallError, ToolExecutionError
from .spec import ReadPath, Risk, WritePath, tool

__all__ = ["file_list", "file_read", "file_search", "file_write"]

_CHUNK = 1 << 16
_MAX_LINE_CHARS = 500


def _existing(path: str, *, want_dir: bool | None) -> Path:
    """``path`` resolved; ``ToolExecutionError`` if it is missing or of the wrong kind."""
    target = Path(path).resolve()
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise ToolExecutionError(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise ToolExecutionError(f"{path}: cannot access: {exc.strerror or exc}") from None
    if want_dir is False and stat.S_ISDIR(mode):
        raise ToolExecutionError(f"{path} is a directory, not a file; use file_list to see its entries")
    if want_dir is True and not stat.S_ISDIR(mode):
        raise ToolExecutionError(f"{path} is not a directory")
    return target


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(root: Path, recursive: bool, skipped: list[str]) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Yield ``(relative path, entry)`` depth-first in name order; never enters symlinked dirs."""
    stack: list[Iterator[os.DirEntry[str]]] = []

    def push(directory: Path) -> None:
        try:
            with os.scandir(directory) as it:
                stack.append(iter(sorted(it, key=lambda e: e.name)))
        except OSError as exc:
            skipped.append(f"{directory.relative_to(root).as_posix()}: {exc.strerror or exc}")

    push(root)
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        yield Path(entry.path).relative_to(root).as_posix(), entry
        if recursive and entry.is_dir(follow_symlinks=False):
            push(Path(entry.path))


def _entry_type(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "symlink"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "other"


@tool(group="file")
def file_read(path: ReadPath, max_bytes: int = 1_000_000, encoding: str = "utf-8") -> dict[str, Any]:
    """Read a text file, up to a byte limit.

    Args:
        path: The file to read.
        max_bytes: Largest number of bytes returned; longer files are cut and flagged truncated.
        encoding: Text encoding of the file; undecodable bytes are replaced and the file is
            flagged binary.
    """
    if max_bytes < 1:
        raise ToolCallError(f"max_bytes must be at least 1, got {max_bytes}")
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise ToolCallError(f"unknown encoding {encoding!r}") from None
    target = _existing(path, want_dir=False)
    digest = hashlib.sha256()
    kept = bytearray()
    size = 0
    try:
        with target.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if len(kept) < max_bytes:
                    kept += chunk[: max_bytes - len(kept)]
    except OSError as exc:
        raise ToolExecutionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    truncated = size > max_bytes
    binary = False
    try:
        # A cut in the middle of a multi-byte character is not an error: the decoder keeps it pending.
        content = decoder.decode(bytes(kept), final=not truncated)
    except UnicodeDecodeError:
        content = bytes(kept).decode(encoding, errors="replace")
        binary = True
    return {
        "path": str(target),
        "content": content,
        "size": size,
        "truncated": truncated,
        "binary": binary,
        "sha256": digest.hexdigest(),
    }


@tool(group="file", mutates=True, risk=Risk.MEDIUM)
def file_write(path: WritePath, content: str, append: bool = False, create_dirs: bool = False) -> dict[str, Any]:
    """Write text to a file, atomically replacing it unless appending.

    Args:
        path: The file to write; a symlink is followed and its target written.
        content: Text to write, encoded as UTF-8.
        append: Add the text at the end of the file instead of replacing the file.
        create_dirs: Create missing parent directories.
    """
    target = Path(path).resolve()
    parent = target.parent
    if target.is_dir():
        raise ToolExecutionError(f"{path} is a directory; give a file path to write")
    if not parent.is_dir():
        if not create_dirs:
            raise ToolExecutionError(
                f"cannot write {path}: parent directory {parent} does not exist (pass create_dirs=true)"
            )
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ToolExecutionError(f"cannot create directory {parent}: {exc.strerror or exc}") from None
    data = content.encode("utf-8")
    try:
        if append:
            with target.open("ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            sha = _sha256_of(target)
        else:
            _atomic_write(target, data)
            sha = hashlib.sha256(data).hexdigest()
    except OSError as exc:
        raise ToolExecutionError(f"cannot write {path}: {exc.strerror or exc}") from None
    return {"path": str(target), "bytes_written": len(data), "sha256": sha}


def _atomic_write(target: Path, data: bytes) -> None:
    """Write a temporary file beside ``target``, fsync it, rename it over ``target``."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        old_mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        old_mode = None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if old_mode is not None:
                os.fchmod(fh.fileno(), old_mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@tool(group="file")
def file_list(path: ReadPath, pattern: str = "*", recursive: bool = False, max_entries: int = 1000) -> dict[str, Any]:
    """List the entries of a directory, optionally recursively.

    Args:
        path: The directory to list.
        pattern: Shell glob the entry names must match, such as ``*.py``.
        recursive: Descend into subdirectories (symlinked directories are listed, not entered).
        max_entries: Largest number of entries returned; more are flagged truncated.
    """
    if max_entries < 1:
        raise ToolCallError(f"max_entries must be at least 1, got {max_entries}")
    root = _existing(path, want_dir=True)
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    truncated = False
    for rel, entry in _walk(root, recursive, skipped):
        if not fnmatchcase(entry.name, pattern):
            continue
        if len(entries) >= max_entries:
            truncated = True
            break
        kind = _entry_type(entry)
        try:
            size: int | None = None if kind == "dir" else entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue  # removed while we listed
        entries.append({"path": rel, "type": kind, "size": size})
    return {"path": str(root), "entries": entries, "truncated": truncated, "skipped": skipped}


@tool(group="file")
def file_search(
    path: ReadPath,
    regex: str,
    glob: str = "*",
    max_matches: int = 200,
    max_file_bytes: int = 2_000_000,
) -> dict[str, Any]:
    """Search files under a directory (or one file) for lines matching a regular expression.

    Args:
        path: A directory searched recursively, or a single file.
        regex: Python regular expression searched for in each line.
        glob: Shell glob the file names must match, such as ``*.py``.
        max_matches: Largest number of matching lines returned; more are flagged truncated.
        max_file_bytes: Files larger than this are skipped.
    """
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ToolCallError(f"invalid regex {regex!r}: {exc}") from None
    if max_matches < 1:
        raise ToolCallError(f"max_matches must be at least 1, got {max_matches}")
    root = _existing(path, want_dir=None)
    if root.is_dir():
        skipped: list[str] = []
        candidates = [
            (rel, Path(entry.path))
            for rel, entry in _walk(root, True, skipped)
            if entry.is_file(follow_symlinks=False) and fnmatchcase(entry.name, glob)
        ]
    else:
        skipped, candidates = [], [(root.name, root)]
    matches: list[dict[str, Any]] = []
    truncated = False
    searched = 0
    for rel, file_path in candidates:
        text = _searchable_text(file_path, max_file_bytes, skipped, rel)
        if text is None:
            continue
        searched += 1
        for number, line in enumerate(text.splitlines(), start=1):
            if compiled.search(line):
                if len(matches) >= max_matches:
                    truncated = True
                    break
                matches.append({"path": rel, "line": number, "text": line[:_MAX_LINE_CHARS]})
        if truncated:
            break
    return {
        "path": str(root),
        "matches": matches,
        "truncated": truncated,
        "files_searched": searched,
        "skipped": skipped,
    }


def _searchable_text(file_path: Path, max_bytes: int, skipped: list[str], rel: str) -> str | None:
    """The file's text, or ``None`` (noted in ``skipped``) if too large, binary or unreadable."""
    try:
        if file_path.stat().st_size > max_bytes:
            skipped.append(f"{rel}: larger than {max_bytes} bytes")
            return None
        data = file_path.read_bytes()
    except OSError as exc:
        skipped.append(f"{rel}: {exc.strerror or exc}")
        return None
    if b"\0" in data[:8192]:
        skipped.append(f"{rel}: binary")
        return None
    return data.decode("utf-8", errors="replace")
