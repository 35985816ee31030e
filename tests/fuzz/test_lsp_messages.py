"""Hostile LSP traffic: the server answers with errors and stays up (seeded, fixed examples)."""

import json
import os
import subprocess
import sys
import threading
import queue

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=80, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class RawClient:
    """Speaks LSP framing by hand, so it can also send what no real client would."""

    def __init__(self, state_dir):
        env = {**os.environ, "MINION_STATE_DIR": str(state_dir)}
        self.proc = subprocess.Popen([sys.executable, "-m", "minion.cli", "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0

    def _read(self):
        out = self.proc.stdout
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = out.read(1)
                if not byte:
                    return
                header += byte
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            self.inbox.put(json.loads(out.read(length)))

    def send_bytes(self, body: bytes, length: int | None = None):
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body)
        self.proc.stdin.flush()

    def send(self, message: dict):
        self.send_bytes(json.dumps(message).encode())

    def request(self, method: str, params, timeout: float = 5) -> dict:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = self.inbox.get(timeout=timeout)
            if message.get("id") == self.next_id and "method" not in message:
                return message

    def alive(self) -> bool:
        reply = self.request("workspace/executeCommand", {"command": "minion.runs", "arguments": []})
        return self.proc.poll() is None and "result" in reply


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    client = RawClient(tmp_path_factory.mktemp("state"))
    reply = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert "capabilities" in reply["result"]
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    yield client
    client.proc.kill()


METHODS = st.sampled_from([
    "textDocument/codeAction", "codeAction/resolve", "workspace/executeCommand", "textDocument/codeLens",
    "textDocument/didOpen", "textDocument/didChange", "textDocument/didClose", "workspace/didChangeConfiguration",
    "minion/nope", "$/cancelRequest", "textDocument/hover",
])
URIS = st.sampled_from(["file:///nonexistent/x.py", "untitled:Untitled-1", "http://example.com/a.py", "", "file://",
                        "file:///etc/passwd", "vscode-notebook-cell:/x"])
JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30), URIS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["uri", "range", "start", "line", "character", "textDocument", "context", "diagnostics",
                         "command", "arguments", "settings", "text", "version", "contentChanges", "x"]),
        inner, max_size=4)),
    max_leaves=12,
)
COMMANDS = st.fixed_dictionaries({
    "command": st.sampled_from(["minion.delegate", "minion.cancel", "minion.apply", "minion.applyHunk",
                                "minion.discard", "minion.openReport", "minion.runs", "rm -rf"]),
    "arguments": st.lists(JUNK, max_size=3),
})


@FUZZ
@given(method=METHODS, params=st.one_of(JUNK, COMMANDS), as_request=st.booleans())
def test_wrong_types_and_unknown_things_get_errors(server, method, params, as_request):
    message = {"jsonrpc": "2.0", "method": method, "params": params}
    if as_request:
        reply = server.request(method, params)
        assert ("result" in reply) != ("error" in reply)
    else:
        server.send(message)
    assert server.alive()


@FUZZ
@given(body=st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.sampled_from([b"{", b"[]", b"null", b'{"jsonrpc": "2.0"}', b'{"jsonrpc":"2.0","id":{},"method":1}',
                     b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":"x"}']),
))
def test_malformed_json_rpc_leaves_the_server_up(server, body):
    server.send_bytes(body)
    assert server.alive()


def test_huge_and_deeply_nested_params(server):
    depth = 100_000  # far past Python's recursion limit
    server.send_bytes(b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": ' + b"[" * depth + b"]" * depth + b"}")
    huge = {"textDocument": {"uri": "file:///tmp/huge.py", "languageId": "python", "version": 1,
                             "text": "x = 1\n" * 400_000}}
    server.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": huge})
    reply = server.request("textDocument/codeAction", {
        "textDocument": {"uri": "file:///tmp/huge.py"},
        "range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 3}},
        "context": {"diagnostics": []}})
    assert "error" not in reply and reply["result"] is None, reply  # answered: no actions outside a repo
    assert server.alive()


@pytest.mark.parametrize("method", ["textDocument/didClose", "initialized", "exit"])
def test_a_notification_sent_with_an_id_gets_an_error_answer(server, method):
    reply = server.request(method, {"textDocument": {"uri": "file:///tmp/x.py"}})
    assert reply["error"]["code"] == -32600
    assert server.alive()
