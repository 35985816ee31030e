"""Limits on what a run's commands may take: rlimits, the process and memory caps (cgroups),
the disk and inode budget."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .policy import MB, Limits

log = logging.getLogger("minion.sandbox")

DISK_POLL_S = 0.02  # how often a running command's disk use is measured
# What other processes may write while a run over its disk budget frees space (see DiskBudget).
OVER_BUDGET_SLACK_BYTES = 4 * 1024 * 1024
OVER_BUDGET_SLACK_INODES = 64


def limits_script(limits: Limits, *, nproc: bool, address_space: bool = True) -> str:
    """Shell prelude that sets the rlimits, then runs the command (passed as $1).

    ``ulimit`` without -S/-H sets both, so the command cannot raise them back. The process
    cap is an rlimit only where the kernel enforces it (see ProcessCap). The address-space
    limit is per process, the fallback where no memory cgroup caps the run as a whole.
    """
    flags = f"-f {limits.max_file_mb * 1024}"
    if address_space:
        flags += f" -v {limits.memory_mb * 1024}"
    if nproc:
        flags += f" -u {limits.max_processes}"
    # bash -c, not -lc: login profiles (Debian's /etc/profile) reset PATH, which loses
    # pyenv shims and venvs.
    return f'ulimit {flags} || exit 125\nexec /bin/bash -c "$1"'



# ---------------------------------------------------------------------------------------
# The process cap
#
# RLIMIT_NPROC is enforced per (user namespace, uid), so for a normal user it caps just
# this sandbox when set inside bwrap's user namespace. When minion runs as root the
# sandbox's kernel uid is still 0 (bwrap maps the inner uid onto the caller's) and the
# kernel skips the check for uid 0, whatever the inner uid. Then we put the sandbox in a
# pids cgroup of its own, if we may create one; else there is no cap (and we say so).


@dataclass(frozen=True)
class ProcessCap:
    kind: Literal["rlimit", "cgroup", "none"]
    cgroup_parent: Path | None = None


_cgroup_counter = itertools.count(1)


def cgroup_candidates(controller: str, proc_self_cgroup: str, mountinfo: str) -> list[tuple[Path, bool]]:
    """``(dir, is_v2)`` where a child cgroup with ``controller`` might go, nearest first."""
    mounts = []  # (fstype, root, mountpoint, superopts)
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) >= 5 and len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])  # \040
            mounts.append((rfields[0], fields[3], point, rfields[2].split(",")))
    found = []
    for line in proc_self_cgroup.splitlines():
        hier, controllers, path = line.split(":", 2)
        v2 = hier == "0" and controllers == ""
        if not v2 and controller not in controllers.split(","):
            continue
        for fstype, root, point, opts in mounts:
            if (fstype == "cgroup2") if v2 else (fstype == "cgroup" and controller in opts):
                if not Path(path).is_relative_to(root):
                    continue
                top = Path(point)
                here = top / Path(path).relative_to(root)
                while True:
                    found.append((here, v2))
                    if here == top:
                        break
                    here = here.parent
                break
    return found


def _own_candidates(controller: str) -> list[tuple[Path, bool]]:
    try:
        return cgroup_candidates(controller, Path("/proc/self/cgroup").read_text(),
                                 Path("/proc/self/mountinfo").read_text())
    except OSError:
        return []


def _cgroup_usable(directory: Path, v2: bool, controller: str, knob: str, value: str) -> bool:
    try:
        if v2 and controller not in (directory / "cgroup.subtree_control").read_text().split():
            return False  # children of this cgroup would not get the controller
        probe = directory / f"minion-{os.getpid()}-probe"
        probe.mkdir(exist_ok=True)
        try:
            (probe / knob).write_text(value)
        finally:
            probe.rmdir()
        return True
    except OSError:
        return False


def _remove_stale_cgroups(parent: Path) -> None:
    """Empty leftovers of minion processes that died before cleaning up."""
    for child in parent.glob("minion-*-*"):
        try:
            pid = int(child.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                child.rmdir()
            except OSError:
                pass
        except (ValueError, OSError):
            pass


@functools.cache
def process_cap() -> ProcessCap:
    """How this process caps the number of processes in a sandbox (decided once)."""
    if os.geteuid() != 0:
        return ProcessCap("rlimit")
    for directory, v2 in _own_candidates("pids"):
        if _cgroup_usable(directory, v2, "pids", "pids.max", "16"):
            _remove_stale_cgroups(directory)
            return ProcessCap("cgroup", directory)
    log.warning(
        "minion runs as root and cannot create a pids cgroup, so sandboxed commands have "
        "no process limit (a fork bomb is stopped only by the timeout). Run minion as a "
        "normal user, or give it a writable cgroup (pids controller)."
    )
    return ProcessCap("none")


class PidsCgroup:
    """A cgroup made for one command: ``pids.max``, then kill-all and removal at the end."""

    def __init__(self, parent: Path, max_processes: int):
        self.path = parent / f"minion-{os.getpid()}-{next(_cgroup_counter)}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(max_processes))

    async def release(self) -> None:
        """SIGKILL whatever is left (daemons that escaped the process group), then rmdir."""
        deadline = time.monotonic() + 2.0
        while True:
            try:
                pids = (self.path / "cgroup.procs").read_text().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    log.warning("could not remove cgroup %s", self.path)
                    return
                await asyncio.sleep(0.01)



# ---------------------------------------------------------------------------------------
# The memory cap
#
# RLIMIT_AS is per process: three processes of 2 GB each are 6 GB. A memory cgroup counts
# the whole run (every command joins the run's cgroup), and the private tmpfs pages its
# commands write are charged to it too. Creating one needs a writable cgroup: root on
# cgroup v1 or v2, or a delegated v2 subtree. Without one, each process gets RLIMIT_AS.


@dataclass(frozen=True)
class MemoryCap:
    kind: Literal["cgroup", "rlimit"]
    cgroup_parent: Path | None = None


@functools.cache
def memory_cap() -> MemoryCap:
    """How this process caps a run's memory (decided once)."""
    for directory, v2 in _own_candidates("memory"):
        if _cgroup_usable(directory, v2, "memory", "memory.max" if v2 else "memory.limit_in_bytes", str(64 * MB)):
            _remove_stale_cgroups(directory)
            return MemoryCap("cgroup", directory)
    log.warning(
        "minion cannot create a memory cgroup, so a run's memory is capped per process "
        "(RLIMIT_AS), not for the run as a whole. Run minion as root, or give it a writable "
        "cgroup with the memory controller."
    )
    return MemoryCap("rlimit")


