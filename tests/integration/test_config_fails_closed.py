"""Configuration fails closed, in one line: the real CLI (and daemon) in a subprocess, a temporary HOME.

Every configuration mistake ends with exit code 2 and exactly one line on stderr, ``error: SOURCE:KEY: ...``,
naming the file (or the environment variable) and the key; no traceback; nothing written (no store in the
data directory). A daemon never starts with a role it does not know, an invalid house or an empty secret.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from uni_wizard.cascade.config import load_cascade_config
from uni_wizard.config import default_houses_dir
from uni_wizard.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0
SERVE = ("serve", "--port", "0")
STORE_COMMANDS = [SERVE, ("houses",), ("provenance", "verify"), ("run", "system_info", "--house", "ezra")]
ROLE_LINE = "unknown role 'dispatchr' (known: dispatcher, worker, reviewer, reconciler)"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class Done:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()


@dataclass
class World:
    """A temporary HOME with a settings file; ``data`` is where a store would appear."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def settings(self) -> Path:
        return self.root / "settings.yaml"

    def write_settings(self, text: str = "") -> Path:
        self.settings.write_text(f"data_dir: {self.data}\nworkspace: {self.root}\nhost: test-host\n{text}")
        return self.settings

    def secret(self, name: str, content: str | bytes, mode: int = 0o600) -> Path:
        path = self.root / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(mode)
        return path

    def houses(self) -> Path:
        """A copy of the shipped houses, to break."""
        houses = self.root / "houses"
        if not houses.exists():
            shutil.copytree(default_houses_dir(), houses)
        return houses

    def run(self, *args: str, env: dict[str, str] | None = None, config: bool = True) -> Done:
        argv = [sys.executable, "-c", "from uni_wizard.cli import run; run()"]
        argv += ["--config", str(self.settings), *args] if config else list(args)
        proc = subprocess.Popen(
            argv,
            env={**self.env, **(env or {})},
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # a daemon that started instead of refusing
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return Done(-9, out, f"still running after {TIMEOUT} s (it started):\n{err}")
        return Done(proc.returncode, out, err)

    def refused(self, done: Done, *expected: str) -> str:
        """The contract: exit 2, one line on stderr holding ``expected``, no traceback, no store written."""
        assert done.code == 2, f"exit {done.code}\n{done.err}"
        assert len(done.lines) == 1, f"expected one line on stderr, got:\n{done.err}"
        line = done.lines[0]
        assert line.startswith("error: "), line
        for text in expected:
            assert text in line, f"{text!r} not in {line!r}"
        assert "Traceback" not in done.err + done.out
        assert not (self.data / "uni-wizard.db").exists(), "a store was written"
        assert not self.data.is_dir() or not any(self.data.iterdir()), f"{self.data} was written"
        return line


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    home.mkdir()
    drop = ("UNIWIZARD_", "NOTIFY_SOCKET", "WATCHDOG_", "STATE_DIRECTORY", "XDG_", "HOSTED_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["HOME"] = str(home)
    world = World(tmp_path, env)
    world.write_settings()
    yield world


def forge_settings(world: World) -> str:
    token = world.secret("gitea-token", "tok-123\n")
    return f"gitea_url: http://127.0.0.1:9\ngitea_token_file: {token}\n"


# -- 1. roles --------------------------------------------------------------------------------------


def test_a_misspelt_role_in_the_file_is_refused_listing_the_roles(world: World) -> None:
    config = world.write_settings("roles: [dispatchr]\n")
    world.refused(world.run(*SERVE), f"error: {config}:roles: {ROLE_LINE}")


def test_a_misspelt_role_in_the_environment_is_refused(world: World) -> None:
    done = world.run(*SERVE, env={"UNIWIZARD_ROLES": "worker,dispatchr"})
    world.refused(done, f"error: environment variable UNIWIZARD_ROLES:roles: {ROLE_LINE}")


# -- 2. houses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_an_invalid_house_file_stops_every_command_that_needs_houses(world: World, command: tuple[str, ...]) -> None:
    houses = world.houses()
    with (houses / "timmy.yaml").open("a") as fh:
        fh.write("bogus: 1\n")
    world.write_settings(f"houses_dir: {houses}\n")
    world.refused(world.run(*command), f"error: {houses / 'timmy.yaml'}:bogus: unknown key")


@pytest.mark.parametrize("broken", ["missing", "empty", "a file"])
def test_a_houses_dir_without_houses_names_houses_dir(world: World, broken: str) -> None:
    houses = world.root / "houses"
    if broken == "empty":
        houses.mkdir()
    elif broken == "a file":
        houses.write_text("")
    config = world.write_settings(f"houses_dir: {houses}\n")
    world.refused(world.run(*SERVE), f"error: {config}:houses_dir: {houses}: ")


# -- 3. secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["api_token_file", "gitea_token_file", "webhook_secret_file", "syncthing_api_key_file"])
@pytest.mark.parametrize("content", ["", " \n\t\n"], ids=["empty", "blank"])
def test_an_empty_secret_file_stops_the_daemon(world: World, key: str, content: str) -> None:
    secret = world.secret("secret", content)
    config = world.write_settings(f"{key}: {secret}\n")
    world.refused(world.run(*SERVE), f"error: {config}:{key}: the secret file {secret} is empty")


def test_a_secret_file_that_is_not_utf8_or_missing_stops_the_daemon(world: World) -> None:
    secret = world.secret("secret", b"\xff\xfe\x00tok")
    config = world.write_settings(f"webhook_secret_file: {secret}\n")
    world.refused(world.run(*SERVE), f"error: {config}:webhook_secret_file: the secret file {secret} is not UTF-8")
    config = world.write_settings(f"api_token_file: {world.root / 'nowhere'}\n")
    world.refused(world.run(*SERVE), f"error: {config}:api_token_file: cannot read the secret file")


def test_an_empty_secret_variable_stops_the_daemon(world: World) -> None:
    done = world.run(*SERVE, env={"UNIWIZARD_WEBHOOK_SECRET": "  "})
    world.refused(done, "error: environment variable UNIWIZARD_WEBHOOK_SECRET:webhook_secret: is empty")


def test_an_empty_provider_key_file_stops_the_daemon(world: World) -> None:
    key = world.secret("hosted-key", "\n")
    cascade = world.root / "cascade.yaml"
    cascade.write_text(
        "providers:\n  - name: lan\n    kind: openai-compatible\n    url: http://127.0.0.1:9/v1\n"
        f"    api_key_file: {key}\n    models: [{{name: m, context: 2048}}]\n"
    )
    world.write_settings(f"cascade_config: {cascade}\n")
    world.refused(world.run(*SERVE), f"error: {cascade}:providers.0.api_key_file: the secret file {key} is empty")


def test_a_world_readable_secret_file_is_a_warning_not_an_error(world: World) -> None:
    token = world.secret("gitea-token", "tok-123\n", mode=0o644)
    world.write_settings(f"gitea_url: http://127.0.0.1:9\ngitea_token_file: {token}\n")
    done = world.run("houses")
    assert done.code == 0, done.err
    assert done.lines == [
        f"gitea_token_file: the secret file {token} is readable by every user: chmod o-r it (0600 or 0640)"
    ]
    token.chmod(0o640)
    assert world.run("houses").err == ""


# -- 4. every YAML loader: not UTF-8, a syntax error, a directory, unreadable, not a mapping ---------------


def _break(path: Path, how: str) -> str:
    """Make ``path`` broken in the way ``how`` says; the part of the error line that follows the path."""
    if how == "not utf-8":
        path.write_bytes(b"# comment\nkey: \xff\xfe\n")
        return ":line 2: not UTF-8 text (byte 15)"
    if how == "syntax":
        path.write_text("a: [unclosed\nb: 1\n")
        return ":line 2: invalid YAML: expected ',' or ']'"
    if how == "a bad value":
        path.write_text("a: 2020-13-01\n")
        return ": invalid YAML value: month must be in 1..12"
    if how == "a directory":
        path.mkdir()
        return ": is a directory, not a YAML file"
    if how == "unreadable":
        path.write_text("a: 1\n")
        path.chmod(0)
        return ": cannot read: Permission denied"
    if how == "a list":
        path.write_text("- a\n- b\n")
        return ": a"  # "a ... file must be a mapping of keys"
    raise AssertionError(how)


HOW = ["not utf-8", "syntax", "a bad value", "a directory", "a list"] + ([] if IS_ROOT else ["unreadable"])
LOADERS = {  # settings key -> what else the daemon needs to read that file at start
    "cascade_config": "",
    "mesh_config": "",
    "triage_config": "roles: [reviewer]\nhouse: timmy\n",
    "review_config": "roles: [reviewer]\nhouse: timmy\n",
    "upgrades_config": "roles: [reviewer]\nhouse: timmy\n",
}


@pytest.mark.parametrize("how", HOW)
def test_a_broken_settings_file_is_one_line(world: World, how: str) -> None:
    world.settings.unlink()
    expected = _break(world.settings, how)
    world.refused(world.run("houses"), f"error: {world.settings}{expected}")


@pytest.mark.parametrize("how", HOW)
def test_a_broken_house_file_is_one_line(world: World, how: str) -> None:
    houses = world.houses()
    (houses / "ezra.yaml").unlink()
    expected = _break(houses / "ezra.yaml", how)
    world.write_settings(f"houses_dir: {houses}\n")
    world.refused(world.run(*SERVE), f"error: {houses / 'ezra.yaml'}{expected}")


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("key", sorted(LOADERS))
def test_a_broken_lane_config_stops_the_daemon_in_one_line(world: World, key: str, how: str) -> None:
    path = world.root / f"{key}.yaml"
    expected = _break(path, how)
    world.write_settings(f"{key}: {path}\n{LOADERS[key]}{forge_settings(world)}")
    world.refused(world.run(*SERVE), f"error: {path}{expected}")


def test_yaml_keys_that_are_not_names_are_refused(world: World) -> None:
    world.settings.write_text("~: 1\n")
    world.refused(world.run("houses"), f"error: {world.settings}:None: unknown key (a key is a name")


# -- 5. role errors at start: one line, no asyncio traceback ----------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("roles: [dispatcher]\n", "{config}:gitea_url: the dispatcher needs gitea_url and gitea_token"),
        ("roles: [worker]\n", "{config}:house: the worker role needs `house`"),
        ("roles: [worker]\nhouse: allegro\n", "{config}:house: house 'allegro' may not act as the worker"),
        ("roles: [reviewer]\nhouse: nobody\n", "{config}:house: no house 'nobody' in"),
        ("roles: [reconciler]\n", "{config}:gitea_url: the reconciler needs gitea_url"),
    ],
)
def test_a_role_that_cannot_start_stops_the_daemon_in_one_line(world: World, text: str, expected: str) -> None:
    config = world.write_settings(text)
    world.refused(world.run(*SERVE), "error: " + expected.format(config=config))


