"""The CLI as people hold it: ``--config`` after the command, ``--version``, completion, list variables, a busy
port, ``--json`` on every command that acts, ``deploy --dry`` without secrets, tables at 80 columns, and a
truthful ``mesh status`` (with and without a mesh file). Everything runs in this process through ``main``."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from uni_wizard import __version__
from uni_wizard.cli import COMMANDS, app, main
from uni_wizard.cli.common import console
from uni_wizard.config import load_settings

RESULTS = "    Grand total        58      3         -       55\n"
PROPOSED = "    Operation          Change   Conditional Change\n    group uni-wizard   1 (a)    -\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("UNIWIZARD_HOST", "test-host")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subs = getattr(command, "commands", None)
    if not subs:
        yield path, command
        return
    for name, sub in subs.items():
        yield from _leaves(sub, (*path, name))


def _every_command() -> list[tuple[tuple[str, ...], Any]]:
    root = typer.main.get_command(app)
    for entry in COMMANDS:
        root.load(entry)  # type: ignore[attr-defined]
    return list(_leaves(root))


# -- global options ----------------------------------------------------------------------------------


def test_every_command_takes_config_and_debug_after_its_name() -> None:
    commands = _every_command()
    assert len(commands) > 25
    for path, command in commands:
        options = {opt for param in command.params for opt in getattr(param, "opts", ())}
        assert {"--config", "--debug"} <= options, " ".join(path)


@pytest.mark.parametrize("before", [True, False])
def test_config_is_used_before_and_after_the_command(env: Path, capsys: pytest.CaptureFixture[str], before: bool):
    settings = env / "settings.yaml"
    settings.write_text("bogus_key: 1\n")
    args = ["--config", str(settings), "houses"] if before else ["houses", "--config", str(settings)]
    code, _, err = run(capsys, *args)
    assert code == 2 and err == f"error: {settings}:bogus_key: unknown key\n"


def test_serve_config_after_the_command_and_a_busy_port_exit_2(env: Path, capsys: pytest.CaptureFixture[str]):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = env / "settings.yaml"
        settings.write_text(f"port: {port}\n")
        code, _, err = run(capsys, "serve", "--config", str(settings))
    assert code == 2
    assert err.startswith(f"error: {settings}:port: cannot listen on 127.0.0.1:{port}") and err.count("\n") == 1


def test_version_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"uni-wizard {__version__}\n", "")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize("value", ["dispatcher,worker", " dispatcher , worker ", '["dispatcher", "worker"]'])
def test_a_list_variable_is_a_b_or_json(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("UNIWIZARD_ROLES", value)
    assert load_settings().roles == ("dispatcher", "worker")
    assert run(capsys, "houses", "--json")[0] == 0


# -- --json on every command that acts ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [("review", "once"), ("dispatch", "sweep"), ("reconcile", "once"), ("forge", "bootstrap"), ("deploy",)]
)
def test_every_command_that_acts_has_json(path: tuple[str, ...]) -> None:
    commands = dict(_every_command())
    options = {opt for param in commands[path].params for opt in getattr(param, "opts", ())}
    assert "--json" in options


# -- deploy: --json, and --dry without secrets --------------------------------------------------------

MESH = {
    "hosts": [{"name": "a", "url": "http://10.0.0.1:8643", "houses": ["timmy"], "roles": ["reviewer"]}],
    "syncthing": {"folder_path": "/var/lib/uni-wizard/mesh"},
}


def _inventory(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(MESH))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"mesh": "mesh.yaml", "secrets_dir": "secrets"}))  # no secret in it
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "uni_wizard-0.1.0-py3-none-any.whl").write_bytes(b"w")
    return inventory, wheels


def _fake_pyinfra(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uni_wizard.deployment.runner as runner_module

    calls: list[dict[str, Any]] = []
    real = runner_module.run_deploy

    def runner(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"argv": argv, **kwargs})
        return subprocess.CompletedProcess(argv, 0, PROPOSED if "--dry" in argv else RESULTS, "")

    monkeypatch.setattr(runner_module, "run_deploy", lambda *a, **k: real(*a, **k, runner=runner))
    return calls


def test_a_dry_deploy_needs_no_secret_and_says_what_a_real_one_would_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, wheels = _inventory(tmp_path)
    calls = _fake_pyinfra(monkeypatch)
    code, out, err = run(capsys, "deploy", "-i", str(inventory), "--wheelhouse", str(wheels), "--dry", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["dry"], report["ok"], report["changed"]) == (True, True, 1)
    assert "syncthing_api_key" in report["syncthing"][0] and "real deploy stops here" in report["syncthing"][0]
    assert calls[0]["env"]["UNIWIZARD_DEPLOY_DRY"] == "1"


def test_a_real_deploy_without_the_secret_fails_closed_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, wheels = _inventory(tmp_path)
    calls = _fake_pyinfra(monkeypatch)
    code, out, err = run(capsys, "deploy", "-i", str(inventory), "--wheelhouse", str(wheels))
    assert code == 2 and out == "" and calls == []  # nothing connected
    assert err.startswith(f"error: {inventory}:secrets_dir: ") and "syncthing_api_key" in err
    assert err.count("\n") == 1


def test_deploy_json_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    inventory, wheels = _inventory(tmp_path)
    inventory.write_text(yaml.safe_dump({"mesh": "mesh.yaml"}))
    (tmp_path / "mesh.yaml").write_text(yaml.safe_dump({"hosts": MESH["hosts"]}))  # no syncthing section
    calls = _fake_pyinfra(monkeypatch)
    code, out, _ = run(capsys, "deploy", "-i", str(inventory), "--wheelhouse", str(wheels), "--json")
    assert code == 0 and calls[0]["argv"][-1] == "-y"
    assert json.loads(out) == {
        "dry": False,
        "ok": True,
        "changed": 3,
        "conditional": 0,
        "unchanged": 55,
        "errors": 0,
        "wheelhouse": str(wheels),
        "syncthing": [],
    }


def test_the_host_plan_tells_pyinfra_a_dry_run(tmp_path: Path) -> None:
    from uni_wizard.deployment.runner import pyinfra_hosts
    from uni_wizard.deployment.syncthing_setup import host_syncthing

    inventory, wheels = _inventory(tmp_path)
    [(_, data)] = pyinfra_hosts(inventory, wheels, dry=True)
    assert data["uw_dry"] is True and data["uw_secrets"] == {}
    found = host_syncthing(data["uw_seed_files"], data["uw_secrets"], dry=True)
    assert found is not None and found[1] is None  # planned without the key: config.xml is not seeded


# -- tables at 80 columns ----------------------------------------------------------------------------


@pytest.fixture
def narrow() -> Iterator[None]:
    """The console at 80 columns; afterwards it measures the terminal (or COLUMNS) again, as before."""
    saved = console._width
    console.width = 80
    yield
    console._width = saved


def _check_table(out: str, headers: list[str]) -> None:
    lines = out.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, out
    header = next(line for line in lines if line.startswith("┃"))
    cells = [cell.strip() for cell in header.strip("┃").split("┃")]
    assert cells == headers, out  # every column kept is whole: no header folded into a 3-character column
    top = next(line for line in lines if line.startswith("┏"))
    assert all(len(seg) >= 4 for seg in top.strip("┏┓").split("┳")), out


def _pending_approval(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = env / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "f").write_text("x\n")
    args = ["--arg", f"repo_path={repo}", "--arg", "message=a message long enough to need a wrapped cell", "--arg"]
    code, _, _ = run(capsys, "run", "git_commit", "--house", "bezalel", "--mode", "sovereign", *args, "add_all=true")
    assert code == 5


def test_tables_fit_80_columns(env: Path, narrow: None, capsys: pytest.CaptureFixture[str]) -> None:
    _pending_approval(env, capsys)
    code, out, _ = run(capsys, "houses")
    _check_table(out, ["house", "role", "forge user", "mode", "rules"])
    code, out, _ = run(capsys, "tools")
    _check_table(out, ["tool", "group", "mutates", "risk", "description"])
    code, out, _ = run(capsys, "approvals", "list")
    _check_table(out, ["id", "state", "house", "tool", "arguments"])
    flat = " ".join(out.split())
    assert "message=a message long enough" in flat and "add_all=true" in flat  # what is being approved
    code, out, _ = run(capsys, "upgrades", "list")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80


def test_events_tail_fits_80_columns(env: Path, narrow: None, capsys: pytest.CaptureFixture[str]) -> None:
    from uni_wizard.observe.events import EventLog
    from uni_wizard.testing import make_runtime

    runtime = make_runtime(env, data_dir=env / "data")
    data = {"house": "bezalel", "reasons": ["kind bug matches bezalel's lane", "fewest open issues"], "score": 3.5}
    EventLog(runtime.store, "test-host").emit_sync("issue.routed", "k1", repository="org/repo", number=12, data=data)
    runtime.close()
    code, out, _ = run(capsys, "events", "tail")
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80 and len(lines) <= 12, out
    assert "issue.routed" in out and "org/repo" in out


# -- mesh status -------------------------------------------------------------------------------------


def test_mesh_status_names_this_host_as_the_lease_holder(
    env: Path, narrow: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from uni_wizard.dispatch.store_lease import StoreLease
    from uni_wizard.testing import make_runtime

    runtime = make_runtime(env, data_dir=env / "data", roles=("dispatcher",))
    lease = StoreLease(runtime.store, holder="test-host", house="allegro", ttl=3600)
    assert asyncio.run(lease.acquire())
    runtime.close()
    code, out, _ = run(capsys, "mesh", "status", "--json")
    view = json.loads(out)
    assert code == 0 and view["lease"]["holder"] == "test-host" and view["lease"]["epoch"] == 1
    [row] = view["hosts"]
    assert (row["host"], row["lease_holder"], row["lease_epoch"]) == ("test-host", True, 1)
    code, out, _ = run(capsys, "mesh", "status")
    flat = " ".join(out.split())
    assert "lease: test-host (allegro), epoch 1" in flat and "nobody holds it" not in flat
    assert max(len(line) for line in out.splitlines()) <= 80


def test_mesh_status_asks_a_daemon_without_a_mesh_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from uni_wizard.assembly.mesh import build_mesh_node
    from uni_wizard.testing import make_runtime
    from uni_wizard.threaded_server import ThreadedServer
    from uni_wizard.web.app import create_app
    from uni_wizard.web.mesh_routes import mesh_router

    runtime = make_runtime(env / "daemon", host="solo")
    node = build_mesh_node(runtime.settings, runtime)  # no mesh_config: a mesh of one, as the daemon wires it
    daemon_app = create_app(runtime, routers=[mesh_router(node.view, refresh=node.lease.refresh)])
    with ThreadedServer(daemon_app, name="solo") as daemon:
        code, out, err = run(capsys, "mesh", "status", "--daemon", daemon.url, "--json")
    runtime.close()
    assert code == 0, err
    view = json.loads(out)
    assert view["host"] == "solo" and [row["host"] for row in view["hosts"]] == ["solo"]
    assert view["lease"]["holder"] is None and "store" in view["lease"]["source"]
