import json

import pytest

from minion.agent.models import ModelError, ModelRequest, RecordingModel, ScriptedModel
from minion.errors import ConfigError

REQUEST = ModelRequest(system=[], tools=[], messages=[], max_tokens=100)


def write(tmp_path, data) -> object:
    path = tmp_path / "script.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


async def test_scripted_turns_in_order_then_a_clear_failure(tmp_path):
    model = ScriptedModel(write(tmp_path, [
        [{"type": "tool_use", "name": "bash", "input": {"command": "ls"}}],
        [{"type": "text", "text": "done"}],
    ]))
    first = await model.reply(REQUEST, lambda *_, **__: None)
    assert first.stop_reason == "tool_use" and first.content[0]["id"]
    second = await model.reply(REQUEST, lambda *_, **__: None)
    assert second.stop_reason == "end_turn"
    with pytest.raises(ModelError, match="no more turns: all 2 turns"):
        await model.reply(REQUEST, lambda *_, **__: None)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not valid JSON"),
        ({"turns": []}, "expected a JSON array"),
        (["text"], "turn 0 must be an array"),
        ([[{"type": "image"}]], "turn 0, block 0"),
        ([[{"type": "tool_use", "name": "bash"}]], "needs \"name\" and an object \"input\""),
    ],
)
def test_malformed_scripts_name_the_problem(tmp_path, content, message):
    with pytest.raises(ConfigError, match=message):
        ScriptedModel(write(tmp_path, content))


def test_missing_script_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ScriptedModel(tmp_path / "nope.json")


async def test_recording_writes_a_replayable_script(tmp_path):
    turns = [[{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t1", "name": "bash", "input": {"command": "ls"}}]]
    recorder = RecordingModel(ScriptedModel(write(tmp_path, turns)), tmp_path / "rec.json")
    await recorder.reply(REQUEST, lambda *_, **__: None)
    assert json.loads((tmp_path / "rec.json").read_text()) == turns
    replay = await ScriptedModel(tmp_path / "rec.json").reply(REQUEST, lambda *_, **__: None)
    assert replay.content == turns[0] and replay.stop_reason == "tool_use"


async def test_a_turn_can_name_its_stop_reason_and_paths_are_recorded_repo_relative(tmp_path):
    cut = {"type": "tool_use", "id": "t1", "name": "str_replace_based_edit_tool",
           "input": {"command": "view", "path": str(tmp_path / "repo" / "a.py")}}
    source = write(tmp_path, [{"stop_reason": "max_tokens", "content": [cut]}])
    recorder = RecordingModel(ScriptedModel(source), tmp_path / "rec.json", repo_path=tmp_path / "repo")
    reply = await recorder.reply(REQUEST, lambda *_, **__: None)
    assert reply.stop_reason == "max_tokens"
    recorded = json.loads((tmp_path / "rec.json").read_text())
    assert recorded == [{"stop_reason": "max_tokens", "content": [{**cut, "input": {"command": "view", "path": "a.py"}}]}]


def test_an_unknown_stop_reason_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="stop_reason"):
        ScriptedModel(write(tmp_path, [{"stop_reason": "tired", "content": []}]))
