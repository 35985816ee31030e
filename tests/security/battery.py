"""What the battery's tests share: the tally of attacks, planted secrets, a listener, runs."""

from __future__ import annotations

import socket
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minion.agent.tools import EDITOR
from minion.runs.events import log_path, read_events
from minion.config import Settings
from minion.engine.create import RunRequest, create_run, sandbox_for, snapshot_of
from minion.engine.execute import execute_run
from minion.runs.model import RunRecord
from minion.runs.store import RunStore
from minion.sandbox import Sandbox
from support.script import done, tool, write_script

PY = sys.executable  # a Python the sandbox sees (read-only), quicker to start than a shim

# --------------------------------------------------------------------------- the tally


@dataclass
class Attempt:
    test: str
    name: str
    blocked: bool
    evidence: str


ATTEMPTS: list[Attempt] = []


class Attacks:
    """What one test tried; ``check`` never raises, so every attack of a test is counted."""

    def __init__(self, test: str):
        self.test = test

    def check(self, name: str, blocked: bool, evidence: Any = "") -> None:
        ATTEMPTS.append(Attempt(self.test, name, bool(blocked), str(evidence)[-600:]))


# ------------------------------------------------------------------------- the secrets


def marker(what: str) -> str:
    """A unique secret value; no redaction pattern matches it, so a leak shows as itself."""
    return f"BATTERY-SECRET-{what}-{uuid.uuid4().hex[:12]}"


HOME_SECRETS = [
    ".ssh/id_ed25519", ".ssh/config", ".aws/credentials", ".gitconfig", ".netrc",
    ".git-credentials", ".config/gh/hosts.yml", ".docker/config.json", ".npmrc",
    ".bash_history", ".config/minion/config.toml",
]


@dataclass
class FakeHome:
    path: Path
    secrets: dict[str, str] = field(default_factory=dict)  # home-relative path -> marker
    readable: Path | None = None  # a file that is no secret: the sandbox does see it

    def plant(self) -> None:
        for rel in HOME_SECRETS:
            value = marker(rel.replace("/", "_"))
            path = self.path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_planted(rel, value))
            self.secrets[rel] = value
        self.readable = self.path / ".bashrc"
        self.readable.write_text("export EDITOR=vi  # no secret here\n")

    def leaks(self, text: str) -> list[str]:
        return [rel for rel, value in self.secrets.items() if value in text]


def _planted(rel: str, value: str) -> str:
    """The secret as a file of its kind. Host-side git and minion read the home's git
    config and minion config: those must stay valid."""
    if rel == ".gitconfig":
        return f"[http]\n\textraHeader = X-Deploy-Token: {value}\n"
    if rel.endswith(".toml"):
        return f"# {value}\n"
    return f"{value}\n"


# ------------------------------------------------------------------------ the listener


class Listener:
    """A TCP server on 127.0.0.1 that records every connection and the first bytes of each,
    answers once and hangs up."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    self.received += conn.recv(65536)
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nreached the host\n")
                except OSError:
                    pass

    def reset(self) -> None:
        self.connections, self.received = 0, b""

    def close(self) -> None:
        # shutdown() wakes the blocked accept(); a bare close() would leave the thread
        # accepting on whatever socket gets the same fd next.
        self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join()
        self.sock.close()


# ---------------------------------------------------------------------------- the runs


def editor(command: str, path: str, **args: Any) -> dict[str, Any]:
    return tool(EDITOR, command=command, path=path, **args)


@dataclass
class AgentRun:
    record: RunRecord
    store: RunStore
    calls: list[tuple[dict[str, Any], dict[str, Any]]]  # (agent.tool, agent.tool_result) events

    def output(self, index: int) -> str:
        return self.calls[index][1]["output"]

    def refused(self, index: int) -> bool:
        return self.calls[index][1]["is_error"]

    def seconds(self, index: int) -> float:
        call, result = self.calls[index]
        return result["ts"] - call["ts"]

    def log(self) -> str:
        return log_path(self.record.id).read_text()


async def agent_run(repo: Path, folder: Path, turns: list[list[dict]], *, buffers: dict[str, str] | None = None,
                    blueprint: str | None = None, **settings: Any) -> AgentRun:
    """A whole run of a blueprint (the default one) whose scripted model plays ``turns``, then ends."""
    model = write_script(folder, [*turns, done("Finished.")], f"script-{uuid.uuid4().hex[:6]}.json")
    store = RunStore()
    record = create_run(RunRequest(task="tidy the code", repo=repo, model=model, buffers=buffers or {},
                                   blueprint=blueprint, flags={"checks": {}, **settings}), store)
    final = await execute_run(record.id, store)
    events = read_events(log_path(final.id))
    calls = [e for e in events if e["type"] == "agent.tool"]
    results = [e for e in events if e["type"] == "agent.tool_result"]
    return AgentRun(final, store, list(zip(calls, results, strict=True)))


def run_sandbox(repo: Path, folder: Path, **settings: Any) -> Sandbox:
    """The sandbox a run of ``repo`` gets, built by the run service itself."""
    model = write_script(folder, [], f"idle-{uuid.uuid4().hex[:6]}.json")
    record = create_run(RunRequest(task="probe", repo=repo, model=model, flags=settings), RunStore())
    return sandbox_for(snapshot_of(record), record.settings)


def resumed_sandbox(sandbox: Sandbox) -> Sandbox:
    """The sandbox the run of ``sandbox`` gets when it resumes: built again, as
    ``execute_run`` does, from the run's record (same HOME, same worktree)."""
    record = RunStore().get(sandbox.policy.home.name)
    return sandbox_for(snapshot_of(record), record.settings)


# ------------------------------------------------------------------- more of the home

# Where other tools keep their credentials, besides HOME_SECRETS.
MORE_HOME_SECRETS = [
    ".codex/auth.json", ".config/github-copilot/hosts.json", ".pgpass", ".vault-token",
    ".config/containers/auth.json", ".cache/huggingface/token", ".config/rclone/rclone.conf", ".s3cfg",
    ".m2/settings.xml", ".gradle/gradle.properties", ".terraform.d/credentials.tfrc.json", ".gem/credentials",
    ".my.cnf", ".yarnrc.yml", ".gemini/oauth_creds.json", ".zshrc", ".python_history",
    ".local/share/keyrings/login.keyring", ".config/gcloud/credentials.db", ".kube/config",
]


def plant_more_secrets(home: FakeHome) -> None:
    """MORE_HOME_SECRETS in ``home``, each a marker of its own (``.zshrc`` exports one,
    as shell profiles do), added to ``home.secrets``."""
    for rel in MORE_HOME_SECRETS:
        value = marker(rel.replace("/", "_"))
        path = home.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"export OPENAI_API_KEY={value}\n" if rel == ".zshrc" else f"{value}\n")
        home.secrets[rel] = value


# --------------------------------------------------------------------- Unix listeners


class UnixListener:
    """A listening Unix socket at ``path`` (a leading NUL: an abstract name)."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen()
        self.sock.settimeout(0.01)

    def reached(self) -> bool:
        """Whether a connection is waiting (takes it)."""
        try:
            self.sock.accept()[0].close()
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()
        if not self.path.startswith("\0"):
            Path(self.path).unlink()
