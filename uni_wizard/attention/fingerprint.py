"""An unexpected exception's fingerprint: the same bug gives the same fingerprint on every host and version.

The exception's type (module and name) and the innermost ``FRAMES`` frames of its traceback that are in the
package, each as ``uni_wizard/<module path>:<function>``: never an absolute path (hosts install the package in
different places), never a line number (a change elsewhere in the file moves it). Frames outside the package
(the standard library, a dependency) are left out of the key but kept in the text, shortened to their file name.

    >>> try:
    ...     {}["missing"]
    ... except KeyError as exc:
    ...     fingerprint(exc).kind
    'builtins.KeyError'
"""

from __future__ import annotations

import hashlib
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FRAMES", "Fingerprint", "fingerprint"]

FRAMES = 5  # the innermost package frames that identify a bug
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../uni_wizard
MAX_TEXT = 6000  # characters of the rendered traceback kept


@dataclass(frozen=True)
class Fingerprint:
    """``key`` (sha256 hex of ``kind`` and ``frames``), ``title`` (one line) and ``text`` (the traceback, with
    package-relative paths and no absolute path of the host)."""

    key: str
    kind: str
    frames: tuple[str, ...]
    title: str
    text: str


def _where(filename: str) -> tuple[str, bool]:
    """``filename`` as shown: package-relative when it is in the package (True), else its base name."""
    try:
        relative = Path(filename).resolve().relative_to(PACKAGE_ROOT)
    except ValueError:
        return os.path.basename(filename), False
    return f"uni_wizard/{relative.as_posix()}", True


def fingerprint(exc: BaseException) -> Fingerprint:
    """The fingerprint of ``exc`` (see the module docstring)."""
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    summary = traceback.extract_tb(exc.__traceback__)
    frames: list[str] = []
    lines: list[str] = ["Traceback (most recent call last):"]
    for frame in summary:
        shown, ours = _where(frame.filename)
        lines.append(f'  File "{shown}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
        if ours:
            frames.append(f"{shown}:{frame.name}")
    message = str(exc).splitlines()[0] if str(exc) else ""
    lines.append(f"{kind}: {message}" if message else kind)
    key_frames = tuple(frames[-FRAMES:])
    key = hashlib.sha256("\n".join([kind, *key_frames]).encode()).hexdigest()
    where = key_frames[-1] if key_frames else "outside the package"
    title = f"{type(exc).__name__} in {where}"
    text = "\n".join(lines)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT // 2] + "\n  ...\n" + text[-MAX_TEXT // 2 :]
    return Fingerprint(key, kind, key_frames, title, text)
