"""System tools: host facts, processes, systemd services, disk usage and a health check.

Parsing lives in pure functions (text in, typed values out), apart from the I/O,
the way pyinfra separates facts from the commands that gather them. Every /proc
read goes through ``env.proc_root`` so tests can point it at recorded files.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import ToolCallError, ToolExecutionError
from .anchor import AnchoredPath, check_path_text
from .env import ToolEnv
from .process import Completed, run
from .spec import ReadPath, Risk, tool

__all__ = [
    "disk_usage",
    "health_check",
    "parse_systemctl_show",
    "process_list",
    "service_control",
    "service_status",
    "system_info",
    "validate_unit_name",
]

_T = TypeVar("_T")

SHOW_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID", "Description")
_UNIT_SUFFIXES = "service|socket|target|timer|mount|automount|path|slice|scope|swap|device"
_UNIT_RE = re.compile(rf"[A-Za-z0-9_:][A-Za-z0-9_:.\-]*(?:@[A-Za-z0-9_:.\-]*)?(?:\.(?:{_UNIT_SUFFIXES}))?")
_UNIT_MAX = 255
_SHOW_TIMEOUT = 20.0
_CONTROL_TIMEOUT = 110.0


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the tools use."""

    pid: int
    comm: str
    state: str
    ppid: int


def _key_values(text: str, sep: str) -> dict[str, str]:
    pairs = (line.partition(sep) for line in text.splitlines())
    return {key.strip(): value.strip() for key, found, value in pairs if found and key.strip()}


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as ``{field: bytes}``; ``kB`` values are multiplied by 1024."""
    fields: dict[str, int] = {}
    for key, value in _key_values(text, ":").items():
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[key] = int(parts[0]) * (1024 if parts[1:2] in (["kB"], ["KB"], ["kb"]) else 1)
    return fields


def memory_available(meminfo: dict[str, int]) -> int:
    """Bytes available to new work: ``MemAvailable``, or free + buffers + cache on old kernels."""
    if "MemAvailable" in meminfo:
        return meminfo["MemAvailable"]
    return sum(meminfo.get(key, 0) for key in ("MemFree", "Buffers", "Cached"))


def parse_uptime(text: str) -> float:
    """Seconds since boot, the first field of ``/proc/uptime``."""
    fields = text.split()
    if not fields:
        raise ValueError("empty uptime")
    return float(fields[0])


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages from ``/proc/loadavg``."""
    fields = text.split()
    if len(fields) < 3:
        raise ValueError(f"expected three load averages, got {text.strip()!r}")
    return float(fields[0]), float(fields[1]), float(fields[2])


def parse_proc_stat(text: str) -> ProcStat:
    """Parse ``/proc/<pid>/stat``; the command name may itself contain spaces and parentheses."""
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    rest = text[end + 1 :].split()
    if len(rest) < 2:
        raise ValueError(f"truncated /proc/<pid>/stat line: {text[:80]!r}")
    return ProcStat(pid=int(text[:start]), comm=text[start + 1 : end], state=rest[0], ppid=int(rest[1]))


def parse_proc_status(text: str) -> dict[str, str]:
    """``/proc/<pid>/status`` as ``{field: value}`` with the values stripped."""
    return _key_values(text, ":")


def parse_cmdline(raw: bytes) -> list[str]:
    """The NUL-separated argv of ``/proc/<pid>/cmdline`` (empty for kernel threads)."""
    raw = raw.rstrip(b"\0")
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0")] if raw else []


def parse_systemctl_show(text: str) -> dict[str, str]:
    """``systemctl show`` output (``Key=Value`` lines) as a dict; the value keeps any ``=``."""
    return _key_values(text, "=")


def validate_unit_name(unit: str) -> str:
    """Return ``unit`` if it is a plain systemd unit name; raise ``ToolCallError`` otherwise."""
    if not unit or len(unit) > _UNIT_MAX or not _UNIT_RE.fullmatch(unit):
        raise ToolCallError(
            f"invalid systemd unit name {unit!r}: use letters, digits and @._-: "
            "(not starting with '-' or '.'), e.g. 'nginx.service' or 'getty@tty1.service'"
        )
    return unit


def _unit_state(unit: str, props: dict[str, str]) -> dict[str, Any]:
    pid = props.get("MainPID", "")
    load_state = props.get("LoadState", "")
    active_state = props.get("ActiveState", "")
    return {
        "available": True,
        "unit": unit,
        "found": load_state not in ("", "not-found"),
        "active": active_state == "active",
        "load_state": load_state,
        "active_state": active_state,
        "sub_state": props.get("SubState", ""),
        "unit_file_state": props.get("UnitFileState", ""),
        "main_pid": int(pid) if pid.isdigit() and int(pid) > 0 else None,
        "description": props.get("Description", ""),
    }


