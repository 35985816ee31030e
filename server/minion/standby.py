"""Standbys: minion processes that have done their imports, waiting for a command.

A fresh `minion run` spends over a second importing before it can send its first request
(the Anthropic SDK alone takes about one). `minion warm` leaves a standby behind: a process
that has imported everything a run needs and waits on a Unix socket in the state dir. The
`minion` launcher (launcher.py) hands `run`, `resume`, `revise`, `todo` and `demo` to a waiting
standby: its arguments, working folder, umask and environment, and its terminal itself
(file descriptors 0-2, passed over the socket), so the command runs exactly as it would
in the launcher's process, only without the wait. The launcher passes its signals on
(Ctrl-C cancels the run as it always does) and exits with the command's exit code.

A standby serves one command, then is gone; the next `minion warm` (after a run, or when
the editor opens a repository) starts another. An idle standby leaves after an hour.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import minion
from minion.state import state_dir

COMMANDS = {"run", "resume", "revise", "todo", "demo"}
IDLE_S = 3600
STARTUP_TIMEOUT_S = 60
_MAX_REQUEST_BYTES = 4 * 1024 * 1024  # arguments and environment
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH)


def standbys_dir() -> Path:
    path = state_dir() / "standby"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _identity() -> list[str]:
    """Which minion a process runs: a standby serves only a launcher of the same one."""
    return [sys.executable, str(Path(minion.__file__).resolve())]


# --- the launcher's side ---------------------------------------------------------------


def hand_over(argv: list[str]) -> int | None:
    """Run ``argv`` in a waiting standby and return its exit code; None when no standby
    took it (the caller then runs the command itself)."""
    for path in sorted(standbys_dir().glob("*.sock")):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            client.connect(str(path))
            greeting = _read_line(client)
        except ConnectionRefusedError:  # its standby died without removing it
            path.unlink(missing_ok=True)
            greeting = None
        except OSError:
            greeting = None
        standby = json.loads(greeting) if greeting else None
        if standby is None or standby["identity"] != _identity():  # it died, another launcher got it, another minion
            client.close()
            continue
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": _umask(),
                   "encoding": sys.stdout.encoding or "utf-8"}
        socket.send_fds(client, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        return _wait(client, standby["pid"])
    return None


def _wait(client: socket.socket, pid: int) -> int:
    """Pass signals on to the standby until it sends the command's exit code."""
    def forward(signum: int, _frame: object) -> None:
        _kill(pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in _SIGNALS}
    try:
        while True:
            try:
                line = _read_line(client)
                break
            except InterruptedError:
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        client.close()
    if line and line.startswith("exit "):
        return int(line.split()[1])
    print(f"minion: the standby process {pid} ended without finishing the command", file=sys.stderr)
    return 1


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _read_line(sock: socket.socket, data: bytes = b"") -> str | None:
    """One line from ``sock`` (after ``data``, already received); None if it closes first."""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > _MAX_REQUEST_BYTES:
            return None
    return data.decode("utf-8", "surrogateescape").removesuffix("\n")


# --- the standby's side ----------------------------------------------------------------


def spawn_standbys(wanted: int, *, wait: bool = False) -> None:
    """Start standbys until ``wanted`` are waiting (or starting) for this state dir; with
    ``wait``, until they all wait."""
    with open(standbys_dir() / ".spawn.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        waiting = [p for p in standbys_dir().glob("*.sock") if _alive(int(p.stem), p)]
        for _ in range(wanted - len(waiting) - len(_starting())):
            marker = standbys_dir() / f"{secrets.token_hex(4)}.starting"
            main = f"from minion.launcher import standby; standby({marker.stem!r})"
            child = subprocess.Popen([sys.executable, "-c", main], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            marker.write_text(str(child.pid))  # the child removes it once it waits
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while wait and time.monotonic() < deadline and _starting():
        time.sleep(0.05)


def _starting() -> list[Path]:
    """The markers of standbys still importing (a marker whose process died is removed)."""
    markers = []
    for marker in standbys_dir().glob("*.starting"):
        try:
            pid = int(marker.read_text() or "0")
        except (OSError, ValueError):
            continue
        if not pid or _alive(pid, marker):  # 0: its spawner is writing the pid
            markers.append(marker)
    return markers


def _alive(pid: int, path: Path) -> bool:
    """Whether the standby ``path`` stands for still runs; removes ``path`` if not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return False
    except PermissionError:
        pass
    return True


def serve(marker: str, run: Callable[[list[str]], int]) -> None:
    """A standby's main, once its imports are done: wait for one command, ``run`` it, leave.
    ``marker`` names the file that says it is still starting."""
    me = standbys_dir() / f"{os.getpid()}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(me))
    listener.listen(8)
    listener.settimeout(IDLE_S)
    (standbys_dir() / f"{marker}.starting").unlink(missing_ok=True)
    try:
        connection, request, fds = _accept(listener)
    finally:
        me.unlink(missing_ok=True)  # one command per standby
        listener.close()
    if connection is None:
        return
    _become(request, fds)
    code = _run(run, request["argv"])
    connection.sendall(f"exit {code}\n".encode())


def _accept(listener: socket.socket) -> tuple[socket.socket | None, dict, list[int]]:
    """The first launcher that sends a whole request; None when none came in time."""
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            return None, {}, []
        connection.settimeout(10)
        fds: list[int] = []
        try:
            connection.sendall(json.dumps({"pid": os.getpid(), "identity": _identity()}).encode() + b"\n")
            start, fds, _flags, _address = socket.recv_fds(connection, _MAX_REQUEST_BYTES, 3)
            message = _read_line(connection, start)
            connection.settimeout(None)
            if message is not None and len(fds) == 3:
                return connection, json.loads(message), fds
        except (OSError, ValueError):
            pass
        for fd in fds:
            os.close(fd)
        connection.close()


def _become(request: dict, fds: list[int]) -> None:
    """Take on the launcher's terminal, folder, umask and environment."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    encoding = request.get("encoding", "utf-8")
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding=encoding)
    for target, name in ((1, "stdout"), (2, "stderr")):
        stream = io.TextIOWrapper(open(target, "wb", buffering=0, closefd=False), encoding=encoding,
                                  errors="backslashreplace" if target == 2 else "strict",
                                  line_buffering=os.isatty(target), write_through=True)
        setattr(sys, name, stream)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["minion", *request["argv"]]


def _run(run: Callable[[list[str]], int], argv: list[str]) -> int:
    try:
        code = run(argv)
    except SystemExit as e:  # argparse's --help and usage errors
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code