def test_a_token_missing_for_a_role_names_gitea_token(world: World) -> None:
    config = world.write_settings("roles: [dispatcher]\ngitea_url: http://127.0.0.1:9\n")
    world.refused(world.run(*SERVE), f"error: {config}:gitea_token: the dispatcher needs gitea_url and gitea_token")


def test_a_failure_after_the_daemon_opened_things_still_closes_them_and_exits_2(world: World) -> None:
    mesh = world.root / "mesh.yaml"  # Syncthing without its API key: found while the daemon builds its mesh node
    mesh.write_text(f"syncthing:\n  folder_path: {world.root / 'sync'}\n")
    world.write_settings(f"mesh_config: {mesh}\n")
    line = world.refused(world.run(*SERVE), "syncthing_api_key")
    assert "Task exception" not in line and "client has been closed" not in line


# -- 6. data_dir -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_a_data_dir_that_is_a_file_is_a_configuration_error(world: World, command: tuple[str, ...]) -> None:
    plain = world.root / "plain-file"
    plain.write_text("not a directory\n")
    config = world.write_settings(f"data_dir: {plain}\n")
    world.refused(world.run(*command), f"error: {config}:data_dir: {plain} is not a directory")
    assert plain.read_text() == "not a directory\n"


def test_a_data_dir_that_cannot_be_created_is_a_configuration_error(world: World) -> None:
    plain = world.root / "plain-file"
    plain.write_text("")
    done = world.run(*SERVE, env={"UNIWIZARD_DATA_DIR": str(plain / "data")})
    world.refused(
        done,
        f"error: environment variable UNIWIZARD_DATA_DIR:data_dir: {plain / 'data'} cannot be created: "
        f"{plain} is not a directory",
    )


