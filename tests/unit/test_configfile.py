"""``configfile.load_model``: the one loader every YAML configuration goes through, and ``RepoRef``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from uni_wizard.configfile import load_model
from uni_wizard.errors import ConfigError, ToolCallError
from uni_wizard.reporef import RepoName, RepoRef


class Lenient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repos: tuple[RepoName, ...] = ()
    poll_seconds: float = Field(5.0, gt=0)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org: str


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", ["", "\n", "# nothing set yet\n", "---\n"])
def test_an_empty_file_is_the_defaults(tmp_path: Path, text: str) -> None:
    assert load_model(Lenient, write(tmp_path / "c.yaml", text)) == Lenient()


def test_an_empty_file_of_a_model_with_required_keys_names_the_first_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "layout.yaml", "# empty\n")
    with pytest.raises(ConfigError) as caught:
        load_model(Strict, path, kind="a layout file")
    assert (caught.value.source, caught.value.key) == (str(path), "org")


def test_no_path_reads_the_default_and_no_default_is_the_models_defaults(tmp_path: Path) -> None:
    shipped = write(tmp_path / "shipped.yaml", "poll_seconds: 2\n")
    assert load_model(Lenient, None, default=shipped).poll_seconds == 2.0
    assert load_model(Lenient, write(tmp_path / "mine.yaml", "poll_seconds: 3\n"), default=shipped).poll_seconds == 3
    assert load_model(Lenient, None) == Lenient()


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("- a\n- b\n", None, "a review file must be a mapping of keys"),
        ("pol_seconds: 1\n", "pol_seconds", "unknown key"),
        ("poll_seconds: 0\n", "poll_seconds", "greater than 0"),
        ("repos: [mesh/work, nowhere]\n", "repos.1", "repo must be 'owner/name'"),
        ("repos: [\n", "line 2", "invalid YAML"),
    ],
)
def test_every_problem_names_the_file_and_the_key(tmp_path: Path, text: str, key: str | None, words: str) -> None:
    path = write(tmp_path / "review.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_model(Lenient, path, kind="a review file")
    assert (caught.value.source, caught.value.key) == (str(path), key)
    assert words in str(caught.value) and str(caught.value).startswith(str(path))


def test_a_repo_ref_parses_owner_and_name_and_prints_them_back() -> None:
    ref = RepoRef.parse("mesh/work")
    assert (ref.owner, ref.name, str(ref)) == ("mesh", "work", "mesh/work")
    owner, name = ref
    assert (owner, name) == ("mesh", "work")


@pytest.mark.parametrize("text", ["mesh", "mesh/", "/work", "a/b/c", "mesh/..", "./work", "me sh/work", ""])
def test_a_malformed_repo_ref_is_the_callers_error(text: str) -> None:
    with pytest.raises(ConfigError, match="owner/name"):
        RepoRef.parse(text)
    with pytest.raises(ToolCallError, match="owner/name"):
        RepoRef.parse(text, error=ToolCallError)