def _proc_fact(env: ToolEnv, name: str, parser: Callable[[str], _T]) -> _T:
    path = env.proc_root / name
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ToolExecutionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return parser(text)
    except ValueError as exc:
        raise ToolExecutionError(f"cannot parse {path}: {exc}") from exc


def _memory(env: ToolEnv) -> tuple[int, int]:
    meminfo = _proc_fact(env, "meminfo", parse_meminfo)
    if "MemTotal" not in meminfo:
        raise ToolExecutionError(f"{env.proc_root / 'meminfo'} has no MemTotal line")
    return meminfo["MemTotal"], memory_available(meminfo)


def _disk(path: str) -> dict[str, Any]:
    """``statvfs`` of the filesystem holding ``path`` (through its descriptor when the Harness anchored it)."""
    try:
        if isinstance(path, AnchoredPath):
            if path.fd is None:
                raise FileNotFoundError(path)
            st = os.statvfs(path.fd)
            total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
            used = (st.f_blocks - st.f_bfree) * st.f_frsize
        else:
            check_path_text("path", path)
            total, used, free = shutil.disk_usage(path)
    except FileNotFoundError:
        raise ToolExecutionError(f"cannot measure disk usage: {path} does not exist") from None
    except OSError as exc:
        raise ToolExecutionError(f"cannot measure disk usage of {path}: {exc.strerror or exc}") from None
    return {
        "path": str(path) if isinstance(path, AnchoredPath) else str(Path(path).resolve()),
        "total_bytes": total,
        "used_bytes": used,
        "free_bytes": free,
        "used_ratio": round(used / total, 4) if total else 0.0,
    }


def _collect_processes(proc_root: Path, needle: str) -> tuple[list[dict[str, Any]], int]:
    try:
        names = os.listdir(proc_root)
    except OSError as exc:
        raise ToolExecutionError(f"cannot list {proc_root}: {exc.strerror or exc}") from exc
    procs: list[dict[str, Any]] = []
    skipped = 0
    for entry in names:
        if not entry.isdigit():
            continue
        base = proc_root / entry
        try:
            stat = parse_proc_stat((base / "stat").read_text(encoding="utf-8", errors="replace"))
            status = parse_proc_status((base / "status").read_text(encoding="utf-8", errors="replace"))
            argv = parse_cmdline((base / "cmdline").read_bytes())
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            skipped += 1  # vanished mid-read, hidden from us, or a half-written file
            continue
        name = status.get("Name", stat.comm)
        cmdline = " ".join(argv)
        if needle and needle not in name.lower() and needle not in cmdline.lower():
            continue
        rss = status.get("VmRSS", "0 kB").split()
        rss_bytes = int(rss[0]) * 1024 if rss and rss[0].isdigit() else 0
        procs.append({"pid": stat.pid, "ppid": stat.ppid, "name": name, "state": stat.state,
                      "rss_bytes": rss_bytes, "cmdline": cmdline})  # fmt: skip
    procs.sort(key=lambda p: (-p["rss_bytes"], p["pid"]))
    return procs, skipped


def _systemctl(env: ToolEnv) -> tuple[str | None, str]:
    """The systemctl executable, or ``None`` and why systemd cannot be used here."""
    if not env.systemd_root.is_dir():
        return None, f"systemd not available: {env.systemd_root} does not exist (not booted with systemd)"
    exe = shutil.which(env.systemctl)
    if exe is None:
        return None, f"systemd not available: {env.systemctl!r} is not on PATH"
    return exe, ""


def _check(name: str, ok: bool, value: float, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "value": round(value, 4), "detail": detail}


def _failure_tail(done: Completed, lines: int = 10) -> str:
    text = done.stderr.strip() or done.stdout.strip() or "(no output)"
    return "\n".join(text.splitlines()[-lines:])


@tool(group="system")
async def system_info(env: ToolEnv) -> dict[str, Any]:
    """Describe this machine: hostname, OS and kernel, Python, CPUs, load, memory and uptime."""
    total, available = _memory(env)
    load1, load5, load15 = _proc_fact(env, "loadavg", parse_loadavg)
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "platform": uname.system,
        "kernel": uname.release,
        "machine": uname.machine,
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count() or 1,
        "load_average": {"1m": load1, "5m": load5, "15m": load15},
        "memory_total_bytes": total,
        "memory_available_bytes": available,
        "uptime_seconds": _proc_fact(env, "uptime", parse_uptime),
    }


