"""The shipped ``houses/*.yaml`` load and say what DESIGN §2 says; bad house files fail naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from uni_wizard.config import default_houses_dir
from uni_wizard.errors import ConfigError
from uni_wizard.policy.decide import DecisionContext, PolicyCall, decide
from uni_wizard.policy.loader import load_houses, load_policy
from uni_wizard.policy.model import HousePolicy, Mode

REPO_HOUSES = Path(__file__).resolve().parents[2] / "houses"
TIMMY_YAML = (REPO_HOUSES / "timmy.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def houses() -> dict[str, HousePolicy]:
    return load_houses(REPO_HOUSES)


def allowed(policy: HousePolicy, tool: str, group: str, *, mutates: bool = False) -> bool:
    return decide(policy, PolicyCall(tool, group, mutates), DecisionContext(Mode.INTELLIGENT)).allowed


def test_the_four_houses_load(houses: dict[str, HousePolicy]) -> None:
    assert set(houses) == {"timmy", "ezra", "bezalel", "allegro"}
    for name, policy in houses.items():
        assert policy.name == name
        assert policy.gitea_user == name
        assert policy.role
        assert policy.capabilities
        assert policy.keywords


def test_default_houses_dir_is_the_shipped_one() -> None:
    assert set(load_houses(default_houses_dir())) == {"timmy", "ezra", "bezalel", "allegro"}


def test_timmy_is_the_sovereign(houses: dict[str, HousePolicy]) -> None:
    timmy = houses["timmy"]
    assert timmy.rules.may_approve
    assert timmy.rules.may_merge
    assert timmy.rules.may_close_issues
    assert allowed(timmy, "git_status", "git")
    decision = decide(timmy, PolicyCall("service_control", "system", True), DecisionContext())
    assert decision.allowed and decision.needs_approval


def test_only_timmy_may_approve_or_merge(houses: dict[str, HousePolicy]) -> None:
    assert [n for n, p in houses.items() if p.rules.may_approve] == ["timmy"]
    assert [n for n, p in houses.items() if p.rules.may_merge] == ["timmy"]
    assert not any(p.rules.may_push_default_branch for p in houses.values())


def test_ezra_reads_before_it_writes(houses: dict[str, HousePolicy]) -> None:
    ezra = houses["ezra"]
    assert ezra.rules.read_before_write
    assert not ezra.rules.may_merge
    assert not allowed(ezra, "http_post", "network", mutates=True)
    assert allowed(ezra, "file_read", "file")


def test_bezalel_needs_proof_and_may_not_push_the_default_branch(houses: dict[str, HousePolicy]) -> None:
    bezalel = houses["bezalel"]
    assert bezalel.rules.proof_required
    assert not bezalel.rules.may_push_default_branch
    assert not bezalel.rules.may_approve
    assert not bezalel.rules.may_merge
    assert allowed(bezalel, "git_commit", "git", mutates=True)
    push_main = PolicyCall("git_push", "git", True, facts={"branch": "main", "default_branch": "main"})
    assert decide(bezalel, push_main, DecisionContext()).rule == "push_default_branch"
    push_topic = PolicyCall("git_push", "git", True, facts={"branch": "bezalel/issue-1", "default_branch": "main"})
    assert decide(bezalel, push_topic, DecisionContext()).allowed


def test_allegro_dispatches_and_does_no_issues(houses: dict[str, HousePolicy]) -> None:
    allegro = houses["allegro"]
    assert not allegro.rules.may_take_issues
    assert not allegro.rules.may_close_issues
    assert not allegro.rules.may_approve
    assert not allegro.rules.may_merge
    for tool, group in (("git_push", "git"), ("file_write", "file"), ("git_commit", "git")):
        decision = decide(allegro, PolicyCall(tool, group, True), DecisionContext())
        assert not decision.allowed
        assert decision.rule == "deny"
    assert allowed(allegro, "git_status", "git")
    assert [n for n, p in houses.items() if not p.rules.may_take_issues] == ["allegro"]


# -- bad house files ----------------------------------------------------------------


def house_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    return caught.value


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = house_file(tmp_path, "timmy", "name: timmy\nrole: [unclosed\ngitea_user: timmy\n")
    error = load_error(path)
    assert error.source == str(path)
    assert error.key is not None and error.key.startswith("line ")
    assert str(error).startswith(f"{path}:line ")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = house_file(tmp_path, "timmy", TIMMY_YAML + "favourite_colour: blue\n")
    error = load_error(path)
    assert str(error) == f"{path}:favourite_colour: unknown key"
    assert error.key == "favourite_colour"


def test_unknown_nested_key(tmp_path: Path) -> None:
    path = house_file(tmp_path, "timmy", TIMMY_YAML.replace("rules:\n", "rules:\n  may_fly: true\n"))
    error = load_error(path)
    assert str(error) == f"{path}:rules.may_fly: unknown key"
    assert error.key == "rules.may_fly"


def test_unknown_key_under_tools(tmp_path: Path) -> None:
    path = house_file(tmp_path, "timmy", TIMMY_YAML.replace("tools:\n", "tools:\n  maybe: ['*']\n"))
    assert load_error(path).key == "tools.maybe"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("max_concurrency: 1", "max_concurrency: lots", "max_concurrency"),
        ("bid_rate: 2.0", "bid_rate: 99", "bid_rate"),
        ("default_mode: intelligent", "default_mode: reckless", "default_mode"),
        ("  may_approve: true", "  may_approve: [yes, no]", "rules.may_approve"),
        ('read: ["{workspace}"]', "read: 7", "paths.read"),
        ("gitea_user: timmy", "gitea_user: 'timmy the great'", "gitea_user"),
    ],
)
def test_wrong_type_names_file_and_dotted_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in TIMMY_YAML
    path = house_file(tmp_path, "timmy", TIMMY_YAML.replace(old, new))
    error = load_error(path)
    assert error.source == str(path)
    assert error.key == key
    assert str(error).startswith(f"{path}:{key}: ")


def test_missing_required_key(tmp_path: Path) -> None:
    path = house_file(tmp_path, "timmy", "name: timmy\ngitea_user: timmy\n")
    error = load_error(path)
    assert error.key == "role"
    assert str(path) in str(error)


def test_name_must_match_the_file(tmp_path: Path) -> None:
    path = house_file(tmp_path, "tim", TIMMY_YAML)
    error = load_error(path)
    assert error.key == "name"
    assert str(error).startswith(f"{path}:name: ")
    assert "'timmy'" in str(error)


def test_a_house_file_must_be_a_mapping(tmp_path: Path) -> None:
    path = house_file(tmp_path, "timmy", "- timmy\n")
    assert str(path) in str(load_error(path))


def test_an_empty_house_file_is_an_error(tmp_path: Path) -> None:
    path = house_file(tmp_path, "timmy", "")
    assert str(path) in str(load_error(path))


def test_load_houses_reports_the_bad_file(tmp_path: Path) -> None:
    for source in REPO_HOUSES.glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    bad = tmp_path / "ezra.yaml"
    bad.write_text(bad.read_text(encoding="utf-8").replace("rules:\n", "rules:\n  may_fly: true\n"))
    with pytest.raises(ConfigError) as caught:
        load_houses(tmp_path)
    assert str(caught.value) == f"{bad}:rules.may_fly: unknown key"


def test_load_houses_needs_a_directory_with_houses(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_houses(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(caught.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_houses(tmp_path / "empty")
    assert "no house files" in str(caught.value)


def test_a_user_may_add_a_house(tmp_path: Path) -> None:
    house_file(
        tmp_path,
        "gimli",
        "name: gimli\nrole: miner - digs through logs\ngitea_user: gimli\ntools:\n  allow: ['file:*']\n",
    )
    houses = load_houses(tmp_path)
    assert set(houses) == {"gimli"}
    gimli = houses["gimli"]
    assert gimli.default_mode is Mode.INTELLIGENT
    assert gimli.rules.may_take_issues
    assert not gimli.rules.may_approve
    assert allowed(gimli, "file_list", "file")
    assert not allowed(gimli, "git_status", "git")
