"""System tools against recorded /proc files, a recorded systemctl output and a stand-in systemctl."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from uni_wizard.errors import ToolCallError, ToolExecutionError
from uni_wizard.tools.env import ToolEnv
from uni_wizard.tools.system import (
    disk_usage,
    health_check,
    parse_cmdline,
    parse_loadavg,
    parse_meminfo,
    parse_proc_stat,
    parse_systemctl_show,
    parse_uptime,
    process_list,
    service_control,
    service_status,
    system_info,
    validate_unit_name,
)

MEMINFO = """\
MemTotal:       16318480 kB
MemFree:         1203400 kB
MemAvailable:    9876540 kB
Buffers:          512000 kB
Cached:          7000000 kB
HugePages_Total:       0
"""
UPTIME = "12345.67 23456.78\n"
LOADAVG = "0.52 1.25 2.00 2/345 6789\n"

SYSTEMCTL_SHOW = """\
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
MainPID=812
Description=A high performance web server and a reverse proxy server
"""

# pid -> (stat, status, cmdline)
PROCS = {
    "1": (
        "1 (systemd) S 0 1 1 0 -1 4194560 1 2 0 0 3 4 0 0 20 0 1 0 5 170000000 3000 1",
        "Name:\tsystemd\nState:\tS (sleeping)\nVmRSS:\t   12000 kB\n",
        b"/sbin/init\0splash\0",
    ),
    "42": (
        "42 (tmux: server (x)) R 1 42 42 0 -1 4194560 1 2 0 0 3 4 0 0 20 0 1 0 5 1 3000 1",
        "Name:\ttmux: server (x)\nState:\tR (running)\nVmRSS:\t   30000 kB\n",
        b"tmux\0new\0-s\0work\0",
    ),
    "2": (
        "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0 1",
        "Name:\tkthreadd\nState:\tS (sleeping)\n",
        b"",
    ),
}


def record_proc(root: Path) -> Path:
    root.mkdir()
    (root / "meminfo").write_text(MEMINFO)
    (root / "uptime").write_text(UPTIME)
    (root / "loadavg").write_text(LOADAVG)
    for pid, (stat_line, status, cmdline) in PROCS.items():
        d = root / pid
        d.mkdir()
        (d / "stat").write_text(stat_line + "\n")
        (d / "status").write_text(status)
        (d / "cmdline").write_bytes(cmdline)
    (root / "self").mkdir()  # not a pid: ignored
    return root


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    return record_proc(tmp_path / "proc")


def test_parse_meminfo_converts_kb_to_bytes() -> None:
    info = parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 16318480 * 1024
    assert info["MemAvailable"] == 9876540 * 1024
    assert info["HugePages_Total"] == 0


def test_small_parsers() -> None:
    assert parse_uptime(UPTIME) == 12345.67
    assert parse_loadavg(LOADAVG) == (0.52, 1.25, 2.0)
    assert parse_cmdline(b"tmux\0new\0") == ["tmux", "new"]
    assert parse_cmdline(b"") == []
    with pytest.raises(ValueError):
        parse_loadavg("0.1 0.2")


def test_parse_proc_stat_with_parentheses_in_name() -> None:
    st = parse_proc_stat(PROCS["42"][0])
    assert (st.pid, st.comm, st.state, st.ppid) == (42, "tmux: server (x)", "R", 1)


def test_parse_systemctl_show() -> None:
    props = parse_systemctl_show(SYSTEMCTL_SHOW + "\nEnvironment=A=1 B=2\ngarbage line\n")
    assert props["ActiveState"] == "active"
    assert props["MainPID"] == "812"
    assert props["Description"] == "A high performance web server and a reverse proxy server"
    assert props["Environment"] == "A=1 B=2"
    assert "garbage line" not in props


async def test_system_info_from_recorded_proc(proc: Path) -> None:
    info = await system_info(ToolEnv(proc_root=proc))
    assert info["memory_total_bytes"] == 16318480 * 1024
    assert info["memory_available_bytes"] == 9876540 * 1024
    assert info["uptime_seconds"] == 12345.67
    assert info["load_average"] == {"1m": 0.52, "5m": 1.25, "15m": 2.0}
    assert info["cpu_count"] == os.cpu_count()


async def test_system_info_missing_file_is_an_execution_error(tmp_path: Path) -> None:
    with pytest.raises(ToolExecutionError, match="meminfo"):
        await system_info(ToolEnv(proc_root=tmp_path))


async def test_process_list_sorted_by_rss(proc: Path) -> None:
    result = await process_list(ToolEnv(proc_root=proc))
    assert [p["pid"] for p in result["processes"]] == [42, 1, 2]
    tmux = result["processes"][0]
    assert tmux == {
        "pid": 42,
        "ppid": 1,
        "name": "tmux: server (x)",
        "state": "R",
        "rss_bytes": 30000 * 1024,
        "cmdline": "tmux new -s work",
    }
    assert result["processes"][2]["rss_bytes"] == 0  # kernel thread: no VmRSS
    assert result["total"] == 3 and result["truncated"] is False


async def test_process_list_filter_limit_and_vanished(proc: Path) -> None:
    gone = proc / "77"
    gone.mkdir()
    (gone / "stat").write_text("77 (ghost) Z 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 1\n")
    # status and cmdline missing: the process vanished mid-read
    result = await process_list(ToolEnv(proc_root=proc), name_filter="INIT")
    assert [p["name"] for p in result["processes"]] == ["systemd"]
    assert result["skipped"] == 1
    limited = await process_list(ToolEnv(proc_root=proc), limit=1)
    assert [p["pid"] for p in limited["processes"]] == [42]
    assert limited["total"] == 3 and limited["truncated"] is True
    with pytest.raises(ToolCallError):
        await process_list(ToolEnv(proc_root=proc), limit=0)


@pytest.mark.parametrize("unit", ["nginx.service", "getty@tty1.service", "foo@.service", "a-b_c:d.timer", "sshd"])
def test_valid_unit_names(unit: str) -> None:
    assert validate_unit_name(unit) == unit


@pytest.mark.parametrize(
    "unit",
    ["", "-H host", "--now", "my unit", "a;b", "../etc", ".hidden", "a/b", "nginx.service\n", "x" * 300],
)
async def test_bad_unit_names_rejected(unit: str, tmp_path: Path) -> None:
    env = ToolEnv(systemd_root=tmp_path / "missing")
    with pytest.raises(ToolCallError, match="invalid systemd unit name"):
        await service_status(env, unit=unit)
    with pytest.raises(ToolCallError):
        await service_control(env, unit=unit, action="restart")


async def test_systemd_not_available_is_a_clean_result(tmp_path: Path) -> None:
    env = ToolEnv(systemd_root=tmp_path / "missing")
    status = await service_status(env, unit="nginx.service")
    assert status["available"] is False
    assert status["reason"].startswith("systemd not available: ")
    assert str(tmp_path / "missing") in status["reason"]
    control = await service_control(env, unit="nginx.service", action="stop")
    assert control["available"] is False


async def test_systemctl_not_on_path(tmp_path: Path) -> None:
    env = ToolEnv(systemd_root=tmp_path, systemctl="no-such-systemctl-binary")
    status = await service_status(env, unit="nginx.service")
    assert status == {
        "available": False,
        "unit": "nginx.service",
        "reason": "systemd not available: 'no-such-systemctl-binary' is not on PATH",
    }


def fake_systemctl(tmp_path: Path, exit_code: int = 0) -> Path:
    """A stand-in systemctl: `show` prints the recorded output, actions log their argv."""
    script = tmp_path / "systemctl"
    log = tmp_path / "calls.log"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        'if [ "$1" = show ]; then\n'
        f"cat <<'EOF'\n{SYSTEMCTL_SHOW}EOF\n"
        "fi\n"
        f'if [ {exit_code} -ne 0 ]; then echo "Failed to $1 $2: Unit $2 not found." >&2; fi\n'
        f"exit {exit_code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def test_service_status_with_standin_systemctl(tmp_path: Path) -> None:
    exe = fake_systemctl(tmp_path)
    status = await service_status(ToolEnv(systemd_root=tmp_path, systemctl=str(exe)), unit="nginx.service")
    assert status["available"] is True
    assert status["active"] is True and status["found"] is True
    assert status["sub_state"] == "running"
    assert status["unit_file_state"] == "enabled"
    assert status["main_pid"] == 812
    argv = (tmp_path / "calls.log").read_text().split()
    assert argv[:2] == ["show", "nginx.service"]
    assert "--property=LoadState,ActiveState,SubState,UnitFileState,MainPID,Description" in argv


async def test_service_control_success_and_failure(tmp_path: Path) -> None:
    ok_dir, bad_dir = tmp_path / "ok", tmp_path / "bad"
    ok_dir.mkdir()
    bad_dir.mkdir()
    ok = await service_control(
        ToolEnv(systemd_root=ok_dir, systemctl=str(fake_systemctl(ok_dir))),
        unit="web.service",
        action="restart",
    )
    assert ok["ok"] is True and ok["action"] == "restart"
    assert (ok_dir / "calls.log").read_text().split()[:2] == ["restart", "web.service"]
    env = ToolEnv(systemd_root=bad_dir, systemctl=str(fake_systemctl(bad_dir, exit_code=5)))
    with pytest.raises(ToolExecutionError, match=r"exit 5\): Failed to start web.service: Unit web.service"):
        await service_control(env, unit="web.service", action="start")
    with pytest.raises(ToolCallError, match="action"):
        await service_control(env, unit="web.service", action="enable")


async def test_health_check_thresholds(proc: Path, tmp_path: Path) -> None:
    env = ToolEnv(proc_root=proc)
    result = await health_check(env, path=str(tmp_path))
    names = [c["name"] for c in result["checks"]]
    assert names == ["disk", "memory", "load"]
    memory = result["checks"][1]
    assert memory["ok"] is True and memory["value"] == round(9876540 / 16318480, 4)
    strict = await health_check(env, path=str(tmp_path), min_free_ratio=1.0, max_load_per_cpu=0.0001)
    assert strict["ok"] is False
    assert [c["ok"] for c in strict["checks"]][1:] == [False, False]
    with pytest.raises(ToolCallError):
        await health_check(env, min_free_ratio=1.5)


async def test_disk_usage(tmp_path: Path) -> None:
    usage = await disk_usage(ToolEnv(), path=str(tmp_path))
    assert usage["path"] == str(tmp_path.resolve())
    assert usage["total_bytes"] > 0
    assert usage["used_bytes"] + usage["free_bytes"] <= usage["total_bytes"]
    assert 0.0 <= usage["used_ratio"] <= 1.0
    with pytest.raises(ToolExecutionError, match="does not exist"):
        await disk_usage(ToolEnv(), path=str(tmp_path / "nope"))


async def test_real_proc_of_this_machine() -> None:
    if not Path("/proc/meminfo").exists():
        pytest.skip("no /proc on this machine")
    info = await system_info(ToolEnv())
    assert isinstance(info["hostname"], str) and info["hostname"]
    assert isinstance(info["memory_total_bytes"], int) and info["memory_total_bytes"] > 0
    assert 0 < info["memory_available_bytes"] <= info["memory_total_bytes"]
    assert isinstance(info["uptime_seconds"], float) and info["uptime_seconds"] > 0
    assert all(isinstance(v, float) and v >= 0 for v in info["load_average"].values())
    procs = await process_list(ToolEnv(), limit=500)
    assert os.getpid() in {p["pid"] for p in procs["processes"]}
    rss = [p["rss_bytes"] for p in procs["processes"]]
    assert rss == sorted(rss, reverse=True)