@tool(group="system")
async def process_list(env: ToolEnv, name_filter: str = "", limit: int = 50) -> dict[str, Any]:
    """List running processes, largest resident memory first.

    Args:
        name_filter: Keep only processes whose name or command line contains this text
            (case-insensitive); empty keeps all.
        limit: Largest number of processes to return (at least 1).
    """
    if limit < 1:
        raise ToolCallError(f"limit must be at least 1, got {limit}")
    procs, skipped = await asyncio.to_thread(_collect_processes, env.proc_root, name_filter.lower())
    return {
        "processes": procs[:limit],
        "total": len(procs),
        "truncated": len(procs) > limit,
        "skipped": skipped,
    }


@tool(group="system")
async def service_status(env: ToolEnv, unit: str) -> dict[str, Any]:
    """Show the state of a systemd unit (loaded, active, enabled, main PID).

    Args:
        unit: Unit name such as ``nginx.service`` or ``getty@tty1.service``.
    """
    validate_unit_name(unit)
    exe, reason = _systemctl(env)
    if exe is None:
        return {"available": False, "unit": unit, "reason": reason}
    done = await run(
        [exe, "show", unit, f"--property={','.join(SHOW_PROPERTIES)}", "--no-pager"],
        timeout=_SHOW_TIMEOUT,
        max_output=env.max_output_bytes,
    )
    if not done.ok:
        raise ToolExecutionError(f"systemctl show {unit} failed (exit {done.returncode}): {_failure_tail(done)}")
    return _unit_state(unit, parse_systemctl_show(done.stdout))


@tool(group="system", mutates=True, idempotent=False, risk=Risk.HIGH, timeout=_CONTROL_TIMEOUT + 10)
async def service_control(
    env: ToolEnv, unit: str, action: Literal["start", "stop", "restart", "reload"]
) -> dict[str, Any]:
    """Start, stop, restart or reload a systemd unit.

    Args:
        unit: Unit name such as ``nginx.service``.
        action: One of ``start``, ``stop``, ``restart`` or ``reload``.
    """
    validate_unit_name(unit)
    if action not in ("start", "stop", "restart", "reload"):
        raise ToolCallError(f"action must be start, stop, restart or reload, got {action!r}")
    exe, reason = _systemctl(env)
    if exe is None:
        return {"available": False, "unit": unit, "action": action, "reason": reason}
    done = await run(
        [exe, action, unit, "--no-pager", "--no-ask-password"],
        timeout=_CONTROL_TIMEOUT,
        max_output=env.max_output_bytes,
    )
    if not done.ok:
        raise ToolExecutionError(f"systemctl {action} {unit} failed (exit {done.returncode}): {_failure_tail(done)}")
    return {"available": True, "unit": unit, "action": action, "ok": True, "output": done.tail(10)}


@tool(group="system")
async def health_check(
    env: ToolEnv, path: str = "/", min_free_ratio: float = 0.05, max_load_per_cpu: float = 4.0
) -> dict[str, Any]:
    """Check free disk space, available memory and CPU load against thresholds.

    Args:
        path: A path on the filesystem whose free space is checked.
        min_free_ratio: Smallest acceptable fraction (0 to 1) of free disk space and of
            available memory.
        max_load_per_cpu: Largest acceptable 5-minute load average per CPU.
    """
    if not 0.0 <= min_free_ratio <= 1.0:
        raise ToolCallError(f"min_free_ratio must be between 0 and 1, got {min_free_ratio}")
    if max_load_per_cpu <= 0:
        raise ToolCallError(f"max_load_per_cpu must be positive, got {max_load_per_cpu}")
    disk = await asyncio.to_thread(_disk, path)
    free_ratio = disk["free_bytes"] / disk["total_bytes"] if disk["total_bytes"] else 0.0
    total, available = _memory(env)
    mem_ratio = available / total if total else 0.0
    cpus = os.cpu_count() or 1
    load5 = _proc_fact(env, "loadavg", parse_loadavg)[1]
    per_cpu = load5 / cpus
    checks = [
        _check("disk", free_ratio >= min_free_ratio, free_ratio,
               f"{disk['path']}: {free_ratio:.1%} free of {disk['total_bytes']} bytes "
               f"(minimum {min_free_ratio:.1%})"),
        _check("memory", mem_ratio >= min_free_ratio, mem_ratio,
               f"{available} of {total} bytes available ({mem_ratio:.1%}, minimum {min_free_ratio:.1%})"),
        _check("load", per_cpu <= max_load_per_cpu, per_cpu,
               f"5-minute load {load5:.2f} over {cpus} CPUs is {per_cpu:.2f} per CPU "
               f"(maximum {max_load_per_cpu:g})"),
    ]  # fmt: skip
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


@tool(group="system")
async def disk_usage(env: ToolEnv, path: ReadPath = "/") -> dict[str, Any]:
    """Report total, used and free bytes of the filesystem holding a path.

    Args:
        path: Any path on the filesystem to measure.
    """
    return await asyncio.to_thread(_disk, path)
