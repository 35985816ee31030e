"""Limits on what a sandboxed command may take: rlimits, the process cap, the disk watch."""

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

from .policy import Limits

log = logging.getLogger("minion.sandbox")

DISK_POLL_S = 0.02  # how often a running command's disk use is measured


def limits_script(limits: Limits, *, nproc: bool) -> str:
    """Shell prelude that sets the rlimits, then runs the command (passed as $1).

    ``ulimit`` without -S/-H sets both, so the command cannot raise them back. The process
    cap is an rlimit only where the kernel enforces it (see ProcessCap).
    """
    flags = f"-v {limits.memory_mb * 1024} -f {limits.max_file_mb * 1024}"
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


def pids_cgroup_candidates(proc_self_cgroup: str, mountinfo: str) -> list[tuple[Path, bool]]:
    """``(dir, is_v2)`` where a child cgroup with a pids limit might go, nearest first."""
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
        if not v2 and "pids" not in controllers.split(","):
            continue
        for fstype, root, point, opts in mounts:
            if (fstype == "cgroup2") if v2 else (fstype == "cgroup" and "pids" in opts):
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


def _cgroup_usable(directory: Path, v2: bool) -> bool:
    try:
        if v2 and "pids" not in (directory / "cgroup.subtree_control").read_text().split():
            return False  # children of this cgroup would not get the pids controller
        probe = directory / f"minion-{os.getpid()}-probe"
        probe.mkdir(exist_ok=True)
        try:
            (probe / "pids.max").write_text("16")
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
    try:
        candidates = pids_cgroup_candidates(
            Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text()
        )
    except OSError:
        candidates = []
    for directory, v2 in candidates:
        if _cgroup_usable(directory, v2):
            _remove_stale_cgroups(directory)
            return ProcessCap("cgroup", directory)
    log.warning(
        "minion runs as root and cannot create a pids cgroup, so sandboxed commands have "
        "no process limit (a fork bomb is stopped only by the timeout). Run minion as a "
        "normal user, or give it a writable cgroup (pids controller)."
    )
    return ProcessCap("none")


class _PidsCgroup:
    """A cgroup made for one command: ``pids.max``, then kill-all and removal at the end."""

    def __init__(self, parent: Path, max_processes: int):
        self.path = parent / f"minion-{os.getpid()}-{next(_cgroup_counter)}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(max_processes))

    def wrap(self, argv: list[str]) -> list[str]:
        """Join the cgroup before exec, so every descendant is counted from the start."""
        join = 'echo $$ > "$0/cgroup.procs" || exit 125; exec "$@"'
        return ["/bin/sh", "-c", join, str(self.path), *argv]

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



async def _watch_disk(proc: asyncio.subprocess.Process, disk: int, floor: int) -> bool:
    """SIGKILL the command's group once the free space on the filesystem of the ``disk`` fd
    drops below ``floor``; whether it did. Free space is what is measured, so other writers
    on that filesystem count against the run too."""
    while proc.returncode is None:
        await asyncio.sleep(DISK_POLL_S)
        if _free_bytes(disk) < floor:
            kill_group(proc.pid, signal.SIGKILL)
            return True
    return False


def _free_bytes(fd: int) -> int:
    st = os.fstatvfs(fd)
    return st.f_bavail * st.f_frsize



def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass

