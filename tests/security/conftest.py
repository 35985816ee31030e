"""The security battery: attacks an agent's commands, tool calls or repo could make.

Every attack goes through the product's own path: a scripted model's turns drive
`create_run`/`execute_run` (the agent loop, the tools, the bubblewrap sandbox, the
host-side commit), or, where the unit is the honest place, a run's own `Sandbox`. A test
reports each attack with ``attacks.check(name, blocked, evidence)``; a test with an attack
that was not blocked fails, and so does a test that takes ``attacks`` and reports none (it
would pass by doing nothing). The session ends with the line
``security: N attacks tried, N blocked, 0 succeeded``; a session that ran attack tests and
tried no attack at all (all of them skipped once started, say) fails. Each test also proves, where that
means something, that the attack would work without the protection (a positive control:
the secret is readable from the host, the listener answers the host ...).

Everything the sandbox must not reach lives under /var/tmp, never /tmp: the sandbox has a
private /tmp, so a file under /tmp would be hidden for the wrong reason.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from battery import ATTEMPTS, Attacks, FakeHome, Listener
from battery import MORE_HOME_SECRETS, plant_more_secrets
from support.gitrepo import make_repo


@pytest.fixture
def attacks(request) -> Attacks:
    return Attacks(request.node.nodeid)


# The attack tests (those that take `attacks`) this session started: not those a skip
# marker stopped before their setup.
ATTACK_TESTS: list[str] = []


def pytest_runtest_setup(item):
    if "attacks" in getattr(item, "fixturenames", ()):
        ATTACK_TESTS.append(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    tried = [a for a in ATTEMPTS if a.test == item.nodeid]
    succeeded = [a for a in tried if not a.blocked]
    if succeeded:
        pytest.fail("attacks that were not blocked:\n" + "\n".join(
            f"- {a.name}\n    evidence: {a.evidence}" for a in succeeded), pytrace=False)
    if not tried and "attacks" in item.fixturenames:
        pytest.fail("this test takes `attacks` but reported no attack: it would pass by doing nothing",
                    pytrace=False)
    return result


def pytest_sessionfinish(session):
    if ATTACK_TESTS and not ATTEMPTS and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if ATTEMPTS or ATTACK_TESTS:
        blocked = sum(a.blocked for a in ATTEMPTS)
        terminalreporter.write_line(
            f"security: {len(ATTEMPTS)} attacks tried, {blocked} blocked, "
            f"{len(ATTEMPTS) - blocked} succeeded")
    if ATTACK_TESTS and not ATTEMPTS:
        terminalreporter.write_line(
            f"security: FAILED: {len(ATTACK_TESTS)} attack tests started and none tried an attack",
            red=True, bold=True)


@pytest.fixture
def visible(monkeypatch) -> Path:
    """A folder the sandbox sees (read-only) through its root; the state dir is inside.

    World-traversable like many home folders, so nothing passes only because mkdtemp made
    it private."""
    root = Path(tempfile.mkdtemp(prefix="minion-battery-", dir="/var/tmp")).resolve()
    root.chmod(0o755)
    monkeypatch.setenv("MINION_STATE_DIR", str(root / "state"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def user_repo(visible) -> Path:
    return make_repo(visible / "user repo")


@pytest.fixture
def fake_home(visible, monkeypatch) -> FakeHome:
    """The user's home with the usual secrets planted. HOME points at it, so it is the
    ``real_home`` whose secret places a run's sandbox masks."""
    home = FakeHome(visible / "home")
    home.plant()
    for rel, value in home.secrets.items():  # positive control: the host reads them
        assert value in (home.path / rel).read_text()
    monkeypatch.setenv("HOME", str(home.path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


@pytest.fixture
def listener() -> Listener:
    server = Listener()
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as probe:
        probe.sendall(b"ping")
        assert b"reached the host" in probe.recv(100)  # positive control: the host reaches it
    server.reset()
    yield server
    server.close()


@pytest.fixture
def credentials_home(fake_home) -> FakeHome:
    """The fake home with MORE_HOME_SECRETS planted too."""
    plant_more_secrets(fake_home)
    for rel in MORE_HOME_SECRETS:  # positive control: the host reads them
        assert fake_home.secrets[rel] in (fake_home.path / rel).read_text()
    return fake_home
