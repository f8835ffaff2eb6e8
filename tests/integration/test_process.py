"""process.run: argv only, capped output, timeouts that kill the whole process group."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from uni_wizard.errors import ToolExecutionError, ToolTimeout
from uni_wizard.tools.process import run


async def test_huge_output_is_capped_and_drained() -> None:
    code = "import sys; sys.stdout.write('x' * 5_000_000); sys.stderr.write('e' * 10); print('', end='')"
    done = await run([sys.executable, "-c", code], timeout=60, max_output=1000)
    assert done.returncode == 0  # the child was never blocked on a full pipe
    assert len(done.stdout) == 1000 and done.truncated
    assert done.stderr == "e" * 10


async def test_exit_code_and_tail() -> None:
    done = await run([sys.executable, "-c", "print('\\n'.join(map(str, range(100)))); raise SystemExit(3)"], timeout=30)
    assert (done.returncode, done.ok) == (3, False)
    assert done.tail(2) == "98\n99"


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    with pytest.raises(ToolTimeout, match="did not finish within 1 s"):
        await run([sys.executable, "-c", code], timeout=1)
    grandchild = int(pidfile.read_text())
    for _ in range(100):  # the kill is delivered at once; reaping by init may take a moment
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        try:
            state = Path(f"/proc/{grandchild}/stat").read_text().split()[2]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild survived the timeout")


async def test_missing_executable_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ToolExecutionError, match="no-such-binary-here not found"):
        await run(["no-such-binary-here"], timeout=5)
    with pytest.raises(ToolExecutionError, match="working directory"):
        await run([sys.executable, "-c", "pass"], timeout=5, cwd=tmp_path / "absent")


async def test_stdin_and_env() -> None:
    code = "import os, sys; print(sys.stdin.read() + os.environ['UW_TEST'])"
    done = await run([sys.executable, "-c", code], timeout=30, stdin=b"in-", env={"UW_TEST": "env"})
    assert done.stdout.strip() == "in-env"
