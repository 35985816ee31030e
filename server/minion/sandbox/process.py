"""Running one command in the sandbox: the process, its output, its end."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import launch, probe, seccomp
from .gitstore import GitStore, build_store
from .gitstore import sync as sync_git_store
from .home import prepare_home
from .layers import prepare_layers
from .limits import (
    DiskBudget,
    MemoryCgroup,
    PidsCgroup,
    join_cgroups,
    kill_group,
    memory_cap,
    process_cap,
    watch_disk,
)
from .mounts import build_bwrap_argv, build_plain_argv, git_mounts, resolve_cwd
from .policy import DEFAULT_PATH, MB, SandboxPolicy, sandbox_env
from .view import View, build_view, dependency_dirs

log = logging.getLogger("minion.sandbox")

TERM_GRACE_S = 2.0  # between SIGTERM and SIGKILL on timeout
DRAIN_GRACE_S = 1.0  # how long to wait for output after the command has ended
READ_CHUNK = 64 * 1024
LAUNCH_FD = 100  # server_command: the first descriptor number its blobs get (launch.py)


@dataclass
class CommandResult:
    exit_code: int  # -N when minion killed it with signal N (timeout); the shell's 128+N
    #                 when the command itself died from signal N inside the sandbox
    output: str  # stdout+stderr interleaved, cut to head+tail
    timed_out: bool
    truncated: bool
    duration_s: float



# ---------------------------------------------------------------------------------------
# Output


class HeadTail:
    """Keeps the first and last bytes of a stream; memory stays bounded by ``limit``."""

    def __init__(self, limit: int):
        self.head_cap = limit // 2
        self.tail_cap = limit - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    @property
    def cut(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        if not self.cut:
            return (self.head + self.tail).decode("utf-8", errors="replace")
        marker = f"\n… [minion: {self.cut} bytes cut] …\n"
        return (
            self.head.decode("utf-8", errors="replace")
            + marker
            + self.tail.decode("utf-8", errors="replace")
        )


async def _pump(stream: asyncio.StreamReader, sink: HeadTail) -> None:
    while chunk := await stream.read(READ_CHUNK):
        sink.feed(chunk)



class Sandbox:
    def __init__(self, policy: SandboxPolicy):
        if policy.mode not in ("bwrap", "none"):
            raise ValueError(f"unknown sandbox mode {policy.mode!r}")
        self.policy = policy
        self._view: View | None = None
        self._git: GitStore | None = None
        self.disk_budget: DiskBudget | None = None  # made at the first command
        self._memory: MemoryCgroup | None = None  # while commands run
        self._active = 0

    check_available = staticmethod(probe.check_available)

    def view(self) -> View:
        """What the commands see; made at the first command (the private HOME, the writable
        layers and the tool cache folder with it)."""
        if self._view is None:
            policy = self.policy
            prepare_home(policy.home, policy.real_home)
            prepare_layers(policy, dependency_dirs(policy))
            self._git = self._build_git_store()
            git, git_data = git_mounts(policy, self._git.path if self._git else None)
            self._view = build_view(policy, git=git, git_data=git_data)
        return self._view

    def _build_git_store(self) -> GitStore | None:
        """The private git store of a linked worktree (the run's); a resumed run gets a new
        one, quickly, from the cache."""
        policy = self.policy
        if not (policy.worktree / ".git").is_file():
            return None
        dest = policy.git_store
        dest.parent.mkdir(mode=0o700, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        return build_store(repo_root=policy.repo_path, worktree=policy.worktree, dest=dest,
                           cache_dir=policy.git_cache, history=policy.git_history,
                           exclude=policy.exclude)

    async def run(
        self, command: str, *, cwd: Path | None = None, timeout_s: float | None = None
    ) -> CommandResult:
        """Run ``bash -c command`` in the sandbox; cwd (default: the repo root) must be
        inside the repo. Command failures, timeouts and limits come back in the result."""
        policy = self.policy
        rel_cwd = resolve_cwd(policy, cwd)
        if not (policy.worktree / rel_cwd).is_dir():
            message = f"minion: no such directory: {policy.repo_path / rel_cwd}\n"
            return CommandResult(1, message, timed_out=False, truncated=False, duration_s=0.0)
        timeout = policy.limits.timeout_s if timeout_s is None else timeout_s
        if policy.mode == "none":
            log.warning(
                'sandbox = "none": running %r UNSANDBOXED in %s, with full access to your '
                "files, network and credentials", command, policy.worktree,
            )
            policy.home.mkdir(parents=True, exist_ok=True)
            env = sandbox_env(policy, {}, os.environ.get("PATH") or DEFAULT_PATH)
            argv = build_plain_argv(policy, command)
            return await self._execute(argv, env, policy.worktree / rel_cwd, [], timeout)
        self.check_available()
        view = self.view()
        if self._git is not None:  # the host may have committed the run's work since
            sync_git_store(self._git)
        env = sandbox_env(policy, view.env, view.path, places=view.places)
        bwrap = shutil.which("bwrap") or "bwrap"
        with _data_fds(view.data) as fds, seccomp.filter_fd() as filter_fd:
            argv = build_bwrap_argv(
                policy, view, command, cwd=rel_cwd, env=env, data_fds=fds, seccomp_fd=filter_fd,
                nproc_rlimit=process_cap().kind == "rlimit", address_space=memory_cap().kind == "rlimit",
                disable_userns=probe.supports_disable_userns(bwrap), bwrap=bwrap,
            )
            return await self._execute(argv, env, None, [*fds.values(), filter_fd], timeout, keyring=True)

    def server_command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        """A command line that runs ``argv`` in the sandbox for as long as it lives, with
        ``env`` over the sandbox's environment: for a program that another library spawns
        (see launch.py). The spec it needs is written to a private file of the state dir.
        Its limits are the rlimits of a command; the cgroups and the disk watch of
        `run` do not follow a process that minion does not start itself."""
        policy = self.policy
        command = shlex.join(argv)
        if policy.mode == "none":
            return build_plain_argv(policy, command)
        self.check_available()
        view = self.view()
        if self._git is not None:
            sync_git_store(self._git)
        full_env = {**sandbox_env(policy, view.env, view.path, places=view.places), **env}
        blobs = dict(view.data)
        numbers = {name: LAUNCH_FD + i for i, name in enumerate(blobs)}
        seccomp_number = LAUNCH_FD + len(blobs)
        bwrap = shutil.which("bwrap") or "bwrap"
        bwrap_argv = build_bwrap_argv(
            policy, view, command, env=full_env, data_fds=numbers, seccomp_fd=seccomp_number,
            nproc_rlimit=process_cap().kind == "rlimit", address_space=memory_cap().kind == "rlimit",
            disable_userns=probe.supports_disable_userns(bwrap), bwrap=bwrap,
        )
        fds = {numbers[name]: data for name, data in blobs.items()} | {seccomp_number: seccomp.filter_program()}
        spec = {"argv": bwrap_argv, "fds": {str(n): base64.b64encode(d).decode() for n, d in fds.items()},
                "keyctl": seccomp.KEYCTL_SYSCALL}
        spec_dir = policy.state_dir / "launch"
        spec_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="launch-", suffix=".json", dir=spec_dir)  # mode 0600
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        # The file itself, isolated (-I): no import of minion's package, no PYTHON* variables.
        return [sys.executable, "-I", str(Path(launch.__file__)), path]

    async def _execute(self, argv, env, host_cwd, pass_fds: list[int], timeout, *,
                       keyring: bool = False) -> CommandResult:
        started = time.monotonic()
        limits = self.policy.limits
        output = HeadTail(limits.output_bytes)
        disk = os.open(self.policy.worktree, os.O_RDONLY | os.O_DIRECTORY)  # a handle on its filesystem
        if self.disk_budget is None:
            self.disk_budget = DiskBudget(disk, limits)
        budget = self.disk_budget
        before = budget.measure(disk)
        parent = process_cap().cgroup_parent
        pids = PidsCgroup(parent, limits.max_processes) if parent else None
        memory = self._join_memory_cgroup()
        oom_before = memory.oom_kills() if memory else 0
        procs_files = [os.fsencode(c.path / "cgroup.procs") for c in (pids, memory) if c]

        def preexec() -> None:
            join_cgroups(procs_files)
            if keyring:  # a fresh session keyring: nothing of minion's is in it
                seccomp.join_new_session_keyring()

        timed_out = False
        disk_full = None
        proc = watchdog = None
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, cwd=host_cwd,
                start_new_session=True,  # its own process group, so we can kill all of it
                pass_fds=pass_fds,
                preexec_fn=preexec if procs_files or keyring else None,
            )
            assert proc.stdout is not None  # stdout=PIPE
            reader = asyncio.create_task(_pump(proc.stdout, output))
            watchdog = asyncio.create_task(watch_disk(proc, disk, budget.floors(disk)))
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                timed_out = True
                await _terminate(proc)
            await _finish(reader)
            disk_full = watchdog.result() if watchdog.done() else None
        finally:
            # Also on cancellation: nothing we started may outlive the call.
            if watchdog is not None:
                watchdog.cancel()
            if proc is not None:
                if proc.returncode is None:
                    kill_group(proc.pid, signal.SIGKILL)
                    await proc.wait()
                kill_group(proc.pid, signal.SIGKILL)  # leftovers in the group (mode "none")
            if pids:
                await pids.release()
            out_of_memory = memory is not None and memory.oom_kills() > oom_before
            self._leave_memory_cgroup()
            budget.account(before, budget.measure(disk))
            os.close(disk)
        text = output.text()
        if disk_full == "bytes":
            text += (f"\n[minion: killed: the run's commands may add at most {budget.bytes // MB} MB "
                     "to the disk; delete files to go on]\n")
        elif disk_full == "inodes":
            text += (f"\n[minion: killed: the run's commands may add at most {budget.inodes} files and "
                     "folders; delete some to go on]\n")
        if out_of_memory:
            text += (f"\n[minion: killed: out of memory: the run's commands may use at most "
                     f"{limits.memory_mb} MB together, /tmp and /dev/shm included]\n")
        assert proc.returncode is not None  # waited for above (in the finally at the latest)
        return CommandResult(
            exit_code=proc.returncode,
            output=text,
            timed_out=timed_out,
            truncated=output.cut > 0,
            duration_s=time.monotonic() - started,
        )

    def _join_memory_cgroup(self) -> MemoryCgroup | None:
        """The run's memory cgroup, made when its first command starts; commands that run
        at the same time share it."""
        cap = memory_cap()
        if cap.cgroup_parent is None:
            return None
        if self._memory is None:
            self._memory = MemoryCgroup(cap.cgroup_parent, self.policy.limits.memory_mb)
        self._active += 1
        return self._memory

    def _leave_memory_cgroup(self) -> None:
        """Removed once no command runs: an idle run holds no cgroup."""
        if self._memory is None:
            return
        self._active -= 1
        if self._active == 0:
            self._memory.remove()
            self._memory = None


@contextlib.contextmanager
def _data_fds(blobs: dict[str, bytes]) -> Iterator[dict[str, int]]:
    """A pipe per blob, holding its bytes, for bwrap to read (``--ro-bind-data``)."""
    fds: dict[str, int] = {}
    try:
        for name, data in blobs.items():
            read_fd, write_fd = os.pipe()
            fds[name] = read_fd
            os.write(write_fd, data)  # a few bytes: fits the pipe buffer
            os.close(write_fd)
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, SIGKILL it after a grace period. In bwrap mode SIGTERM already
    ends bwrap, and --die-with-parent then kills the whole sandbox."""
    kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), TERM_GRACE_S)
    except TimeoutError:
        kill_group(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _finish(reader: asyncio.Task) -> None:
    """Collect the rest of the output. A process that escaped (possible only in mode
    "none" without a cgroup) may hold the pipe open: stop waiting after a grace period."""
    try:
        await asyncio.wait_for(reader, DRAIN_GRACE_S)
    except TimeoutError:
        pass  # wait_for has cancelled the reader

