"""forge bootstrap and forge serve, for real: a devforge process, the layout created through the API, twice."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from uni_wizard.cli import main
from uni_wizard.devforge import DevforgeServer

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "configs" / "forge-layout.example.yaml"
ADMIN = ("root", "bootstrap-root-pw")


@pytest.fixture(scope="module")
def forge(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = DevforgeServer(tmp_path_factory.mktemp("forge"), ADMIN).start()
    yield server
    server.stop()


def test_bootstrap_creates_the_layout_then_changes_nothing(forge: DevforgeServer, tmp_path: Path, capsys) -> None:
    secrets = tmp_path / "secrets"
    admin_file = tmp_path / "admin"
    admin_file.write_text(f"{ADMIN[0]}:{ADMIN[1]}\n")
    args = [
        "forge",
        "bootstrap",
        str(LAYOUT),
        "--url",
        forge.url,
        "--admin-file",
        str(admin_file),
        "--secrets",
        str(secrets),
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "created" in first
    for user in ("timmy", "ezra", "bezalel", "allegro"):
        token = (secrets / f"{user}.token").read_text().strip()
        assert stat.S_IMODE((secrets / f"{user}.token").stat().st_mode) == 0o600
        me = httpx.get(forge.api + "/user", headers={"Authorization": f"token {token}"})
        assert me.status_code == 200 and me.json()["login"] == user
    labels = httpx.get(forge.api + "/repos/mesh/work/labels", auth=ADMIN).json()
    by_name = {label["name"]: label for label in labels}
    assert by_name["status/triage"]["exclusive"] is True and by_name["status/triage"]["color"] == "ededed"
    rules = httpx.get(forge.api + "/repos/mesh/mesh/branch_protections", auth=ADMIN).json()
    assert [(r["rule_name"], r["required_approvals"]) for r in rules] == [("main", 1)]
    hooks = httpx.get(forge.api + "/repos/mesh/work/hooks", auth=ADMIN).json()
    assert [h["config"]["url"] for h in hooks] == ["http://127.0.0.1:8643/hooks/gitea"] and hooks[0]["active"]

    assert main(args) == 0  # a second run finds everything in place
    second = capsys.readouterr().out
    assert "0 created" in second
    assert len(httpx.get(forge.api + "/repos/mesh/work/labels", auth=ADMIN).json()) == len(labels)
    assert len(httpx.get(forge.api + "/repos/mesh/work/hooks", auth=ADMIN).json()) == 1


def test_bootstrap_refuses_a_wrong_admin_password(forge: DevforgeServer, tmp_path: Path, capsys) -> None:
    code = main(
        ["forge", "bootstrap", str(LAYOUT), "--url", forge.url, "--admin", "root:wrong", "--secrets", str(tmp_path)]
    )
    assert code == 4
    assert "401" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_bootstrap_layout_errors_name_the_key(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "layout.yaml"
    bad.write_text("org: mesh\nrepos:\n  - name: x\n    colaborators: {}\n")
    assert (
        main(
            [
                "forge",
                "bootstrap",
                str(bad),
                "--url",
                "http://127.0.0.1:9/",
                "--admin",
                "a:b",
                "--secrets",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "repos.0.colaborators: unknown key" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_forge_serve_creates_the_admin_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIWIZARD_")}
    argv = [
        sys.executable,
        "-c",
        "from uni_wizard.cli import run; run()",
        "forge",
        "serve",
        "--data",
        str(tmp_path),
        "--port",
        str(port),
        "--admin",
        "boss:boss-password-1",
    ]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(200):
            try:
                if httpx.get(url + "/version", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        me = httpx.get(url + "/user", auth=("boss", "boss-password-1"))
        assert me.status_code == 200 and me.json()["is_admin"] is True
        assert httpx.get(url + "/user", auth=("boss", "nope")).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        log.close()


def test_bootstrap_will_not_replace_a_lost_webhook_secret(tmp_path: Path, capsys) -> None:
    with DevforgeServer(tmp_path / "forge", ADMIN) as fresh:
        secrets = tmp_path / "secrets"
        args = [
            "forge",
            "bootstrap",
            str(LAYOUT),
            "--url",
            fresh.url,
            "--admin",
            ":".join(ADMIN),
            "--secrets",
            str(secrets),
        ]
        assert main(args) == 0
        (secrets / "webhook.secret").unlink()
        capsys.readouterr()
        assert main(args) == 2
    assert "webhook.secret is missing" in capsys.readouterr().err
    assert not (secrets / "webhook.secret").exists()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
