"""The fake server speaks the Messages API well enough for the real client, and the endpoint is configurable."""

import anthropic
from support.claude import API_KEY, FIX_ADD, on_branch
from support.fake_anthropic import Turn
from support.script import text


async def test_the_real_client_reads_json_and_sse_from_the_fake(api):
    api.script(Turn([text("plain JSON")]), Turn([text("streamed "), FIX_ADD], usage={"input_tokens": 42}))
    client = anthropic.AsyncAnthropic(base_url=api.url, api_key=API_KEY, max_retries=0)
    params = dict(model="claude-sonnet-5-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}])

    message = await client.messages.create(**params)
    assert message.content[0].text == "plain JSON" and message.stop_reason == "end_turn"

    async with client.messages.stream(**params) as stream:
        kinds = [event.type async for event in stream]
        message = await stream.get_final_message()
    assert message.stop_reason == "tool_use" and message.usage.input_tokens == 42
    assert message.content[1].input == FIX_ADD["input"]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "input_json" in kinds
    assert [r.body.get("stream", False) for r in api.requests] == [False, True]
    assert API_KEY in api.requests[0].headers["authorization"]


async def test_base_url_model_id_and_max_tokens_come_from_config(api, run, repo, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    api.script([FIX_ADD], [text("Done.")])
    final, _ = await run(model="anthropic:claude-opus-5", base_url=api.url, max_tokens=3000)
    assert final.status.value == "ok", final.summary
    assert "return a + b" in on_branch(repo, final)
    assert {(r.body["model"], r.body["max_tokens"]) for r in api.requests} == {("claude-opus-5", 3000)}
