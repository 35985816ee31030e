"""Privilege: tracing or signalling host processes, mounting, setuid binaries, kernel
settings. minion may run as root (the sandbox's processes then have the kernel uid 0,
without any capability): these attacks matter most there."""

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from battery import PY, agent_run
from support.script import bash

PTRACE_ATTACH, PTRACE_DETACH = 16, 17
PTRACE = (f"{PY} -c 'import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
          f"r = libc.ptrace({PTRACE_ATTACH}, int(sys.argv[1]), 0, 0); "
          "print(r, os.strerror(ctypes.get_errno())); sys.exit(r != 0)'")


def tracer_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("TracerPid:")[1].split()[0])


def host_can_ptrace(pid: int) -> bool:
    """Positive control: attach to the victim from the host, then let it go."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(PTRACE_ATTACH, pid, 0, 0) != 0:
        return False
    os.waitpid(pid, 0)
    libc.ptrace(PTRACE_DETACH, pid, 0, 0)
    return True


def mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


async def test_host_processes_are_out_of_reach(user_repo, tmp_path, attacks):
    victim = subprocess.Popen(["sleep", "60"])  # stands for the server, the editor, an ssh-agent
    try:
        assert host_can_ptrace(victim.pid)
        run = await agent_run(user_repo, tmp_path, [[
            bash(f"{PTRACE} {victim.pid}"),
            bash(f"gdb -p {victim.pid} -batch -ex 'call (int)getpid()'"),
            bash(f"head -c 64 /proc/{victim.pid}/mem | wc -c"),
            bash(f"kill -9 {victim.pid}"),
            bash("kill -0 -1"),  # signal 0: checks who it could kill, kills nobody if this regresses
        ]])
        traced = tracer_of(victim.pid)  # before poll(), which would reap a killed victim
        alive = victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
    attacks.check("ptrace(PTRACE_ATTACH) a host process", run.refused(0) and traced == 0, run.output(0))
    attacks.check("gdb -p a host process", run.refused(1) and traced == 0, run.output(1))
    attacks.check("read /proc/<host pid>/mem", "No such file" in run.output(2), run.output(2))
    attacks.check("kill -9 a host process", run.refused(3) and alive, run.output(3))
    attacks.check("signal every process it may (kill -0 -1)", run.refused(4), run.output(4))


@pytest.mark.skipif(os.geteuid() != 0, reason="the host-side positive control mounts as root")
async def test_mounts_and_kernel_settings(user_repo, visible, tmp_path, attacks):
    target = visible / "mnt"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(target)], check=True)  # positive control
    subprocess.run(["umount", str(target)], check=True)
    before = mounts()
    run = await agent_run(user_repo, tmp_path, [[
        bash(f"mount -t tmpfs none '{target}'"),
        bash(f"mount --bind / '{target}'"),
        bash("mount -o remount,rw / && touch /etc/minion-battery"),
        bash(f"unshare -Urm mount -t tmpfs none '{target}'"),
        bash("nsenter -t 1 -m -u -n -p true"),
        # Harmless if they ever got through: the same value back, and sysrq's help text.
        bash("cat /proc/sys/vm/swappiness > /proc/sys/vm/swappiness"),
        bash("echo h > /proc/sysrq-trigger"),
    ]])
    names = ["mount a tmpfs", "bind-mount /", "remount / read-write", "mount in a new user namespace",
             "enter pid 1's namespaces", "write a kernel setting in /proc/sys", "write /proc/sysrq-trigger"]
    for i, name in enumerate(names):
        attacks.check(f"bash: {name}", run.refused(i), run.output(i))
    attacks.check("the host's mounts are unchanged",
                  mounts() == before and not Path("/etc/minion-battery").exists())


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root and runuser")
async def test_setuid_binaries_give_nothing(user_repo, visible, tmp_path, attacks):
    """Inside, a setuid copy of bash runs without capabilities. Outside, the copy stays in
    the run's worktree, where no other user can reach it."""
    control = visible / "control-rootsh"
    shutil.copy("/bin/bash", control)
    control.chmod(0o4755)
    as_nobody = ["runuser", "-u", "nobody", "--"]
    # Positive control: a setuid-root copy in a world-traversable folder makes nobody root.
    euid = subprocess.run([*as_nobody, str(control), "-p", "-c", "id -u"], capture_output=True, text=True)
    assert euid.stdout.strip() == "0", euid
    run = await agent_run(user_repo, tmp_path, [[
        bash("cp /bin/bash rootsh && chmod u+s rootsh && ls -l rootsh && "
             "./rootsh -p -c 'grep -E \"^(CapEff|NoNewPrivs)\" /proc/self/status; touch /etc/minion-battery'"),
        bash("su -c 'grep CapEff /proc/self/status' root"),
    ]])
    attacks.check("run a setuid copy of bash inside",
                  "-rws" in run.output(0) and "CapEff:\t0000000000000000" in run.output(0)
                  and "NoNewPrivs:\t1" in run.output(0) and not Path("/etc/minion-battery").exists(), run.output(0))
    attacks.check("su inside", "CapEff:\t0000000000000000" in run.output(1) or run.refused(1), run.output(1))
    left = Path(run.record.worktree) / "rootsh"
    assert left.stat().st_mode & 0o4000  # the setuid bit is there on the host
    outside = subprocess.run([*as_nobody, str(left), "-p", "-c", "id -u"], capture_output=True, text=True)
    attacks.check("another user runs the setuid copy left in the worktree",
                  outside.returncode != 0 and outside.stdout.strip() != "0", outside)