class MemoryCgroup:
    """One run's memory cgroup: every command of the run joins it, so the cap holds for all
    of them together. Swap is capped too (v1 ``memsw``, v2 ``swap.max``) where the kernel
    accounts it, so memory cannot spill out."""

    def __init__(self, parent: Path, limit_mb: int):
        self.path = parent / f"minion-{os.getpid()}-{next(_cgroup_counter)}"
        self.path.mkdir()
        self.v2 = (self.path / "memory.max").exists()
        limit = str(limit_mb * MB)
        if self.v2:
            (self.path / "memory.max").write_text(limit)
            _write_if_there(self.path / "memory.swap.max", "0")
        else:
            (self.path / "memory.limit_in_bytes").write_text(limit)
            _write_if_there(self.path / "memory.memsw.limit_in_bytes", limit)  # after the plain limit

    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the cap, so far."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError as e:
            log.warning("could not remove cgroup %s: %s", self.path, e)


def _write_if_there(knob: Path, value: str) -> None:
    try:
        knob.write_text(value)
    except FileNotFoundError:
        pass


def join_cgroups(procs_files: list[bytes]) -> None:
    """For a subprocess preexec_fn: move the child into the cgroups before it execs, so
    every descendant is counted from the start. No locks, no allocation worth the name."""
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"0")  # "0": the writing process
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------
# The disk budget


class DiskBudget:
    """What all commands of one run may add to the worktree's filesystem, in bytes and in
    inodes: the limits, and never more than half of what was free at the first command, so
    the run store beside it can always record the run's end."""

    def __init__(self, fd: int, limits: Limits):
        st = os.fstatvfs(fd)
        self.bytes = min(limits.max_disk_mb * MB, st.f_bavail * st.f_frsize // 2)
        # Filesystems without a fixed inode table (btrfs) report none: nothing to watch.
        self.inodes = min(limits.max_inodes, st.f_favail // 2) if st.f_files else None
        self.used_bytes = self.used_inodes = 0

    def floors(self, fd: int) -> tuple[int, int | None]:
        """The free bytes and inodes below which the running command is killed.

        A run over its budget (a burst between two polls) may still run commands, but only
        ones that free space: one is killed once it takes more than a slack. Free space is
        what is measured, and other processes write to the filesystem meanwhile; without
        the slack, their writes would kill the command that deletes the run's files. (So
        an over-budget run can still grow by the slack a command.)
        """
        st = os.fstatvfs(fd)
        bytes_left = self.bytes - self.used_bytes
        inodes_left = (self.inodes or 0) - self.used_inodes
        if bytes_left <= 0 or (self.inodes is not None and inodes_left <= 0):
            bytes_left = max(bytes_left, OVER_BUDGET_SLACK_BYTES)
            inodes_left = max(inodes_left, OVER_BUDGET_SLACK_INODES)
        byte_floor = st.f_bavail * st.f_frsize - bytes_left
        inode_floor = None if self.inodes is None else st.f_favail - inodes_left
        return byte_floor, inode_floor

    def measure(self, fd: int) -> tuple[int, int]:
        st = os.fstatvfs(fd)
        return st.f_bavail * st.f_frsize, st.f_favail

    def account(self, before: tuple[int, int], after: tuple[int, int]) -> None:
        self.used_bytes += before[0] - after[0]
        self.used_inodes += before[1] - after[1]


async def watch_disk(proc: asyncio.subprocess.Process, fd: int, floors: tuple[int, int | None]) -> str | None:
    """SIGKILL the command's group once the free bytes or inodes on the filesystem of ``fd``
    drop below their floor; which one it was. Free space is what is measured, so other
    writers on that filesystem count against the run too."""
    byte_floor, inode_floor = floors
    while proc.returncode is None:
        st = os.fstatvfs(fd)
        over = ("bytes" if st.f_bavail * st.f_frsize < byte_floor else
                "inodes" if inode_floor is not None and st.f_favail < inode_floor else None)
        if over:
            kill_group(proc.pid, signal.SIGKILL)
            return over
        await asyncio.sleep(DISK_POLL_S)
    return None


def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass

