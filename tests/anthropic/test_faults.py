"""What the API and the network can do to a run: each fault is survived, or ends the run with
its status and the work so far committed."""

import socket

import pytest

from minion.runs.model import Status
from support.claude import FIX_ADD, events, on_branch
from support.fingerprint import assert_unchanged, fingerprint
from support.fake_anthropic import (
    Turn, dropped, overloaded, overloaded_in_stream, rate_limited, server_error, stall,
)
from support.script import text

FIXED = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    "fault, retried_by",
    [
        (rate_limited(retry_after=0.1), "sdk"),
        (overloaded(), "sdk"),
        (server_error(), "sdk"),
        (stall(seconds=5), "sdk"),  # no headers within the request timeout
        (dropped(after_events=4), "minion"),
        (overloaded_in_stream(after_events=4), "minion"),
        (stall(seconds=5, after_events=4), "minion"),  # the stream goes quiet halfway
    ],
    ids=["429", "529", "500", "stall", "drop-mid-stream", "overloaded-mid-stream", "stall-mid-stream"],
)
async def test_a_transient_fault_is_retried_and_the_run_ends_ok(api, run, repo, fault, retried_by):
    api.script([FIX_ADD], fault, [text("Done.")])
    final, _ = await run(request_timeout=0.5)

    assert final.status is Status.OK, final.summary
    assert on_branch(repo, final) == FIXED
    assert len(api.requests) == 3
    retries = events(final, "agent.retry")
    assert len(retries) == 1 and retries[0]["turn"] == 2
    assert ("delay_s" in retries[0]) == (retried_by == "minion")


async def test_retry_after_is_honoured(api, run, repo):
    api.script([FIX_ADD], rate_limited(retry_after=1), [text("Done.")])
    final, _ = await run()
    assert final.status is Status.OK
    assert api.requests[2].at - api.requests[1].at >= 1
    assert events(final, "agent.retry")[0]["retry_after_s"] == 1


async def test_a_broken_stream_counts_what_it_used(api, run, repo):
    api.script(Turn([FIX_ADD], usage={"input_tokens": 500, "output_tokens": 30}), dropped(after_events=3),
               Turn([text("Done.")], usage={"input_tokens": 700, "output_tokens": 10}))
    final, _ = await run()
    # The dropped attempt reported its input (message_start) before it broke: it is billed too.
    assert final.usage.input_tokens == 500 + 700 + 700
    assert final.usage.output_tokens == 30 + 1 + 10


async def test_when_the_sdk_gives_up_the_run_fails_with_its_work_committed(api, run, repo):
    api.script([FIX_ADD], overloaded(), overloaded())
    final, _ = await run(max_retries=1)
    assert final.status is Status.FAILED
    assert "529" in final.summary and "overloaded_error" in final.summary
    assert len(events(final, "agent.retry")) == 1  # two attempts: one retry, then the SDK gives up
    assert on_branch(repo, final) == FIXED


async def test_when_minion_gives_up_on_a_stream_the_run_fails_with_its_work_committed(api, run, repo):
    api.script([FIX_ADD], dropped(), dropped(), dropped())
    final, _ = await run(stream_retries=2)
    assert final.status is Status.FAILED
    assert "the stream broke 3 times" in final.summary
    assert len(events(final, "agent.retry")) == 2
    assert on_branch(repo, final) == FIXED


async def test_an_error_that_is_not_transient_fails_at_once(api, run, repo):
    api.script([FIX_ADD])  # then the fake answers 400: no scripted response left
    final, _ = await run()
    assert final.status is Status.FAILED
    assert "HTTP 400" in final.summary and "no scripted response left" in final.summary
    assert len(api.requests) == 2 and on_branch(repo, final) == FIXED


async def test_an_endpoint_that_is_down_for_the_whole_run_fails_it_cleanly(run, repo, monkeypatch):
    """Nothing listens at the base URL: the SDK's retries run out and the run ends `failed`."""
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-dummy-test-key-0123456789abcdefghij")
    before = fingerprint(repo)
    final, store = await run(max_retries=1)
    assert final.status is Status.FAILED
    assert "connection" in final.summary.lower()
    assert [n.status for n in store.nodes(final.id)][-2:] == ["failed", "ok"]  # the agent, then the commit
    assert_unchanged(before, fingerprint(repo))
