import pytest

from minion.config import DEFAULT_MODEL, load_settings
from minion.errors import ConfigError


def test_defaults_without_any_file(tmp_path):
    settings = load_settings(tmp_path)
    assert settings.model == DEFAULT_MODEL
    assert settings.blueprint == "default"
    assert settings.sandbox == "bwrap"


def test_default_model_is_a_sonnet_the_sdk_knows():
    import typing

    from anthropic.types import ModelParam

    known = typing.get_args(typing.get_args(ModelParam)[0])
    model_id = DEFAULT_MODEL.split(":", 1)[1]
    assert model_id in known and "sonnet" in model_id


def test_layers_override_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "minion").mkdir(parents=True)
    (tmp_path / "xdg" / "minion" / "config.toml").write_text('blueprint = "fix"\nmax_turns = 5\nrepair_rounds = 1\n')
    repo = tmp_path / "repo"
    (repo / ".minion").mkdir(parents=True)
    (repo / ".minion" / "config.toml").write_text("max_turns = 4\nmax_cost_usd = 1.5\nrepair_rounds = 3\n")
    settings = load_settings(repo, editor={"maxCostUsd": 0.75}, flags={"max_cost_usd": None, "network": True})
    assert settings.blueprint == "fix"  # user file
    assert settings.repair_rounds == 3 and settings.max_turns == 4  # repo beats user
    assert settings.max_cost_usd == 0.75  # editor beats repo; a None flag is not set
    assert settings.network is True


def test_pyproject_tool_minion_section(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.minion]\nchecks = { unit = "pytest -q" }\n')
    assert load_settings(tmp_path).checks == {"unit": "pytest -q"}


def test_unknown_key_names_key_and_file(tmp_path):
    (tmp_path / ".minion").mkdir()
    (tmp_path / ".minion" / "config.toml").write_text("max_turnz = 3\n")
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path)
    assert "max_turnz" in str(e.value) and "config.toml" in str(e.value)


def test_wrong_type_names_key(tmp_path):
    (tmp_path / ".minion").mkdir()
    (tmp_path / ".minion" / "config.toml").write_text('max_cost_usd = "lots"\n')
    with pytest.raises(ConfigError, match="max_cost_usd"):
        load_settings(tmp_path)


def test_bad_toml_names_file(tmp_path):
    (tmp_path / ".minion").mkdir()
    (tmp_path / ".minion" / "config.toml").write_text("model = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path)


@pytest.mark.parametrize("line", ['base_url = "https://evil.example"', 'sandbox = "none"', "network = true",
                                  "prices = { x = { input = 0, output = 0 } }", "push = true"])
def test_a_repository_cannot_set_what_only_the_user_may(tmp_path, line):
    (tmp_path / ".minion").mkdir()
    (tmp_path / ".minion" / "config.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match="can only be set in your user config"):
        load_settings(tmp_path)


def test_a_repository_may_lower_caps_but_not_raise_them(tmp_path):
    (tmp_path / ".minion").mkdir()
    (tmp_path / ".minion" / "config.toml").write_text("max_cost_usd = 1000\nmax_turns = 3\n")
    settings = load_settings(tmp_path)
    assert settings.max_cost_usd == 5.0 and settings.max_turns == 3
    # The user, the editor and flags are trusted to raise them.
    assert load_settings(tmp_path, flags={"max_cost_usd": 20}).max_cost_usd == 20


@pytest.mark.parametrize("folder", [".", "", "/usr", "../x", ".git"])
def test_dependency_dirs_must_be_folders_inside_the_repo(tmp_path, folder):
    with pytest.raises(ConfigError, match="dependency_dirs"):
        load_settings(tmp_path, flags={"dependency_dirs": [folder]})
