"""The sandbox, against real bubblewrap, real git repos and real worktrees.

The user's repo, the state dir and planted secrets live under /var/tmp, not /tmp: the
sandbox has a private /tmp, so anything under /tmp would be hidden for the wrong reason
and the tests would prove nothing.
"""

import asyncio
import hashlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from minion import sandbox as sb
from minion.errors import SandboxUnavailable
from minion.sandbox import limits
from minion.sandbox.limits import _remove_stale_cgroups
from minion.sandbox.process import HeadTail
from minion.sandbox import (
    GIT_MOUNT,
    Limits,
    Sandbox,
    SandboxPolicy,
    build_bwrap_argv,
    cgroup_candidates,
    process_cap,
    sandbox_env,
)
from minion.state import homes_dir, worktrees_dir
from support.gitrepo import make_repo, run_git
from support.procs import processes_with

HAVE_BWRAP = shutil.which("bwrap") is not None
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not installed")


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def visible(monkeypatch) -> Path:
    """A temp dir the sandbox sees through its read-only root; also the state dir."""
    root = Path(tempfile.mkdtemp(prefix="minion-sbx-", dir="/var/tmp")).resolve()
    monkeypatch.setenv("MINION_STATE_DIR", str(root / "state"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def user_repo(visible) -> Path:
    return make_repo(visible / "user repo ü")


def new_policy(repo: Path, run_id: str = "run1", **overrides) -> SandboxPolicy:
    """A run's policy with a real `git worktree add` checkout in the state dir."""
    worktree = worktrees_dir() / run_id
    run_git(repo, "worktree", "add", "-q", "--detach", str(worktree))
    overrides.setdefault("limits", Limits(timeout_s=60))
    return SandboxPolicy(
        repo_path=repo,
        worktree=worktree,
        home=homes_dir() / run_id,
        **overrides,
    )


@pytest.fixture
def policy(user_repo) -> SandboxPolicy:
    return new_policy(user_repo)


async def run(policy: SandboxPolicy, command: str, **kwargs) -> sb.CommandResult:
    return await Sandbox(policy).run(command, **kwargs)


def tree_digest(root: Path) -> str:
    """Hash of every path, mode and content under root (the user's repo, .git included)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        h.update(oct(path.lstat().st_mode).encode())
        if path.is_file() and not path.is_symlink():
            h.update(path.read_bytes())
    return h.hexdigest()


def failed(result: sb.CommandResult) -> bool:
    return result.exit_code != 0 or result.timed_out


# ------------------------------------------------------------------ argv, env, units


def argv_of(policy: SandboxPolicy, command: str = "true", **kwargs) -> list[str]:
    view = Sandbox(policy).view()
    env = sandbox_env(policy, view.env, view.path)
    return build_bwrap_argv(policy, view, command, env=env, data_fds={"git-pointer": 7}, **kwargs)


def test_argv_builder_shows_the_view(policy):
    argv = argv_of(policy, "make test")
    joined = " ".join(argv)
    repo, wt = str(policy.repo_path), str(policy.worktree)
    assert argv[:2] == ["bwrap", "--unshare-user"]
    for flag in ["--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session",
                 "--clearenv", "--disable-userns"]:
        assert flag in argv
    assert "--cap-drop ALL" in joined
    assert "--ro-bind / /" not in joined  # deny by default: no host root
    assert "--ro-bind /usr /usr" in joined and "--proc /proc" in joined and "--dev /dev" in joined
    assert "--remount-ro /" in joined
    for scratch in ["/tmp", "/var/tmp", "/dev/shm", "/run"]:
        size = argv[argv.index(scratch) - 2]
        assert argv[argv.index(scratch) - 3] == "--size" and int(size) > 0 and argv[argv.index(scratch) - 1] == "--tmpfs"
    assert f"--bind {wt} {repo}" in joined
    assert f"--ro-bind {policy.git_store} {GIT_MOUNT}" in joined
    assert f"--ro-bind {policy.repo_path / '.git'} " not in joined  # never the user's .git
    assert f"--ro-bind-data 7 {repo}/.git" in joined
    # A deeper mount comes later, so it wins: the worktree over the scratch space above it.
    assert argv.index(repo) > argv.index("/var/tmp")
    assert argv[argv.index("--chdir") + 1] == repo
    assert argv[-2:] == ["minion-sandbox", "make test"]
    assert argv[-5:-3] == ["/bin/bash", "-c"]  # not -lc: login profiles reset PATH

    policy.network = True
    assert "--unshare-net" not in argv_of(policy)
    assert "--disable-userns" not in argv_of(policy, disable_userns=False)  # bubblewrap < 0.8 lacks it


def test_argv_cwd_inside_and_outside(policy):
    argv = argv_of(policy, cwd=policy.repo_path / "calc")
    assert argv[argv.index("--chdir") + 1] == str(policy.repo_path / "calc")
    argv = argv_of(policy, cwd="calc")
    assert argv[argv.index("--chdir") + 1] == str(policy.repo_path / "calc")
    for outside in [policy.repo_path.parent, policy.repo_path / ".." / "x", Path("/etc"),
                    policy.worktree]:
        with pytest.raises(ValueError, match="outside"):
            argv_of(policy, cwd=outside)


def test_env_allow_list_and_deny_list(policy):
    parent = {
        "PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "PYENV_VERSION": "3.11.7",
        "ANTHROPIC_API_KEY": "sk-leak", "GITHUB_TOKEN": "ghp-leak", "EDITOR": "vim",
        "SSH_AUTH_SOCK": "/run/ssh", "HOME": "/root",
    }
    env = sandbox_env(policy, {"CARGO_HOME": "/opt/cargo"}, "/usr/bin:/opt/cargo/bin", parent)
    assert env["PATH"] == "/usr/bin:/opt/cargo/bin"  # the view's PATH, not the parent's
    assert env["LC_ALL"] == "C" and env["PYENV_VERSION"] == "3.11.7" and env["CARGO_HOME"] == "/opt/cargo"
    assert env["HOME"] == str(policy.home) and env["TMPDIR"] == "/tmp"
    assert env["MINION_SANDBOX"] == "1"
    for name in ["ANTHROPIC_API_KEY", "GITHUB_TOKEN", "EDITOR", "SSH_AUTH_SOCK"]:
        assert name not in env
    # Even when everything is allow-listed, the deny list wins.
    policy.env_allow = ["*"]
    env = sandbox_env(policy, {}, "/usr/bin", {**parent, "aws_secret_access_key": "x", "DB_PASSWORD": "x",
                                               "NPM_TOKEN": "x", "OPENAI_BASE": "x", "GH_HOST": "x"})
    assert "EDITOR" in env
    for name in ["ANTHROPIC_API_KEY", "GITHUB_TOKEN", "aws_secret_access_key",
                 "DB_PASSWORD", "NPM_TOKEN", "OPENAI_BASE", "GH_HOST"]:
        assert name not in env


def test_head_tail_keeps_both_ends_with_marker():
    out = HeadTail(10)
    for chunk in [b"0123", b"456789abcd", b"efghij"]:
        out.feed(chunk)
    assert out.cut == 10
    assert out.text() == "01234\n… [minion: 10 bytes cut] …\nfghij"
    small = HeadTail(10)
    small.feed("é".encode() * 3)  # 6 bytes, split across head and tail, decodes whole
    assert small.cut == 0 and small.text() == "ééé"


def test_pids_cgroup_candidates_v1_and_v2():
    v1 = cgroup_candidates(
        "pids",
        "8:pids:/a/b\n4:memory:/m\n0::/\n",
        "30 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
        "31 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
    )
    assert v1 == [(Path("/sys/fs/cgroup/pids/a/b"), False),
                  (Path("/sys/fs/cgroup/pids/a"), False),
                  (Path("/sys/fs/cgroup/pids"), False)]
    v2 = cgroup_candidates(
        "pids",
        "0::/user.slice/session-1.scope\n",
        "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
    )
    assert [p for p, _ in v2] == [Path("/sys/fs/cgroup/user.slice/session-1.scope"),
                                  Path("/sys/fs/cgroup/user.slice"), Path("/sys/fs/cgroup")]
    assert all(is_v2 for _, is_v2 in v2)


# ---------------------------------------------------------------------- availability


def test_missing_bwrap_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty dir: no bwrap
    with pytest.raises(SandboxUnavailable) as err:
        Sandbox.check_available()
    assert "apt-get install bubblewrap" in str(err.value)
    assert 'sandbox = "none"' in str(err.value)


@pytest.mark.parametrize("stderr, fix", [
    ("bwrap: setting up uid map: Permission denied", "apparmor_restrict_unprivileged_userns=0"),
    ("bwrap: Failed to make / slave: Permission denied", "container"),
    ("bwrap: Unknown option --ro-bind-data", "too old"),
])
def test_broken_host_names_the_fix_and_probe_is_cached(monkeypatch, tmp_path, stderr, fix):
    calls = tmp_path / "calls"
    fake = tmp_path / "bwrap"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = --help ] && exit 0\n"
                    f"echo x >> '{calls}'\necho '{stderr}' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    for _ in range(2):
        with pytest.raises(SandboxUnavailable) as err:
            Sandbox.check_available()
        assert stderr in str(err.value) and fix in str(err.value)
        assert 'sandbox = "none"' in str(err.value)
    assert calls.read_text().count("x") == 1  # probed once per process


@needs_bwrap
def test_real_bwrap_is_available():
    Sandbox.check_available()


# ------------------------------------------------------------------ positive behaviour


@needs_bwrap
async def test_writes_inside_land_in_the_worktree_not_the_users_repo(policy):
    before = tree_digest(policy.repo_path)
    r = await run(policy, textwrap.dedent("""\
        set -e
        echo 'def add(a, b):\n    return a + b' > calc/ops.py
        mkdir -p new && echo hello > new/file.txt
        echo out; echo err >&2; exit 3
    """))
    assert r.exit_code == 3 and "out\n" in r.output and "err\n" in r.output
    assert (policy.worktree / "new/file.txt").read_text() == "hello\n"
    assert "a + b" in (policy.worktree / "calc/ops.py").read_text()
    assert "a - b" in (policy.repo_path / "calc/ops.py").read_text()
    assert tree_digest(policy.repo_path) == before


@needs_bwrap
async def test_cwd_default_and_subdir(policy):
    assert (await run(policy, "pwd")).output == f"{policy.repo_path}\n"
    r = await run(policy, "pwd", cwd=policy.repo_path / "calc")
    assert r.output == f"{policy.repo_path / 'calc'}\n"
    with pytest.raises(ValueError):
        await run(policy, "pwd", cwd=policy.repo_path.parent)


@needs_bwrap
async def test_git_works_read_only_inside(policy):
    (policy.worktree / "calc/ops.py").write_text("def add(a, b):\n    return a + b\n")
    r = await run(policy, "git status --porcelain && git diff && git log --oneline -1 "
                          "&& git rev-parse --git-dir")
    assert r.exit_code == 0, r.output
    assert " M calc/ops.py" in r.output
    assert "+    return a + b" in r.output
    assert "initial" in r.output
    assert r.output.strip().endswith(str(GIT_MOUNT))  # the run's private store, not the user's .git
    # git status must not complain about the read-only index
    r = await run(policy, "git status")
    assert r.exit_code == 0 and "fatal" not in r.output and "error" not in r.output, r.output


@needs_bwrap
async def test_the_repos_git_config_credentials_stay_outside(policy, user_repo):
    secret = "ghp_" + "A" * 36
    subprocess.run(["git", "-C", str(user_repo), "remote", "add", "origin", f"https://me:{secret}@example.com/r.git"],
                   check=True)
    subprocess.run(["git", "-C", str(user_repo), "config", "credential.helper", "store --file /x"], check=True)
    assert secret in (user_repo / ".git" / "config").read_text()  # the control: it is there
    r = await run(policy, f"cat {GIT_MOUNT}/config; git remote -v; git config --list; git status --short")
    assert r.exit_code == 0, r.output
    assert secret not in r.output and "store --file" not in r.output and "example.com" not in r.output
    assert "repositoryformatversion" in r.output  # git still reads what it needs


@needs_bwrap
async def test_pyenv_python_runs(policy):
    if not (Path.home() / ".pyenv").is_dir():
        pytest.skip("no pyenv in the real home")
    r = await run(policy, "python3 -c 'import sys; print(sys.executable)'")
    assert r.exit_code == 0, r.output
    assert str(Path.home() / ".pyenv") in r.output


@needs_bwrap
async def test_users_venv_is_visible_read_only(user_repo):
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(user_repo / ".venv")], check=True)
    policy = new_policy(user_repo)
    before = tree_digest(user_repo / ".venv")
    r = await run(policy, ".venv/bin/python -c 'import sys; print(sys.prefix)'")
    assert r.exit_code == 0 and r.output == f"{user_repo / '.venv'}\n", r.output
    r = await run(policy, "touch .venv/x")
    assert r.exit_code != 0 and "Read-only" in r.output
    assert tree_digest(user_repo / ".venv") == before


# ------------------------------------------------------------------- escape attempts


@needs_bwrap
async def test_writes_outside_the_worktree_fail_or_land_nowhere(policy, visible):
    sibling = visible / "sibling.txt"
    sibling.write_text("original\n")
    etc_probe = Path("/etc/minion-probe")
    home_probe = Path.home() / f"minion-sandbox-probe-{uuid.uuid4().hex}"
    repo_before = tree_digest(policy.repo_path)
    try:
        for target in [etc_probe, home_probe, policy.repo_path / ".git" / "probe", GIT_MOUNT / "probe",
                       policy.worktree / "via-host-path", Path("/new-top-level-file")]:
            r = await run(policy, f"echo pwned > '{target}'")
            assert failed(r), (target, r)
        # Not there at all: the write lands in the sandbox's own scratch space, or fails.
        r = await run(policy, f"cat '{sibling}'; echo pwned > '{sibling}'")
        assert "original" not in r.output
        r = await run(policy, f"mount -o remount,rw / ; touch {etc_probe}")
        assert failed(r), r
        r = await run(policy, "cat /proc/sys/vm/swappiness > /proc/sys/vm/swappiness")
        assert failed(r), r
        assert not etc_probe.exists() and not home_probe.exists()
        assert sibling.read_text() == "original\n"
        assert not (policy.worktree / "via-host-path").exists()
        assert tree_digest(policy.repo_path) == repo_before
    finally:  # if the sandbox is broken, leave no litter on the host
        etc_probe.unlink(missing_ok=True)
        home_probe.unlink(missing_ok=True)


@needs_bwrap
async def test_git_hooks_and_config_are_read_only(policy):
    git_dir = policy.repo_path / ".git"
    before = tree_digest(git_dir)
    wt_gitdir = f"{GIT_MOUNT}/worktrees/run1"
    for cmd in [
        "echo evil > .git/hooks/pre-commit",
        f"echo evil > {GIT_MOUNT}/hooks/pre-commit",
        "echo '[core]' >> .git/config",
        f"echo '[core] hooksPath=/tmp' >> {GIT_MOUNT}/config",
        f"echo x >> {wt_gitdir}/config.worktree",
        "git config core.hooksPath /tmp",
        "git commit --allow-empty -m x",
        "echo 'gitdir: /tmp/x' > .git",
        "rm -f .git",
    ]:
        r = await run(policy, cmd)
        assert failed(r), (cmd, r)
    assert tree_digest(git_dir) == before
    assert (policy.worktree / ".git").read_text().startswith("gitdir: ")


async def _unseen(policy, paths) -> list[Path]:
    """The paths the sandbox can see; only existence comes out, never content."""
    r = await run(policy, "; ".join(f"[ -e '{p}' ] && echo '{p}'" for p in paths) + "; true")
    return [Path(line) for line in r.output.splitlines() if line]


@needs_bwrap
async def test_sandbox_allow_shows_a_folder_read_only(policy, visible):
    shared = visible / "shared"
    shared.mkdir()
    (shared / "readme.txt").write_text("visible\n")
    assert await _unseen(policy, [shared / "readme.txt"]) == []  # not shown unless allowed
    policy.allow = [str(shared), str(visible / "absent")]
    r = await run(policy, f"cat '{shared}/readme.txt'; echo x > '{shared}/new'")
    assert r.output.startswith("visible\n") and failed(r) and not (shared / "new").exists()


@needs_bwrap
async def test_a_fake_real_home_shows_only_its_toolchain(policy, visible, monkeypatch):
    home = visible / "fake-home"
    files = {".ssh/id_rsa": "SECRET\n", ".aws/credentials": "SECRET\n", ".netrc": "SECRET\n",
             ".config/gh/hosts.yml": "SECRET\n", ".bashrc": "export X=1\n", ".local/bin/tool": "#!/bin/sh\n",
             ".cargo/bin/cargo-thing": "#!/bin/sh\necho cargo ok\n", ".cargo/credentials.toml": "SECRET\n"}
    for rel, text in files.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    (home / ".cargo/bin/cargo-thing").chmod(0o755)
    monkeypatch.delenv("CARGO_HOME", raising=False)
    monkeypatch.setenv("PATH", f"{home}/.local/bin:{home}/.cargo/bin:{os.environ['PATH']}")
    policy.real_home = home
    seen = await _unseen(policy, [home / rel for rel in files])
    assert seen == [home / ".cargo/bin/cargo-thing", home / ".cargo/credentials.toml"], seen  # the mask
    r = await run(policy, "cargo-thing; echo $PATH; wc -c < $CARGO_HOME/credentials.toml")
    assert r.output.startswith("cargo ok\n") and f"{home}/.local/bin" not in r.output, r.output
    assert r.output.endswith("0\n"), r.output  # the registry token reads as empty


@needs_bwrap
async def test_state_dir_is_hidden_but_home_is_writable(user_repo):
    other = new_policy(user_repo, "other-run")
    (other.worktree / "other-secret.txt").write_text("x")
    policy = new_policy(user_repo, "run1")
    r = await run(policy, f"ls '{other.worktree}'")
    assert failed(r)
    # Only the mount point of this run's home shows in the hidden state dir.
    r = await run(policy, f"ls -A '{worktrees_dir().parent}'; echo hi > ~/note; cat ~/note")
    assert r.output == "homes\nhi\n", r.output
    assert (policy.home / "note").read_text() == "hi\n"


@needs_bwrap
async def test_no_network_unless_allowed(user_repo):
    async def greet(reader, writer):
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{port} && head -n1 <&3"
    try:
        policy = new_policy(user_repo, "offline")
        r = await run(policy, probe)
        assert failed(r) and "hello" not in r.output, r
        allowed = new_policy(user_repo, "online", network=True)
        r = await run(allowed, probe)
        assert r.exit_code == 0 and r.output == "hello\n", r  # the probe itself works
    finally:
        server.close()


@needs_bwrap
async def test_secrets_in_the_parent_env_do_not_enter(policy, monkeypatch):
    for name in ["ANTHROPIC_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "MY_PASSWORD"]:
        monkeypatch.setenv(name, "leaked-value")
    monkeypatch.setenv("PLAIN_SETTING", "fine")
    policy.env_allow = [*policy.env_allow, "ANTHROPIC_*", "GITHUB_TOKEN", "PLAIN_SETTING"]
    r = await run(policy, "env")
    assert "leaked-value" not in r.output and "ANTHROPIC" not in r.output
    assert "PLAIN_SETTING=fine" in r.output and "MINION_SANDBOX=1" in r.output
    assert f"HOME={policy.home}\n" in r.output and "TMPDIR=/tmp\n" in r.output


# ---------------------------------------------------------------------------- limits


def _cap_or_skip():
    cap = process_cap()
    if cap.kind == "none":
        pytest.skip("no enforceable process limit on this host (root without pids cgroup)")
    return cap


@needs_bwrap
async def test_process_limit_caps_forks(policy):
    _cap_or_skip()
    policy.limits = Limits(timeout_s=30, max_processes=40)
    forker = textwrap.dedent("""\
        import os, time
        n = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(30); os._exit(0)
                n += 1
        except OSError as e:
            print("fork failed:", e.strerror)
        print("started", n)
    """)
    r = await run(policy, f"{sys.executable} -c '{forker}'")
    assert "fork failed: Resource temporarily unavailable" in r.output, r.output
    started = int(r.output.split("started ")[1])
    assert 0 < started < 40
    assert r.duration_s < 10  # its 30 s sleepers died with the sandbox


@needs_bwrap
@pytest.mark.parametrize("bomb", [
    ":(){ :|:& };:",  # classic: the shell returns at once, the pid namespace reaps the rest
    ":(){ :|: ; };:",  # blocking: the shell stays inside the bomb until the timeout
])
async def test_fork_bomb_fails_safely(policy, bomb):
    cap = _cap_or_skip()
    policy.limits = Limits(timeout_s=4, max_processes=64)
    token = f"minion-bomb-{uuid.uuid4().hex}"
    started = time.monotonic()
    r = await run(policy, f"# {token}\n{bomb}\nsleep 5")
    assert failed(r), r
    assert "fork" in r.output and "Resource temporarily unavailable" in r.output, r
    assert time.monotonic() - started < 4 + sb.TERM_GRACE_S + 3
    assert subprocess.run(["true"]).returncode == 0  # the host still forks
    assert not processes_with(token)
    if cap.kind == "cgroup":
        assert not list(cap.cgroup_parent.glob(f"minion-{os.getpid()}-*"))


@needs_bwrap
async def test_memory_and_file_size_limits(policy):
    policy.limits = Limits(timeout_s=30, memory_mb=256, max_file_mb=1)
    r = await run(policy, f"{sys.executable} -c 'x = bytearray(512 * 1024 * 1024)'")
    assert failed(r), r
    if sb.memory_cap().kind == "cgroup":
        assert "out of memory" in r.output and "256 MB together" in r.output, r
    else:
        assert "MemoryError" in r.output, r
    r = await run(policy, "head -c 3000000 /dev/zero > big.bin")
    assert failed(r), r
    assert (policy.worktree / "big.bin").stat().st_size <= 1024 * 1024
    r = await run(policy, "head -c 500000 /dev/zero > ok.bin && echo ok")
    assert r.exit_code == 0 and r.output == "ok\n"


@needs_bwrap
@pytest.mark.skipif(sb.memory_cap().kind != "cgroup", reason="needs a writable memory cgroup")
async def test_the_memory_cap_holds_for_the_whole_run(policy):
    """Per-process limits let three processes of 150 MB through a 256 MB cap; the run's
    cgroup counts them together, and the pages written to the private tmpfs too."""
    policy.limits = Limits(timeout_s=60, memory_mb=256)
    hold = f"{sys.executable} -c 'import time; x = bytearray(150 * 1024 * 1024); x[::4096] = b\"x\" * len(x[::4096]); time.sleep(3)'"
    r = await run(policy, f"for i in 1 2 3; do {hold} & done; wait; echo survived")
    assert "out of memory" in r.output, r
    r = await run(policy, "head -c 200M /dev/zero > /dev/shm/a && head -c 200M /dev/zero > /tmp/b && echo stored")
    assert "stored" not in r.output and "out of memory" in r.output, r
    r = await run(policy, "head -c 100M /dev/zero > /tmp/b && echo fine")  # within the cap: works
    assert r.output == "fine\n", r
    assert not list(sb.memory_cap().cgroup_parent.glob(f"minion-{os.getpid()}-*"))  # removed after each command


@needs_bwrap
async def test_a_run_over_its_disk_budget_may_only_free_space(policy):
    """fallocate takes 200 MB between two polls of the watchdog; from then on a command is
    killed once it takes more than the slack left for other writers, and one that frees
    space runs."""
    policy.limits = Limits(timeout_s=60, max_disk_mb=5)
    sandbox = Sandbox(policy)  # one run: the budget is the run's
    await sandbox.run("fallocate -l 200M burst || head -c 200M /dev/zero > burst")
    assert (policy.worktree / "burst").exists()  # the overshoot a poll can miss
    slack_mb = limits.OVER_BUDGET_SLACK_BYTES // limits.MB
    r = await sandbox.run(f"head -c {2 * slack_mb}M /dev/zero > more; sleep 1; echo done")
    assert "done" not in r.output and "at most 5 MB" in r.output, r
    r = await sandbox.run("rm -f more && echo freed")
    assert r.output == "freed\n", r
    r = await sandbox.run("rm -f burst && echo freed")
    assert r.output == "freed\n", r
    r = await sandbox.run("head -c 1M /dev/zero > small && echo fits")
    assert r.output == "fits\n", r


@needs_bwrap
async def test_scratch_space_is_sized_and_inodes_are_budgeted(policy):
    policy.limits = Limits(timeout_s=60, tmpfs_mb={"/tmp": 8, "/var/tmp": 4, "/dev/shm": 4, "/run": 1},
                           max_inodes=300)
    r = await run(policy, "head -c 20M /dev/zero > /tmp/big")
    assert failed(r) and "No space left" in r.output, r
    r = await run(policy, "mkdir many && cd many && for i in $(seq 1 2000); do : > f$i || exit 1; done; echo made")
    assert "made" not in r.output and "at most 300 files and folders" in r.output, r


@needs_bwrap
async def test_runaway_output_is_cut_and_memory_bounded(policy):
    policy.limits = Limits(timeout_s=2, output_bytes=1000)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = await run(policy, "yes minion")
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert r.timed_out and r.truncated
    assert r.output.startswith("minion\nminion\n") and r.output.endswith("minion\n")
    assert "bytes cut] …" in r.output and len(r.output.encode()) < 1100
    assert rss_growth_mb < 64, rss_growth_mb

    r = await run(policy, "yes minion | head -c 5000000")
    assert r.exit_code == 0 and not r.timed_out and r.truncated
    assert "\n… [minion: 4999000 bytes cut] …\n" in r.output


@needs_bwrap
async def test_timeout_kills_promptly(policy):
    r = await run(policy, "echo started; sleep 1000", timeout_s=1)
    assert r.timed_out and r.exit_code < 0 and r.output == "started\n", r
    assert r.duration_s < 2.5


@needs_bwrap
@pytest.mark.parametrize("mode", ["bwrap", "none"])
async def test_sigterm_ignoring_process_is_killed(policy, mode):
    policy.mode = mode
    r = await run(policy, "trap '' TERM; while :; do sleep 0.1; done", timeout_s=1)
    assert r.timed_out and r.exit_code < 0, r
    assert r.duration_s < 1 + sb.TERM_GRACE_S + 1.5



@needs_bwrap
async def test_background_daemons_do_not_survive(policy):
    token = f"minion-daemon-{uuid.uuid4().hex}"
    r = await run(policy, textwrap.dedent(f"""\
        (sleep 1; echo alive > d-subshell) &
        nohup bash -c 'sleep 1; echo alive > d-nohup' {token} >/dev/null 2>&1 &
        setsid bash -c 'sleep 1; echo alive > d-setsid' {token} </dev/null >/dev/null 2>&1 &
        setsid -f bash -c 'sleep 1; echo alive > d-doublefork' {token} </dev/null >/dev/null 2>&1
        sleep 1000 &
        disown -a
        echo launched
    """))
    assert r.exit_code == 0 and r.output == "launched\n" and r.duration_s < 1, r
    assert not processes_with(token)
    await asyncio.sleep(1.5)
    assert not list(policy.worktree.glob("d-*"))


@needs_bwrap
@pytest.mark.parametrize("mode", ["bwrap", "none"])
async def test_cancelling_run_kills_the_command(policy, mode):
    policy.mode = mode
    token = f"1000.{uuid.uuid4().int % 10**12}"  # a unique argument for sleep itself
    task = asyncio.create_task(run(policy, f"sleep {token}; echo not reached"))
    await asyncio.sleep(0.5)
    assert processes_with(token)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not processes_with(token)


@needs_bwrap
async def test_minion_dying_takes_the_sandbox_with_it(policy):
    script = textwrap.dedent(f"""\
        import asyncio
        from pathlib import Path
        from minion.sandbox import Sandbox, SandboxPolicy
        policy = SandboxPolicy(repo_path=Path({str(policy.repo_path)!r}),
            worktree=Path({str(policy.worktree)!r}),
            home=Path({str(policy.home)!r}))
        asyncio.run(Sandbox(policy).run("touch started; sleep 2; echo alive > survived"))
    """)
    cap = process_cap()  # decided (and stale cgroups swept) before the child starts
    child = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 15
    while not (policy.worktree / "started").exists():
        assert time.monotonic() < deadline and child.poll() is None
        await asyncio.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    await asyncio.sleep(3)
    assert not (policy.worktree / "survived").exists()
    if cap.kind == "cgroup":  # the dead minion could not remove its cgroup: it must be empty
        leftover = cap.cgroup_parent / f"minion-{child.pid}-1"
        # Another minion process may have swept it already; rmdir succeeds only when empty.
        if leftover.exists():
            assert (leftover / "cgroup.procs").read_text() == ""
            _remove_stale_cgroups(cap.cgroup_parent)
        assert not leftover.exists()


# ------------------------------------------------------------------------ mode "none"


async def test_mode_none_runs_in_the_worktree_and_warns(policy, caplog, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "leaked-value")
    policy.mode = "none"
    policy.limits = Limits(timeout_s=30, output_bytes=100)
    with caplog.at_level(logging.WARNING, logger="minion.sandbox"):
        r = await run(policy, "pwd; env; touch made-here")
        r2 = await run(policy, "seq 100000", cwd="calc")
    assert r.exit_code == 0 and r.output.startswith(f"{policy.worktree}\n"), r
    assert "leaked-value" not in r.output
    assert (policy.worktree / "made-here").exists()
    assert not (policy.repo_path / "made-here").exists()
    assert r2.truncated and r2.output.startswith("1\n2\n") and r2.output.endswith("100000\n")
    warnings = [rec for rec in caplog.records if rec.name == "minion.sandbox"
                and rec.levelno == logging.WARNING and "UNSANDBOXED" in rec.getMessage()]
    assert len(warnings) == 2
    r = await run(policy, "sleep 1000", timeout_s=1)
    assert r.timed_out and r.duration_s < 2.5


def test_a_path_folder_in_the_home_is_left_out_and_named(monkeypatch, tmp_path):
    """`~/.local/bin` on PATH would show `~/.local`, keyrings and all. (Private roots such as
    /tmp, where tests keep their fake homes, are refused anyway: switched off here so that
    the home rule alone is tested.)"""
    from minion.sandbox import toolchain

    monkeypatch.setattr(toolchain, "PRIVATE_ROOTS", ())
    home = tmp_path / "home"
    (home / ".local/bin").mkdir(parents=True)
    (home / ".local/share/keyrings").mkdir(parents=True)
    found = toolchain.find_toolchain(parent_env={"PATH": f"{home}/.local/bin:/usr/bin"}, real_home=home,
                                     repo_path=tmp_path / "repo", dependency_dirs=[], default_path="/usr/bin")
    assert not [m for m in found.mounts if m.path == home / ".local" or home / ".local" in m.path.parents]
    assert [f for f in found.left_out if f.path == home / ".local"] and f"{home}/.local/bin" not in found.path


def test_minions_own_python_is_part_of_the_toolchain(monkeypatch, tmp_path, policy):
    """Checks may run minion's interpreter, wherever it lives (a CI clone under /tmp)."""
    prefix = tmp_path / "ci-clone" / ".venv"
    prefix.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(prefix))
    view = Sandbox(policy).view()
    assert view.shows(prefix) and view.shows(Path(sys.base_prefix))
