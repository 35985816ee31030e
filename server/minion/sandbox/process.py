"""Running one command in the sandbox: the process, its output, its end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import probe
from .limits import _PidsCgroup, _free_bytes, _watch_disk, kill_group, process_cap
from .mounts import _resolve_cwd, build_bwrap_argv, build_plain_argv, sanitized_git_config, worktree_git_pointer
from .policy import MB, SandboxPolicy, sandbox_env

log = logging.getLogger("minion.sandbox")

TERM_GRACE_S = 2.0  # between SIGTERM and SIGKILL on timeout
DRAIN_GRACE_S = 1.0  # how long to wait for output after the command has ended
READ_CHUNK = 64 * 1024


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


class _HeadTail:
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


async def _pump(stream: asyncio.StreamReader, sink: _HeadTail) -> None:
    while chunk := await stream.read(READ_CHUNK):
        sink.feed(chunk)



class Sandbox:
    def __init__(self, policy: SandboxPolicy):
        if policy.mode not in ("bwrap", "none"):
            raise ValueError(f"unknown sandbox mode {policy.mode!r}")
        self.policy = policy
        self._git_config: Path | None = None  # the sanitized copy of .git/config, made once
        self.disk_budget: int | None = None  # bytes the run's commands may add to the disk
        self.disk_used = 0  # bytes they have added so far (less what they freed)

    check_available = staticmethod(probe.check_available)

    async def run(
        self, command: str, *, cwd: Path | None = None, timeout_s: float | None = None
    ) -> CommandResult:
        """Run ``bash -c command`` in the sandbox; cwd (default: the repo root) must be
        inside the repo. Command failures, timeouts and limits come back in the result."""
        policy = self.policy
        rel_cwd = _resolve_cwd(policy, cwd)
        if not (policy.worktree / rel_cwd).is_dir():
            message = f"minion: no such directory: {policy.repo_path / rel_cwd}\n"
            return CommandResult(1, message, timed_out=False, truncated=False, duration_s=0.0)
        if policy.mode == "bwrap":
            self.check_available()
        else:
            log.warning(
                'sandbox = "none": running %r UNSANDBOXED in %s, with full access to your '
                "files, network and credentials", command, policy.worktree,
            )
        policy.home.mkdir(parents=True, exist_ok=True)
        timeout = policy.limits.timeout_s if timeout_s is None else timeout_s
        env = sandbox_env(policy)
        with _git_pointer_fd(policy) as pointer_fd:
            if policy.mode == "bwrap":
                bwrap = shutil.which("bwrap") or "bwrap"
                if pointer_fd is not None and self._git_config is None:
                    self._git_config = sanitized_git_config(policy)
                argv = build_bwrap_argv(
                    policy, command, cwd=rel_cwd, env=env, git_pointer_fd=pointer_fd, git_config=self._git_config,
                    nproc_rlimit=process_cap().kind == "rlimit",
                    disable_userns=probe.supports_disable_userns(bwrap), bwrap=bwrap,
                )
                host_cwd = None
            else:
                argv = build_plain_argv(policy, command)
                host_cwd = policy.worktree / rel_cwd
            return await self._execute(argv, env, host_cwd, pointer_fd, timeout)

    async def _execute(self, argv, env, host_cwd, pass_fd, timeout) -> CommandResult:
        started = time.monotonic()
        output = _HeadTail(self.policy.limits.output_bytes)
        disk = os.open(self.policy.worktree, os.O_RDONLY | os.O_DIRECTORY)  # a handle on its filesystem
        free_at_start = _free_bytes(disk)
        if self.disk_budget is None:
            self.disk_budget = min(self.policy.limits.max_disk_mb * MB, free_at_start // 2)
        parent = process_cap().cgroup_parent
        cgroup = _PidsCgroup(parent, self.policy.limits.max_processes) if parent else None
        timed_out = disk_full = False
        proc = watchdog = None
        try:
            proc = await asyncio.create_subprocess_exec(
                *(cgroup.wrap(argv) if cgroup else argv),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, cwd=host_cwd,
                start_new_session=True,  # its own process group, so we can kill all of it
                pass_fds=() if pass_fd is None else (pass_fd,),
            )
            reader = asyncio.create_task(_pump(proc.stdout, output))
            floor = free_at_start - (self.disk_budget - self.disk_used)
            watchdog = asyncio.create_task(_watch_disk(proc, disk, floor))
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                timed_out = True
                await _terminate(proc)
            await _finish(reader)
            disk_full = watchdog.done() and watchdog.result()
        finally:
            # Also on cancellation: nothing we started may outlive the call.
            if watchdog is not None:
                watchdog.cancel()
            if proc is not None:
                if proc.returncode is None:
                    kill_group(proc.pid, signal.SIGKILL)
                    await proc.wait()
                kill_group(proc.pid, signal.SIGKILL)  # leftovers in the group (mode "none")
            if cgroup:
                await cgroup.release()
            self.disk_used += free_at_start - _free_bytes(disk)
            os.close(disk)
        text = output.text()
        if disk_full:
            text += (f"\n[minion: killed: the run's commands may add at most {self.disk_budget // MB} MB "
                     "to the disk; delete files to go on]\n")
        return CommandResult(
            exit_code=proc.returncode,
            output=text,
            timed_out=timed_out,
            truncated=output.cut > 0,
            duration_s=time.monotonic() - started,
        )



@contextlib.contextmanager
def _git_pointer_fd(policy: SandboxPolicy):
    """A pipe holding the ``.git`` pointer text for bwrap to read, or None."""
    pointer = worktree_git_pointer(policy) if policy.mode == "bwrap" else None
    if pointer is None:
        yield None
        return
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, pointer.encode())  # a few bytes: fits the pipe buffer
        os.close(write_fd)
        yield read_fd
    finally:
        os.close(read_fd)



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

