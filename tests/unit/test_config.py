"""Settings: a YAML file, ``UNIWIZARD_*`` overrides, secrets from files, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from uni_wizard.config import Settings, default_houses_dir, load_settings
from uni_wizard.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_from_yaml(tmp_path: Path) -> None:
    config = write(
        tmp_path / "settings.yaml",
        f"host: vps-1\ndata_dir: {tmp_path / 'state'}\nworkspace: {tmp_path}\nport: 9100\n"
        "bind: 0.0.0.0\nmax_retries: 3\nlog_level: DEBUG\nowner: alma\n",
    )
    settings = load_settings(config)
    assert settings.host == "vps-1"
    assert settings.data_dir == tmp_path / "state"
    assert settings.db_path == tmp_path / "state" / "uni-wizard.db"
    assert settings.workspace == tmp_path
    assert settings.port == 9100
    assert settings.bind == "0.0.0.0"
    assert settings.max_retries == 3
    assert settings.log_level == "DEBUG"
    assert settings.owner == "alma"
    assert settings.houses_dir == default_houses_dir()


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert settings.port == 8643
    assert settings.bind == "127.0.0.1"
    assert settings.api_token is None
    assert settings.secret("api_token") is None
    assert (settings.houses_dir / "timmy.yaml").is_file()


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path / "empty.yaml", "")).port == 8643


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "settings.yaml", "port: 9200\n")
    monkeypatch.setenv("UNIWIZARD_CONFIG", str(config))
    assert load_settings().port == 9200


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "settings.yaml", "port: 9100\nhost: from-file\n")
    monkeypatch.setenv("UNIWIZARD_PORT", "9300")
    settings = load_settings(config)
    assert settings.port == 9300
    assert settings.host == "from-file"


def test_environment_wins_over_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIWIZARD_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("UNIWIZARD_WORKSPACE", str(tmp_path))
    settings = Settings()
    assert settings.data_dir == tmp_path / "d"
    assert settings.workspace == tmp_path


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "port: 9100\n")
    assert load_settings(config, port=9400).port == 9400


def test_explicit_overrides_win_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIWIZARD_PORT", "9300")
    assert load_settings(None, port=9400).port == 9400


def test_state_directory_sets_the_default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path / 'one'}:{tmp_path / 'two'}")
    assert Settings().data_dir == tmp_path / "one"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "port: 9100\nprot: 9101\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value) == f"{config}:prot: unknown key"
    assert caught.value.source == str(config)
    assert caught.value.key == "prot"


def test_wrong_value_names_file_and_key(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "port: 70000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.source == str(config)
    assert caught.value.key == "port"
    assert str(caught.value).startswith(f"{config}:port: ")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "port: 9100\nhost: [unclosed\nbind: x\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert message.startswith(f"{config}:line ")
    assert "invalid YAML" in message
    assert caught.value.key is not None
    line = int(caught.value.key.removeprefix("line "))
    assert 2 <= line <= 4


def test_yaml_tab_indent_error_names_line_3(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "port: 9100\nhost: a\n\tbind: x\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "line 3"


def test_settings_file_must_be_a_mapping(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "- port\n- 9100\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(config) in str(caught.value)
    assert "mapping" in str(caught.value)


def test_missing_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(config) in str(caught.value)


def test_secret_reads_the_token_file(tmp_path: Path) -> None:
    token_file = write(tmp_path / "api-token", "tok-from-file\n")
    config = write(tmp_path / "settings.yaml", f"api_token_file: {token_file}\n")
    settings = load_settings(config)
    assert settings.api_token is None
    assert settings.secret("api_token") == "tok-from-file"


def test_secret_value_wins_over_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = write(tmp_path / "api-token", "tok-from-file\n")
    monkeypatch.setenv("UNIWIZARD_API_TOKEN", "tok-from-env")
    settings = load_settings(write(tmp_path / "settings.yaml", f"api_token_file: {token_file}\n"))
    assert settings.secret("api_token") == "tok-from-env"


def test_gitea_token_file(tmp_path: Path) -> None:
    token_file = write(tmp_path / "gitea-token", "gitea-tok\n")
    settings = Settings(gitea_token_file=token_file, data_dir=tmp_path, workspace=tmp_path, host="test-host")
    assert settings.secret("gitea_token") == "gitea-tok"


def test_missing_secret_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    settings = load_settings(write(tmp_path / "settings.yaml", f"api_token_file: {missing}\n"))
    with pytest.raises(ConfigError) as caught:
        settings.secret("api_token")
    assert str(missing) in str(caught.value)
    assert "cannot read the secret file" in str(caught.value)


def test_repr_never_shows_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIWIZARD_API_TOKEN", "very-secret-api-token")
    monkeypatch.setenv("UNIWIZARD_GITEA_TOKEN", "very-secret-gitea-token")
    settings = load_settings(write(tmp_path / "settings.yaml", "port: 9100\n"))
    assert settings.secret("api_token") == "very-secret-api-token"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "very-secret-api-token" not in text
        assert "very-secret-gitea-token" not in text


def test_repr_never_shows_a_token_from_the_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "settings.yaml", "api_token: yaml-held-token\n"))
    assert settings.secret("api_token") == "yaml-held-token"
    assert "yaml-held-token" not in repr(settings)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, workspace=tmp_path, host="test-host")
    with pytest.raises(ValueError):
        settings.port = 1  # type: ignore[misc]


def test_bad_environment_value_is_blamed_on_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "settings.yaml", "host: a\n")
    monkeypatch.setenv("UNIWIZARD_PORT", "not-a-port")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "port"
    assert str(config) not in str(caught.value)
    assert "UNIWIZARD_PORT" in str(caught.value) or caught.value.source == "environment"


def test_misspelt_environment_variable_is_an_error(monkeypatch) -> None:
    monkeypatch.setenv("UNIWIZARD_PROT", "9000")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "environment:UNIWIZARD_PROT: unknown variable" in str(err.value)


def test_log_level_is_validated(tmp_path) -> None:
    with pytest.raises(ConfigError, match="log_level"):
        load_settings(None, log_level="LOUD", data_dir=tmp_path)
    assert load_settings(None, log_level="debug", data_dir=tmp_path).log_level == "DEBUG"


def test_workspace_defaults_inside_the_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir("/")  # never the current directory: under systemd that is /
    assert load_settings(None, data_dir=tmp_path).workspace == tmp_path / "workspace"


# -- failing closed: roles, list variables, secrets, data_dir, origins ------------------------------------


def test_an_unknown_role_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "roles: [dispatcher, dispatchr]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value) == (
        f"{config}:roles: unknown role 'dispatchr' (known: dispatcher, worker, reviewer, reconciler)"
    )


@pytest.mark.parametrize(
    ("value", "roles"),
    [
        ("dispatcher", ("dispatcher",)),
        ("dispatcher,worker", ("dispatcher", "worker")),
        (" reviewer , worker ", ("reviewer", "worker")),
        ('["reviewer", "worker"]', ("reviewer", "worker")),
        ("", ()),
    ],
)
def test_a_list_variable_is_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, roles: tuple[str, ...]
) -> None:
    monkeypatch.setenv("UNIWIZARD_ROLES", value)
    assert load_settings().roles == roles


def test_a_list_variable_that_is_broken_json_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIWIZARD_ROLES", '["worker"')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.source == "environment variable UNIWIZARD_ROLES" and caught.value.key == "roles"


def test_origin_says_where_each_value_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "settings.yaml", "port: 9100\nhost: a\n")
    monkeypatch.setenv("UNIWIZARD_HOST", "b")
    settings = load_settings(config, bind="0.0.0.0")
    assert settings.origin("port") == str(config)
    assert settings.origin("host") == "environment variable UNIWIZARD_HOST"
    assert settings.origin("bind") == "arguments"
    assert settings.origin("owner") == "default"
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    assert load_settings().origin("data_dir") == "environment variable STATE_DIRECTORY"


@pytest.mark.parametrize("content", [b"", b"  \n\t\n", b"\xff\xfe"], ids=["empty", "blank", "not utf-8"])
def test_a_bad_secret_file_is_a_config_error_naming_the_key(tmp_path: Path, content: bytes) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_bytes(content)
    secret.chmod(0o600)
    config = write(tmp_path / "settings.yaml", f"webhook_secret_file: {secret}\n")
    settings = load_settings(config)
    with pytest.raises(ConfigError) as caught:
        settings.check_secrets()
    assert caught.value.source == str(config) and caught.value.key == "webhook_secret_file"
    assert str(secret) in str(caught.value)


def test_an_empty_secret_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIWIZARD_API_TOKEN", " ")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert (
        str(caught.value)
        == "environment variable UNIWIZARD_API_TOKEN:api_token: is empty: give the secret, or unset the key"
    )


def test_a_world_readable_secret_file_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "api-token"
    secret.write_text("tok\n")
    secret.chmod(0o644)
    settings = load_settings(write(tmp_path / "settings.yaml", f"api_token_file: {secret}\n"))
    with caplog.at_level("WARNING", logger="uni_wizard.config"):
        assert settings.secret("api_token") == "tok"
        assert settings.secret("api_token") == "tok"
    assert [r.getMessage() for r in caplog.records] == [
        f"api_token_file: the secret file {secret} is readable by every user: chmod o-r it (0600 or 0640)"
    ]


def test_check_data_dir_creates_nothing(tmp_path: Path) -> None:
    load_settings(None, data_dir=tmp_path / "a" / "b").check_data_dir()
    assert not (tmp_path / "a").exists()
    plain = write(tmp_path / "plain", "")
    for data_dir, problem in [
        (plain, f"{plain} is not a directory"),
        (plain / "data", f"{plain / 'data'} cannot be created: {plain} is not a directory"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_settings(None, data_dir=data_dir).check_data_dir()
        assert str(caught.value) == f"arguments:data_dir: {problem}"
    (tmp_path / "d" / "uni-wizard.db").mkdir(parents=True)
    with pytest.raises(ConfigError, match="uni-wizard.db is not a file"):
        load_settings(None, data_dir=tmp_path / "d").check_data_dir()


def test_a_settings_key_that_is_not_a_name_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", "1: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.source == str(config) and caught.value.key == "1"


def test_a_nul_in_a_path_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "settings.yaml", 'houses_dir: "a\\0b"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "houses_dir" and "NUL" in str(caught.value)


def test_every_yaml_problem_is_a_config_error(tmp_path: Path) -> None:
    from uni_wizard.configfile import read_yaml

    cases = {
        b"a: 2020-13-01\n": "invalid YAML value: month must be in 1..12",
        b"a: !!float abc\n": "invalid YAML value",
        b"[" * 2000: "nested too deeply",
        b"x: \xc3\x28\n": "line 1: not UTF-8 text (byte 3)",
        b"a: !!python/name:os.system\n": "invalid YAML: could not determine a constructor",
    }
    for raw, expected in cases.items():
        path = tmp_path / "f.yaml"
        path.write_bytes(raw)
        with pytest.raises(ConfigError) as caught:
            read_yaml(path)
        assert expected in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="is a directory"):
        read_yaml(tmp_path)


def test_every_list_valued_setting_takes_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIWIZARD_SANDBOX_ENV_NAMES", "LANG, TZ")
    monkeypatch.setenv("UNIWIZARD_SANDBOX_RO_BINDS", '["/opt/a,b", "/opt/c"]')
    settings = load_settings()
    assert settings.sandbox_env_names == ("LANG", "TZ")
    assert settings.sandbox_ro_binds == ("/opt/a,b", "/opt/c")
