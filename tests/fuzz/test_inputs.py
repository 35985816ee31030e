"""Hostile and broken inputs get a clear error, never a crash (seeded, fixed example counts)."""

import json
import os
import tomllib

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minion.agent.models import ScriptedModel
from minion.cli import main
from minion.config import Settings, load_settings
from minion.errors import ConfigError

FUZZ = settings(max_examples=60, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SUBCOMMANDS = ["run", "list", "show", "logs", "cancel", "clean", "resume", "todo"]
WORDS = st.sampled_from(SUBCOMMANDS + ["--json", "--repo", "--model", "--max-cost", "--max-turns", "--dry-run",
                                       "--limit", "-1", "nan", "1e309", "scripted:", "anthropic:", "x" * 300, "", "\x00"])


@FUZZ
@given(argv=st.lists(st.one_of(WORDS, st.text(max_size=20)), max_size=6))
def test_cli_arguments_never_crash(argv, tmp_path_factory, capsys):
    """Whatever the arguments, minion exits 0, 1 or 2 with a message, not a traceback."""
    if argv[:1] == ["clean"]:
        argv = ["list"]  # clean is covered by its own tests; keep the fuzzer away from real worktrees
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("not-a-repo"))
    try:
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: usage errors exit 2, --help 0
            code = e.code
    finally:
        os.chdir(cwd)
    assert code in (0, 1, 2), argv
    assert "Traceback" not in capsys.readouterr().err


TOML_VALUES = st.recursive(
    st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)),
    max_leaves=6,
)
KEYS = st.one_of(st.sampled_from(sorted(Settings.model_fields)), st.text(min_size=1, max_size=12))


def to_toml(data: dict) -> str:
    def quoted(text: str) -> str:
        # A JSON string is a TOML basic string, once DEL (legal in JSON) is escaped too.
        return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return quoted(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{quoted(k)} = {value(x)}" for k, x in v.items()) + "}"

    return "".join(f"{quoted(k)} = {value(v)}\n" for k, v in data.items())


@FUZZ
@given(data=st.dictionaries(KEYS, TOML_VALUES, max_size=4))
def test_config_files_load_or_name_the_problem(data, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    (repo / ".minion").mkdir()
    text = to_toml(data)
    (repo / ".minion" / "config.toml").write_text(text)
    tomllib.loads(text)  # the generator makes valid TOML, so this exercises the validation
    try:
        load_settings(repo)
    except ConfigError as e:
        assert "config.toml" in str(e)


@FUZZ
@given(text=st.text(max_size=200))
def test_broken_toml_is_a_config_error(text, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    (repo / ".minion").mkdir()
    (repo / ".minion" / "config.toml").write_text(text)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        with pytest.raises(ConfigError, match="config.toml: not valid TOML"):
            load_settings(repo)
        return
    try:
        load_settings(repo)
    except ConfigError as e:
        assert "config.toml" in str(e)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
              st.fixed_dictionaries({"type": st.sampled_from(["text", "tool_use", "image"])},
                                    optional={"text": st.text(max_size=5), "name": st.text(max_size=5),
                                              "input": st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)})),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=2)),
    max_leaves=8,
)


@FUZZ
@given(content=st.one_of(JSON.map(json.dumps), st.text(max_size=50)))
def test_scripted_model_files_load_or_name_the_problem(content, tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "turns.json"
    path.write_text(content)
    try:
        model = ScriptedModel(path)
    except ConfigError as e:
        assert str(path) in str(e)
    else:
        assert all(block["type"] in ("text", "tool_use") for turn in model.turns for block in turn)