@pytest.mark.skipif(IS_ROOT, reason="root may write in any directory")
def test_a_data_dir_that_is_not_writable_is_a_configuration_error(world: World) -> None:
    locked = world.root / "locked"
    locked.mkdir(mode=stat.S_IRUSR | stat.S_IXUSR)
    config = world.write_settings(f"data_dir: {locked / 'data'}\n")
    world.refused(
        world.run(*SERVE), f"error: {config}:data_dir: {locked / 'data'} cannot be created: {locked} is not writable"
    )


# -- 7. provider key variables ---------------------------------------------------------------------


def _cascade_with_key_env(world: World, variable: str) -> Path:
    cascade = world.root / "cascade.yaml"
    cascade.write_text(
        "providers:\n  - name: hosted\n    kind: openai-compatible\n    url: https://api.example.net/v1\n"
        f"    cloud: true\n    api_key_env: {variable}\n    models: [{{name: m, context: 2048}}]\n"
    )
    return cascade


def test_a_provider_key_variable_never_stops_a_command(world: World) -> None:
    cascade = _cascade_with_key_env(world, "HOSTED_API_KEY")
    world.write_settings(f"cascade_config: {cascade}\n")
    done = world.run("houses", env={"HOSTED_API_KEY": "sk-test"})
    assert done.code == 0 and done.err == "", done.err


