"""What a run's commands may take of the machine (limits.py): memory for the whole run,
the sized scratch filesystems, files and folders on the worktree's disk, processes, and
output."""

import os
import resource
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from battery import PY, run_sandbox
from minion.errors import MinionError
from minion.runs.model import RunRecord, Status
from minion.runs.store import RunStore
from minion.sandbox import memory_cap, process_cap
from support.procs import processes_with

MB = 2**20
# 400 MB, every page touched, held until the process is killed.
HOG = "import signal; b = b'x' * (400 << 20); signal.pause()"
FLOOD = "mkdir {0} && cd {0} && seq 50000 | xargs touch"  # 50,000 empty files
# Forks children that wait for it until a fork fails; says how many it got.
FORK_UNTIL_REFUSED = r"""
import os
r, w = os.pipe()
n = 0
try:
    while True:
        if os.fork() == 0:
            os.close(w)
            os.read(r, 1)  # returns when the parent has ended
            os._exit(0)
        n += 1
except OSError as e:
    print("forked", n, "then:", e.strerror)
"""


def available_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


def store_write() -> str:
    """Create a run record and update it, as a run's end does: "written", or why not."""
    store = RunStore()
    now = time.time()
    record = RunRecord(id=uuid.uuid4().hex[:8], created_at=now, updated_at=now, status=Status.RUNNING,
                       repo="/nowhere", task="after the flood", blueprint="default", model="scripted")
    try:
        store.create(record)
        store.update(record.id, status=Status.OK, summary="recorded after the flood")
        return "written" if store.get(record.id).summary == "recorded after the flood" else "not updated"
    except MinionError as e:
        return f"failed: {e}"


async def test_the_memory_cap_holds_for_the_whole_run(user_repo, tmp_path, attacks):
    """Three processes of 400 MB each under a run cap of 512 MB: each would pass a cap per
    process (RLIMIT_AS), together they are more than the run may use. So is the scratch
    space in memory: /tmp and /dev/shm. The host keeps its memory: it has not lost the 1.2 GB
    the three would hold (with some room for whatever else runs on it)."""
    if memory_cap().kind != "cgroup":
        pytest.skip("no memory cgroup on this host: the cap is per process (RLIMIT_AS)")
    before = available_mb()
    assert before > 3 * 400 + 1024  # positive control: the host has room for all three
    token = f"minion-battery-{uuid.uuid4().hex}"
    sandbox = run_sandbox(user_repo, tmp_path, command_memory_mb=512)
    one = await sandbox.run(f"{PY} -c \"b = b'x' * (400 << 20); print('held', len(b) >> 20, 'MB')\"")
    assert "held 400 MB" in one.output, one.output  # positive control: one of them fits
    three = await sandbox.run(f"for i in 1 2 3; do {PY} -c {shlex.quote(HOG)} {token} & done; "
                              "wait -n; kill $(jobs -p); wait", timeout_s=60)
    scratch = await sandbox.run("head -c 300M /dev/zero > /tmp/fill && head -c 300M /dev/zero > /dev/shm/fill "
                                "&& echo wrote 600 MB", timeout_s=60)
    left, after = processes_with(token), available_mb()
    attacks.check("three processes of 400 MB under a run cap of 512 MB",
                  "out of memory" in three.output and not three.timed_out and not left and after > before - 1024,
                  (three.output, f"{before} MB available before, {after} after", left))
    attacks.check("600 MB in /tmp and /dev/shm under a run cap of 512 MB",
                  "out of memory" in scratch.output and "wrote" not in scratch.output, scratch.output)


async def test_scratch_space_stops_at_its_size(user_repo, tmp_path, attacks):
    sandbox = run_sandbox(user_repo, tmp_path)
    sizes = {str(m.target): m.size_mb for m in sandbox.view().mounts if m.kind == "tmpfs"}
    for target in ("/tmp", "/var/tmp", "/dev/shm", "/run"):
        size = sizes[target]
        # Two files, each under the file size limit (as big as /tmp), together over the size.
        half = size // 2 + 8
        out = (await sandbox.run(f"head -c {half}M /dev/zero > {target}/a && head -c {half}M /dev/zero > {target}/b; "
                                 f"du -cm {target}/a {target}/b", timeout_s=120)).output
        attacks.check(f"write {2 * half} MB to {target} ({size} MB)", "No space left on device" in out, out)


