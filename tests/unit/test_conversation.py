import pytest

from minion.agent.conversation import CLEARED, KEEP_HEAD, KEEP_RECENT, NOTE_HEAD, compact, with_cache_breakpoint
from minion.agent.tools import only_reads


def conversation(exchanges: int) -> list[dict]:
    """A task, then exchanges of (assistant: a thought and a call, user: a big result)."""
    messages = [{"role": "user", "content": [{"type": "text", "text": "Task: do it"}]}]
    for n in range(exchanges):
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": f"thought {n}"},
            {"type": "tool_use", "id": f"t{n}", "name": "bash", "input": {"command": "x" * 1000}}]})
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": "r" * 2000}]})
    return messages


def assert_valid(messages: list[dict]) -> None:
    """What the API requires: alternating roles from the user, every call answered next."""
    assert [m["role"] for m in messages] == ["user", "assistant"] * (len(messages) // 2) + ["user"] * (len(messages) % 2)
    for asked, answered in zip(messages[1::2], messages[2::2]):
        calls = [b["id"] for b in asked["content"] if b["type"] == "tool_use"]
        assert calls == [b["tool_use_id"] for b in answered["content"] if b["type"] == "tool_result"]


def test_clearing_old_results_comes_first_and_keeps_head_and_recent_turns():
    messages = conversation(10)
    head, recent = messages[:KEEP_HEAD], messages[-KEEP_RECENT:]
    report = compact(messages, remove_chars=1)
    assert_valid(messages)
    assert messages[:KEEP_HEAD] == head and messages[-KEEP_RECENT:] == recent
    assert report.dropped_turns == 0 and report.cleared_results == report.cleared_inputs == 6
    assert all(b["content"] == CLEARED for m in messages[KEEP_HEAD:-KEEP_RECENT] for b in m["content"]
               if b["type"] == "tool_result")


def test_dropping_old_exchanges_keeps_the_shape_and_a_note_of_what_was_said():
    messages = conversation(10)
    task, first, recent = messages[0], messages[1:KEEP_HEAD], messages[-KEEP_RECENT:]
    report = compact(messages, remove_chars=10**9)
    assert_valid(messages)
    assert report.dropped_turns == 6 and len(messages) == KEEP_HEAD + KEEP_RECENT
    assert messages[1:KEEP_HEAD] == first and messages[-KEEP_RECENT:] == recent
    assert messages[0]["content"][0] == task["content"][0]
    note = messages[0]["content"][-1]["text"]
    assert note.startswith(NOTE_HEAD) and "- thought 1" in note and "- thought 6" in note

    compact(messages, remove_chars=10**9)  # a second compaction keeps one note
    assert sum(b["text"].startswith(NOTE_HEAD) for b in messages[0]["content"] if b["type"] == "text") == 1


def test_the_cache_breakpoint_marks_the_latest_user_message_of_a_copy():
    messages = conversation(2) + [{"role": "assistant", "content": [{"type": "text", "text": "paused"}]}]
    sent = with_cache_breakpoint(messages)
    marked = [(i, j) for i, m in enumerate(sent) for j, b in enumerate(m["content"]) if "cache_control" in b]
    assert marked == [(4, 0)]
    assert not any("cache_control" in b for m in messages for b in m["content"])


@pytest.mark.parametrize("command, reads", [
    ("cat a.py | grep -n x", True),
    ("git diff && git log -3", True),
    ("ls 2>&1 | head > /dev/null", True),
    ("python -m pytest -q", False),
    ("sed -i s/a/b/ a.py", False),
    ("echo x > a.py", False),
    ("git commit -am x", False),
])
def test_read_only_commands_are_told_apart(command, reads):
    assert only_reads(command) is reads