def test_a_provider_key_variable_named_like_a_setting_is_refused_by_the_cascade_file(world: World) -> None:
    cascade = _cascade_with_key_env(world, "UNIWIZARD_HOSTED_API_KEY")
    world.write_settings(f"cascade_config: {cascade}\n")
    world.refused(world.run(*SERVE), f"error: {cascade}:providers.0.api_key_env: UNIWIZARD_* variables are settings")


def test_an_unknown_uniwizard_variable_says_where_provider_keys_go(world: World) -> None:
    done = world.run("houses", env={"UNIWIZARD_HOSTED_KEY": "sk-test"})
    world.refused(done, "error: environment:UNIWIZARD_HOSTED_KEY: unknown variable", "outside UNIWIZARD_")


def test_the_documented_and_the_shipped_cascade_examples_load(tmp_path: Path) -> None:
    """docs/OPERATIONS.md's cascade example and configs/cascade.yaml's commented cloud provider agree with the
    loader (a provider key variable outside UNIWIZARD_)."""
    docs = (REPO / "docs" / "OPERATIONS.md").read_text()
    section = docs[docs.index("## The model cascade") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    documented = tmp_path / "documented.yaml"
    documented.write_text(block.group(1))
    names = [p.api_key_env for p in load_cascade_config(documented).providers if p.api_key_env]
    assert names and not any(n.startswith("UNIWIZARD_") for n in names)
    shipped = (REPO / "configs" / "cascade.yaml").read_text()
    commented = re.search(r"\n  # - name: hosted\n((?:  #.*\n)+)", shipped)
    assert commented is not None
    lines = ["  # - name: hosted", *commented.group(1).splitlines()]
    uncommented = tmp_path / "uncommented.yaml"
    uncommented.write_text(shipped.replace("\n".join(lines), "\n".join(line.replace("# ", "", 1) for line in lines)))
    hosted = [p for p in load_cascade_config(uncommented).providers if p.name == "hosted"]
    assert hosted and hosted[0].api_key_env and not hosted[0].api_key_env.startswith("UNIWIZARD_")
    assert yaml.safe_load(shipped)["providers"]  # the shipped file itself still loads
    with pytest.raises(ConfigError, match="UNIWIZARD_"):
        load_cascade_config(_cascade_with_key_env(World(tmp_path), "UNIWIZARD_HOSTED_KEY"))


# -- 8. list-valued variables, the port --------------------------------------------------------------


def test_a_list_variable_may_be_comma_separated_or_json(world: World) -> None:
    for value in ("reviewer,worker", '["reviewer", "worker"]', "reviewer, worker"):
        done = world.run("houses", env={"UNIWIZARD_ROLES": value})
        assert done.code == 0, (value, done.err)
    done = world.run("houses", env={"UNIWIZARD_ROLES": '["reviewer"'})
    world.refused(done, "error: environment variable UNIWIZARD_ROLES:roles: cannot parse the value: give a list as a,b")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_busy_port_is_a_configuration_error(world: World, busy_port: int) -> None:
    done = world.run("serve", "--port", str(busy_port))
    world.refused(done, f"error: arguments:port: cannot listen on 127.0.0.1:{busy_port}: ")
    config = world.write_settings(f"port: {busy_port}\n")
    world.refused(world.run("serve"), f"error: {config}:port: cannot listen on 127.0.0.1:{busy_port}: ")


def test_an_address_this_host_does_not_have_names_bind(world: World) -> None:
    config = world.write_settings("bind: 203.0.113.7\n")  # TEST-NET-3: never a local address
    world.refused(world.run(*SERVE), f"error: {config}:bind: cannot listen on 203.0.113.7:0: ")