async def test_an_inode_flood_is_killed(user_repo, tmp_path, attacks):
    """50,000 empty files where the run may add 500: killed, in this command and the next;
    the run store beside the worktree still takes the run's end."""
    sandbox = run_sandbox(user_repo, tmp_path)
    sandbox.policy.limits.max_inodes = 500  # before the first command, which makes the budget
    worktree = sandbox.policy.worktree
    first = await sandbox.run(FLOOD.format("flood"))
    made = len(os.listdir(worktree / "flood"))
    written = store_write()
    attacks.check("create 50,000 empty files (500 allowed)", "may add at most 500 files" in first.output
                  and made < 50_000 and written == "written", (made, written, first.output))
    again = await sandbox.run(FLOOD.format("again"))
    made = len(os.listdir(worktree / "again")) if (worktree / "again").exists() else 0
    attacks.check("go on creating files in the next command", "may add at most 500 files" in again.output
                  and made < 50_000, (made, again.output))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs for the state dir")
async def test_an_inode_flood_leaves_the_run_store_room(visible, user_repo, tmp_path, monkeypatch, attacks):
    """The state dir on a disk of 20,000 inodes, which the flood would use up: the run may
    take about half of what is free, so the run store can still record the run's end."""
    state = visible / "small disk"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,nr_inodes=20000", "minion-battery", str(state)],
                   check=True)
    try:
        monkeypatch.setenv("MINION_STATE_DIR", str(state))
        # Positive control: the same flood, unsandboxed, uses up the inodes.
        control = subprocess.run(["bash", "-c", FLOOD.format("control")], cwd=state, capture_output=True, text=True,
                                 check=False)
        assert "No space left on device" in control.stderr
        subprocess.run(["rm", "-rf", str(state / "control")], check=True)
        sandbox = run_sandbox(user_repo, tmp_path)
        out = (await sandbox.run(FLOOD.format("flood"))).output
        free = os.statvfs(state).f_favail
        written = store_write()
        attacks.check("use up the inodes of the state dir's disk", "may add at most" in out and free > 5_000
                      and written == "written", (f"{free} inodes free", written, out))
    finally:
        subprocess.run(["umount", "-l", str(state)], check=True)


async def test_processes_and_output_are_bounded(user_repo, tmp_path, attacks):
    cap = process_cap()
    if cap.kind == "none":
        pytest.skip("no process limit on this host (root without a pids cgroup)")
    token = f"minion-battery-{uuid.uuid4().hex}"
    sandbox = run_sandbox(user_repo, tmp_path)
    limits = sandbox.policy.limits
    forked = await sandbox.run(f"{PY} -c {shlex.quote(FORK_UNTIL_REFUSED)} {token}", timeout_s=30)
    left = processes_with(token)
    host_forks = subprocess.run(["true"], check=False).returncode == 0
    count = int(forked.output.split()[1]) if forked.output.startswith("forked") else None
    attacks.check(f"a fork bomb: fork until refused ({cap.kind} cap of {limits.max_processes} per command)",
                  count is not None and count < limits.max_processes and not forked.timed_out and not left
                  and host_forks, forked.output)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    floods = {
        "200 MB of output without a newline": "head -c 200M /dev/zero | tr '\\0' x",
        "200 MB of output on stderr": "yes 'flood on stderr' | head -c 200M >&2",
    }
    for name, command in floods.items():
        result = await sandbox.run(command, timeout_s=60)
        cut = f"[minion: {200 * MB - limits.output_bytes} bytes cut]"
        growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        attacks.check(name, result.truncated and cut in result.output
                      and len(result.output) < limits.output_bytes + 100 and growth_mb < 64,
                      (len(result.output), growth_mb, result.output[:100], result.output[-100:]))
