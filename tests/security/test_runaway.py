"""Commands that would take the machine down or outlive their call: a fork bomb, infinite
output, a process that ignores SIGTERM, daemons left behind, filling the disk."""

import asyncio
import os
import resource
import subprocess
import uuid
from pathlib import Path

import pytest

from battery import agent_run
from minion.sandbox import TERM_GRACE_S, process_cap
from support.procs import processes_with
from support.script import bash

TIMEOUT = 2  # command_timeout of these runs



def log_size(run) -> int:
    return len(run.log().encode())


async def test_runaway_commands_end_with_their_call(user_repo, tmp_path, attacks):
    if process_cap().kind == "none":
        pytest.skip("no process limit on this host (root without a pids cgroup)")
    token = f"minion-battery-{uuid.uuid4().hex}"
    repo = user_repo
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    turns = [
        [bash(f"# {token}\n:(){{ :|:& }};:\nsleep 5")],  # the shell waits: the bomb meets the cap
        [bash("echo $$ > /sys/fs/cgroup/pids/cgroup.procs; echo $$ > /sys/fs/cgroup/cgroup.procs; "
              "for f in /sys/fs/cgroup/pids/minion-*/pids.max; do echo max > $f; done")],
        [bash("yes 'infinite output'")],
        [bash(f"trap '' TERM; while :; do sleep 0.1; done # {token}")],
        [bash(f"(sleep 1; echo alive > '{repo}/d-subshell') &\n"
              f"nohup bash -c 'sleep 1; echo alive > d-nohup' {token} >/dev/null 2>&1 &\n"
              f"setsid -f bash -c 'sleep 1; echo alive > d-setsid' {token} </dev/null >/dev/null 2>&1\n"
              f"sleep 1000 {token} &\ndisown -a; echo launched")],
    ]
    run = await agent_run(repo, tmp_path, turns, command_timeout=TIMEOUT)
    left = processes_with(token)
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    await asyncio.sleep(1.5)  # the daemons would have written by now
    daemons_wrote = list(Path(run.record.worktree).glob("d-*"))

    host_forks = subprocess.run(["true"]).returncode == 0
    attacks.check("fork bomb", "Resource temporarily unavailable" in run.output(0) and host_forks
                  and run.seconds(0) < TIMEOUT + TERM_GRACE_S + 2 and not left, run.output(0))
    attacks.check("leave the pids cgroup or raise its limit", run.refused(1), run.output(1))
    attacks.check("infinite output", "[timed out and was killed]" in run.output(2)
                  and log_size(run) < 200_000 and rss_growth_mb < 64, (log_size(run), rss_growth_mb))
    attacks.check("a process that ignores SIGTERM", "[timed out and was killed]" in run.output(3)
                  and run.seconds(3) < TIMEOUT + TERM_GRACE_S + 1.5 and not left, run.seconds(3))
    attacks.check("background daemons outliving the command", "launched" in run.output(4)
                  and not left and not daemons_wrote, (left, daemons_wrote))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs for the state dir")
async def test_filling_the_disk_of_the_worktree(visible, user_repo, tmp_path, monkeypatch, attacks):
    """The worktree lives in the state dir, here a 1 GB tmpfs (as fast as a disk gets): the
    run may take about half of what is free, however its commands write."""
    state = visible / "small disk"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "minion-battery", str(state)], check=True)
    try:
        monkeypatch.setenv("MINION_STATE_DIR", str(state))
        fill = "for i in $(seq 1 160); do head -c 8M /dev/zero > fill-$i.bin || break; done"
        # Positive control: the same loop, unsandboxed, fills this filesystem.
        control = subprocess.run(["bash", "-c", fill], cwd=state, capture_output=True, text=True)
        assert "No space left on device" in control.stderr
        subprocess.run(["bash", "-c", "rm -f fill-*.bin"], cwd=state, check=True)
        free_mb = os.statvfs(state).f_bavail * os.statvfs(state).f_frsize // 2**20

        run = await agent_run(user_repo, tmp_path, [[bash(fill)], [bash(fill.replace("fill-", "more-"))]])
        st = os.statvfs(state)
        left_mb = st.f_bavail * st.f_frsize // 2**20
        attacks.check("fill the disk in one command", "may add at most" in run.output(0), run.output(0))
        attacks.check("fill the disk over several commands", "may add at most" in run.output(1)
                      and left_mb >= free_mb // 4, (left_mb, free_mb, run.output(1)))
    finally:
        subprocess.run(["umount", "-l", str(state)], check=True)
